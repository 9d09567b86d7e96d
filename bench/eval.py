#!/usr/bin/python3
"""LLM prefill benchmark: refit eval vs llama.cpp (libllama) on the same chunks, in one run.

Usage: /usr/bin/python3 bench/eval.py [--layers 4] [--types Q8_0,Q4_K_M] [--threads N]
                                      [--ctx 512] [--chunks 2] [--dir /tmp/refit-evalbench]
                                      [--refit BIN] [--llama-cpu haswell] [--markdown]

Builds a random-weight llama model as a Hugging Face folder (n_embd 2048, n_ff 5632, 16
heads, 4 KV heads, --layers blocks: about 180M parameters with 4; the byte-level BPE
tokenizer of testdata/gen/llm.py trained on testdata/llm/train.txt, so both programs
tokenize testdata/llm/eval.txt the same way), quantizes it with `refit quantize --type T`
for each type, then runs on the first --chunks chunks of --ctx tokens of eval.txt
  refit eval MODEL --text eval.txt --ctx C --chunks K          (GOMAXPROCS = --threads)
  llama.cpp: each chunk one llama_decode in a fresh context    (n_threads = --threads,
      logits of the second half requested, as llama-perplexity; this script's "llama" mode)
and prints prefill tokens/s (C*K / seconds), CPU time (user+system; llama.cpp's
of the llama_decode calls, all threads), peak RSS (GNU time,
Debian package "time") and the ratios. Refit's time is its whole process (loading,
tokenizing, scoring); llama.cpp's is the llama_decode calls alone, so the ratio is the
stricter one. llama.cpp's RSS includes the Python interpreter that drives it (~30 MB).
"weights" is the GGUF file size, against which the peak RSS bound (weights + 256 MiB)
is checked.

llama.cpp picks its CPU backend at run time (on an AVX-512 VNNI machine the zen4 or
sapphirerapids one); --llama-cpu haswell loads only libggml-cpu-haswell.so (AVX2), the
instruction set Refit's kernels use, for a second comparison.

The vocabulary is small (~960 tokens), so the output projection is a small share; the
weights are random, so the perplexity printed is meaningless and only the speed counts.
"""
import argparse, ctypes, glob, json, os, shutil, struct, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIBDIR = os.path.join(ROOT, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
EMBD, FF, HEADS, KV = 2048, 5632, 16, 4


class Batch(ctypes.Structure):
    _fields_ = [("n_tokens", ctypes.c_int32), ("token", ctypes.c_void_p), ("embd", ctypes.c_void_p),
                ("pos", ctypes.c_void_p), ("n_seq_id", ctypes.c_void_p), ("seq_id", ctypes.c_void_p),
                ("logits", ctypes.c_void_p)]


class Params(ctypes.Structure):
    _fields_ = [("b", ctypes.c_uint8 * 1024)]


def llama_mode(path, text_path, ctx_len, chunks, threads, cpu, out_json):
    """Runs llama.cpp's perplexity-tool prefill: prints seconds spent in llama_decode."""
    ggml = ctypes.CDLL(sorted(glob.glob(os.path.join(LIBDIR, "libggml.*so")))[0], mode=ctypes.RTLD_GLOBAL)
    if cpu:
        ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load.restype = ctypes.c_void_p
        if not ggml.ggml_backend_load(os.path.join(LIBDIR, f"libggml-cpu-{cpu}.so").encode()):
            raise SystemExit(f"could not load libggml-cpu-{cpu}.so")
    else:
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load_all_from_path(LIBDIR.encode())
    L = ctypes.CDLL([p for p in sorted(glob.glob(os.path.join(LIBDIR, "libllama*.so"))) if "common" not in p][0])
    L.llama_backend_init()
    L.llama_model_default_params.restype = Params
    L.llama_context_default_params.restype = Params
    L.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Params]
    L.llama_model_load_from_file.restype = ctypes.c_void_p
    L.llama_init_from_model.argtypes = [ctypes.c_void_p, Params]
    L.llama_init_from_model.restype = ctypes.c_void_p
    L.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
    L.llama_model_get_vocab.restype = ctypes.c_void_p
    L.llama_vocab_bos.argtypes = [ctypes.c_void_p]
    L.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                 ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    L.llama_decode.argtypes = [ctypes.c_void_p, Batch]
    L.llama_free.argtypes = [ctypes.c_void_p]
    L.llama_model_free.argtypes = [ctypes.c_void_p]
    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    if not model:
        raise SystemExit("llama.cpp could not load " + path)
    vocab = L.llama_model_get_vocab(model)
    b = open(text_path, "rb").read()
    buf = (ctypes.c_int32 * (len(b) + 8))()
    n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), True, False)
    if n < ctx_len * chunks:
        raise SystemExit(f"{text_path}: {n} tokens, fewer than {chunks} chunks of {ctx_len}")
    bos = L.llama_vocab_bos(vocab)
    spent = cpu = 0.0
    T, first = ctx_len, ctx_len // 2
    for c in range(chunks):
        ids = list(buf[c * T:(c + 1) * T])
        ids[0] = bos
        cp = L.llama_context_default_params()
        # llama.h of this release: n_ctx at 0, n_batch 4, n_ubatch 8, n_threads 28 (and batch threads 32).
        struct.pack_into("<I", cp.b, 0, T)
        struct.pack_into("<II", cp.b, 4, T, T)
        struct.pack_into("<ii", cp.b, 28, threads, threads)
        ctx = L.llama_init_from_model(model, cp)
        if not ctx:
            raise SystemExit("llama_init_from_model failed")
        tok = (ctypes.c_int32 * T)(*ids)
        pos = (ctypes.c_int32 * T)(*range(T))
        nseq = (ctypes.c_int32 * T)(*([1] * T))
        seq0 = (ctypes.c_int32 * 1)(0)
        seqs = (ctypes.c_void_p * T)(*([ctypes.addressof(seq0)] * T))
        want = (ctypes.c_int8 * T)(*[1 if i >= first else 0 for i in range(T)])
        batch = Batch(T, ctypes.addressof(tok), None, ctypes.addressof(pos), ctypes.addressof(nseq),
                      ctypes.addressof(seqs), ctypes.addressof(want))
        t0, c0 = time.perf_counter(), time.process_time()
        rc = L.llama_decode(ctx, batch)
        spent += time.perf_counter() - t0
        cpu += time.process_time() - c0
        if rc != 0:
            raise SystemExit("llama_decode returned %d" % rc)
        L.llama_free(ctx)
    L.llama_model_free(model)
    with open(out_json, "w") as f:
        json.dump({"decode_seconds": spent, "decode_cpu_seconds": cpu}, f)


def make_model(hf, layers):
    """A random-weight llama Hugging Face folder with a byte-level BPE tokenizer."""
    import torch
    sys.path.insert(0, os.path.join(ROOT, "testdata", "gen"))
    import llm
    llm.torch = torch
    llm.CORPUS = open(os.path.join(ROOT, "testdata", "llm", "train.txt"), encoding="utf-8").read()
    vocab, merges = llm.train_bpe(700)
    os.makedirs(hf, exist_ok=True)
    V = llm.tokenizer_files(hf, vocab, merges, True)
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g) * 0.02
    HD, W = EMBD // HEADS, {}
    W["model.embed_tokens.weight"], W["lm_head.weight"], W["model.norm.weight"] = r(V, EMBD), r(V, EMBD), torch.ones(EMBD)
    for i in range(layers):
        p = f"model.layers.{i}."
        W[p + "input_layernorm.weight"] = torch.ones(EMBD)
        W[p + "post_attention_layernorm.weight"] = torch.ones(EMBD)
        W[p + "self_attn.q_proj.weight"] = r(EMBD, EMBD)
        W[p + "self_attn.k_proj.weight"] = r(KV * HD, EMBD)
        W[p + "self_attn.v_proj.weight"] = r(KV * HD, EMBD)
        W[p + "self_attn.o_proj.weight"] = r(EMBD, EMBD)
        W[p + "mlp.gate_proj.weight"] = r(FF, EMBD)
        W[p + "mlp.up_proj.weight"] = r(FF, EMBD)
        W[p + "mlp.down_proj.weight"] = r(EMBD, FF)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": EMBD, "num_hidden_layers": layers,
           "num_attention_heads": HEADS, "num_key_value_heads": KV, "intermediate_size": FF,
           "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": V,
           "bos_token_id": V - 2, "eos_token_id": V - 1, "tie_word_embeddings": False, "hidden_act": "silu"}
    with open(os.path.join(hf, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    llm.write_safetensors(os.path.join(hf, "model.safetensors"), W)


def timed(cmd, rss_file, env=None):
    """Runs cmd under GNU time; returns (seconds, peak RSS bytes, user+system CPU seconds)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + cmd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr.decode()[-2000:]}")
    with open(rss_file) as f:
        rss, user, system = f.read().split()[-3:]
    return dt, int(rss) * 1024, float(user) + float(system)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--types", default="Q8_0,Q4_K_M")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=2)
    ap.add_argument("--dir", default="/tmp/refit-evalbench")
    ap.add_argument("--refit", default="", help="path to a built refit binary (default: go build)")
    ap.add_argument("--llama-cpu", default="", help="load only this ggml CPU backend (haswell: AVX2)")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, HERE)
    import machine

    os.makedirs(a.dir, exist_ok=True)
    refit = a.refit or os.path.join(a.dir, "refit")
    if not a.refit:
        subprocess.run(["go", "build", "-o", refit, "./cmd/refit"], cwd=ROOT, check=True, env=dict(os.environ, CGO_ENABLED="0"))
    hf = os.path.join(a.dir, f"hf-{a.layers}")
    if not os.path.exists(os.path.join(hf, "config.json")):
        tmp = hf + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        make_model(tmp, a.layers)
        os.rename(tmp, hf)
    text = os.path.join(ROOT, "testdata", "llm", "eval.txt")
    rss_file = os.path.join(a.dir, "rss.txt")
    env = dict(os.environ, GOMAXPROCS=str(a.threads))
    ntok = a.ctx * a.chunks
    print(machine.cpu_line())
    print(f"threads {a.threads}, {a.layers} layers, ctx {a.ctx} x {a.chunks} chunks ({ntok} tokens), "
          f"llama.cpp backend {a.llama_cpu or 'best'}, load average {os.getloadavg()[0]:.2f} at the start")
    head = f"{'type':7} {'weights':>8} {'refit tok/s':>11} {'llama tok/s':>11} {'ratio':>6} {'refit cpu s':>11} {'llama cpu s':>11} {'cpu ratio':>9} {'refit RSS':>9} {'llama RSS':>9}  RSS bound"
    print(head, flush=True)
    rows = []
    for t in a.types.split(","):
        path = os.path.join(a.dir, f"model-{a.layers}-{t}.gguf")
        if not os.path.exists(path):
            subprocess.run([refit, "quantize", hf, path + ".tmp.gguf", "--type", t, "--force", "--no-verify"],
                           check=True, stdout=subprocess.DEVNULL, env=env)
            os.rename(path + ".tmp.gguf", path)
        size = os.path.getsize(path)
        with open(path, "rb") as f:  # page cache
            while f.read(1 << 24):
                pass
        tr, mr, cr = timed([refit, "eval", path, "--text", text, "--ctx", str(a.ctx), "--chunks", str(a.chunks),
                            "--threads", str(a.threads)], rss_file, env)
        out = os.path.join(a.dir, "llama.json")
        tl, ml, cl = timed(["/usr/bin/python3", os.path.abspath(__file__), "llama", path, text, str(a.ctx), str(a.chunks),
                            str(a.threads), a.llama_cpu, out], rss_file)
        with open(out) as f:
            r = json.load(f)
        td, cl_dec = r["decode_seconds"], r["decode_cpu_seconds"]
        ok = mr <= size + (256 << 20)
        rows.append((t, size, ntok / tr, ntok / td, cr, cl_dec, mr, ml, ok))
        print(f"{t:7} {size / 2**20:6.0f}MB {ntok / tr:11.1f} {ntok / td:11.1f} {td / tr:6.2f} {cr:11.2f} {cl_dec:11.2f} {cl_dec / cr:9.2f} "
              f"{mr / 2**20:7.0f}MB {ml / 2**20:7.0f}MB  {'ok' if ok else 'EXCEEDED'}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    if a.markdown:
        print()
        print("| type | weights | refit tokens/s | llama.cpp tokens/s | ratio | CPU-time ratio | refit peak RSS |")
        print("|---|---|---|---|---|---|---|")
        for t, size, rt, lt, cr, cl, mr, ml, ok in rows:
            print(f"| {t} | {size / 2**20:.0f} MiB | {rt:.1f} | {lt:.1f} | {rt / lt:.2f} | {cl / cr:.2f} | {mr / 2**20:.0f} MiB |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "llama":
        if len(sys.argv) != 9:
            raise SystemExit("eval.py llama GGUF TEXT CTX CHUNKS THREADS CPU OUT.json")
        p = sys.argv[2:]
        llama_mode(p[0], p[1], int(p[2]), int(p[3]), int(p[4]), p[5], p[6])
    else:
        main()
