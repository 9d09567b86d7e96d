#!/usr/bin/python3
"""GGUF quantization benchmark: refit quantize vs llama.cpp's llama_model_quantize, in one run.

Usage: /usr/bin/python3 bench/quantize.py [--layers 4] [--dtypes f16,bf16,f32] [--threads N]
                                          [--types all | Q8_0,Q4_0,Q4_K_M,Q6_K] [--modes verify,no-verify]
                                          [--isa native,avx2] [--dir /tmp/refit-qbench] [--refit BIN]
                                          [--keep] [--markdown] [--llama-once]

Writes a random-weight llama-shaped GGUF per input type (n_embd 2048, n_ff 5632, vocab
16000, --layers blocks; about 470 MiB at F16/BF16 and 940 MiB at F32 with 4 layers), then
for each instruction set, input type and quantization type times
  refit quantize IN OUT --type T                       (default: verification on)
  refit quantize IN OUT --type T --no-verify
  llama_model_quantize(IN, OUT, ftype, nthread)        (libllama via ctypes, testdata/gen/quant_llm.py)
(GOMAXPROCS and nthread = --threads) and prints wall time, CPU time (user+system), peak RSS
(GNU time, Debian package "time"), the ratios against llama.cpp, and whether each Refit
output is byte-identical to llama.cpp's. Refit's default verifies the output (each block
measured against its source as it is produced, the file re-read and CRC-checked); llama.cpp
verifies nothing, so the verify rows compare Refit doing more work. The input is read once
before each timing (page cache). llama.cpp's RSS includes the Python interpreter that drives
it through ctypes (~30 MB). llama.cpp's wall time includes starting Python and loading
libllama and its backends; "llama call s" is the llama_model_quantize call alone, and
"call ratio" compares Refit's whole process with it (the stricter figure).

--isa avx2 emulates an AVX2-only x86 CPU on an AVX-512 one: Refit runs with
GODEBUG=cpu.avx512...=off (golang.org/x/sys/cpu and the Go runtime honour it), and
llama.cpp loads its haswell CPU backend (AVX2, FMA, F16C) instead of the best one for the
machine. llama_model_quantize itself runs in libggml-base (ggml_quantize_chunk, the
float16/bfloat16 row conversions), which node-llama-cpp builds for baseline x86-64 whatever
the backend, so its figures should not depend on --isa; they are measured again anyway.
--types all measures every file type Refit supports; the IQ1/IQ2/IQ3 types get a random
importance matrix (legacy .dat, written next to the model) for both tools, marked "+im".
--markdown also prints the tables in the README's form. --llama-once runs llama.cpp once
per input and type and reuses its figures for the other --isa (its quantizer does not
depend on the backend, see above); on a loaded machine this halves the run.
"""
import argparse, os, struct, subprocess, sys, time
import machine  # bench/machine.py: the CPU line every table starts with

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--dtypes", default="f16,bf16,f32", help="input types, of f16, bf16, f32")
ap.add_argument("--modes", default="verify,no-verify", help="refit runs: verify (the default path), no-verify")
ap.add_argument("--markdown", action="store_true")
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--types", default="Q8_0,Q4_0,Q4_K_M,Q6_K", help="comma-separated llama.cpp file types, or all")
ap.add_argument("--isa", default="native,avx2", help="native (this CPU), avx2 (AVX-512 turned off for both tools)")
ap.add_argument("--dir", default="/tmp/refit-qbench")
ap.add_argument("--refit", default="", help="path to a built refit binary (default: go build)")
ap.add_argument("--keep", action="store_true")
ap.add_argument("--llama-once", action="store_true", help="measure llama.cpp for the first --isa only, reuse it for the others")
a = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
libdir = os.path.join(root, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
helper = os.path.join(root, "testdata", "gen", "quant_llm.py")
os.makedirs(a.dir, exist_ok=True)
refit = a.refit or os.path.join(a.dir, "refit")
if not a.refit:
    subprocess.run(["go", "build", "-o", refit, "./cmd/refit"], cwd=root, check=True, env=dict(os.environ, CGO_ENABLED="0"))

FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
          "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16,
          "Q5_K_M": 17, "Q6_K": 18, "IQ2_XXS": 19, "IQ2_XS": 20, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24,
          "IQ4_NL": 25, "IQ3_S": 26, "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ4_XS": 30, "IQ1_M": 31,
          "BF16": 32, "TQ1_0": 36, "TQ2_0": 37}
ALL_TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M",
             "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "IQ1_S", "IQ1_M", "IQ2_XXS",
             "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M"]
# Refit's AVX-512 paths are selected through golang.org/x/sys/cpu, the standard library's
# (hash/crc32's 512-bit carry-less multiply among them) through the runtime's internal/cpu,
# which calls VPCLMULQDQ "vpclmulqdq" where x/sys/cpu says "avx512vpclmulqdq"; each prints a
# harmless "unknown cpu feature" line for the names only the other knows.
AVX2_GODEBUG = ("cpu.avx512f=off,cpu.avx512bw=off,cpu.avx512vl=off,cpu.avx512dq=off,cpu.avx512vnni=off,"
                "cpu.avx512vpclmulqdq=off,cpu.vpclmulqdq=off")

EMBD, FF, VOCAB, HEADS, KV = 2048, 5632, 16000, 16, 4


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return gguf_str(key) + struct.pack("<I", vtype) + payload


GTYPES = {"f32": 0, "f16": 1, "bf16": 30}  # ggml_type
FILE_TYPES = {"f32": 0, "f16": 1, "bf16": 32}  # llama_ftype


def to_dtype(x, dtype):
    """x (float32) as the bytes of dtype; bfloat16 rounded to nearest even, as ggml does."""
    if dtype == "f32":
        return x.astype(np.float32).tobytes()
    if dtype == "f16":
        return x.astype(np.float16).tobytes()
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype(np.uint16).tobytes()


def write_model(path, dtype):
    """A GGUF v3 file llama.cpp loads: llama metadata, a byte-level vocabulary, random weights."""
    rng = np.random.default_rng(0)
    gtype = GTYPES[dtype]
    esize = 4 if dtype == "f32" else 2
    shapes = [("token_embd.weight", (VOCAB, EMBD))]
    for b in range(a.layers):
        p = f"blk.{b}."
        shapes += [(p + "attn_norm.weight", (EMBD,)), (p + "attn_q.weight", (EMBD, EMBD)),
                   (p + "attn_k.weight", (EMBD * KV // HEADS, EMBD)), (p + "attn_v.weight", (EMBD * KV // HEADS, EMBD)),
                   (p + "attn_output.weight", (EMBD, EMBD)), (p + "ffn_norm.weight", (EMBD,)),
                   (p + "ffn_gate.weight", (FF, EMBD)), (p + "ffn_up.weight", (FF, EMBD)),
                   (p + "ffn_down.weight", (EMBD, FF))]
    shapes += [("output_norm.weight", (EMBD,)), ("output.weight", (VOCAB, EMBD))]
    tokens = [f"t{i}" for i in range(VOCAB)]
    U32, F32, STR, ARR, I32 = 4, 6, 8, 9, 5
    kvs = [kv("general.architecture", STR, gguf_str("llama")),
           kv("general.file_type", U32, struct.pack("<I", FILE_TYPES[dtype])),
           kv("llama.context_length", U32, struct.pack("<I", 4096)),
           kv("llama.embedding_length", U32, struct.pack("<I", EMBD)),
           kv("llama.block_count", U32, struct.pack("<I", a.layers)),
           kv("llama.feed_forward_length", U32, struct.pack("<I", FF)),
           kv("llama.attention.head_count", U32, struct.pack("<I", HEADS)),
           kv("llama.attention.head_count_kv", U32, struct.pack("<I", KV)),
           kv("llama.rope.dimension_count", U32, struct.pack("<I", EMBD // HEADS)),
           kv("llama.attention.layer_norm_rms_epsilon", F32, struct.pack("<f", 1e-5)),
           kv("tokenizer.ggml.model", STR, gguf_str("gpt2")),
           kv("tokenizer.ggml.tokens", ARR, struct.pack("<IQ", STR, VOCAB) + b"".join(gguf_str(t) for t in tokens)),
           kv("tokenizer.ggml.token_type", ARR, struct.pack("<IQ", I32, VOCAB) + struct.pack(f"<{VOCAB}i", *([1] * VOCAB)))]
    infos, offset = [], 0
    for name, shape in shapes:
        t = 0 if len(shape) == 1 else gtype
        nbytes = int(np.prod(shape)) * (4 if t == 0 else esize)
        infos.append(gguf_str(name) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}Q", *reversed(shape))
                     + struct.pack("<IQ", t, offset))
        offset += (nbytes + 31) // 32 * 32
    header = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(kvs)) + b"".join(kvs) + b"".join(infos)
    with open(path, "wb") as f:
        f.write(header + b"\0" * ((-len(header)) % 32))
        for name, shape in shapes:
            x = rng.standard_normal(shape, dtype=np.float32) * 0.02
            b = (1 + x).tobytes() if len(shape) == 1 else to_dtype(x, dtype)
            f.write(b + b"\0" * ((-len(b)) % 32))


def run(cmd, label, env=None):
    """Runs cmd under GNU time; returns (seconds, peak RSS in bytes, user+system CPU seconds)."""
    rss_file = os.path.join(a.dir, "rss.txt")
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", rss_file] + cmd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{label} failed: {p.stderr.decode()[-2000:]}")
    with open(rss_file) as f:
        rss, user, system = f.read().split()[-3:]
        return dt, int(rss) * 1024, float(user) + float(system)


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def same(p, q):
    if os.path.getsize(p) != os.path.getsize(q):
        return False
    with open(p, "rb") as f, open(q, "rb") as g:
        while True:
            x, y = f.read(1 << 24), g.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


def write_imatrix(path):
    """A legacy .dat importance matrix for write_model's weights: positive random values, ncall 1."""
    rng = np.random.default_rng(1)
    cols = {"token_embd.weight": EMBD, "output.weight": EMBD}
    for b in range(a.layers):
        for n in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"):
            cols[f"blk.{b}.{n}.weight"] = EMBD
        cols[f"blk.{b}.ffn_down.weight"] = FF
    body = [struct.pack("<i", len(cols))]
    for name, n in cols.items():
        body.append(struct.pack("<i", len(name)) + name.encode() + struct.pack("<ii", 1, n))
        body.append((rng.exponential(3.0, n).astype(np.float32) + np.float32(0.01)).tobytes())
    with open(path, "wb") as f:
        f.write(b"".join(body))


def needs_imatrix(t):
    return t.startswith(("IQ1", "IQ2", "IQ3"))


modes = [m for m in a.modes.split(",") if m]
for m in modes:
    if m not in ("verify", "no-verify"):
        sys.exit(f"unknown mode {m}")
isas = [i for i in a.isa.split(",") if i]
for i in isas:
    if i not in ("native", "avx2"):
        sys.exit(f"unknown --isa {i}")
types = ALL_TYPES if a.types == "all" else [t for t in a.types.split(",") if t]
for t in types:
    if t not in FTYPES:
        sys.exit(f"unknown type {t}")
imatrix = os.path.join(a.dir, f"imatrix-{a.layers}.dat")
if any(needs_imatrix(t) for t in types):
    write_imatrix(imatrix)


def isa_line(isa):
    if isa == "native":
        return "isa native: refit with every instruction set the CPU has; llama.cpp with its best CPU backend for it"
    return (f"isa avx2 (emulated): refit GODEBUG={AVX2_GODEBUG}; llama.cpp CPU backend libggml-cpu-haswell.so "
            "(llama_model_quantize runs in libggml-base, built for baseline x86-64 either way)")


print(machine.cpu_line())
print(f"threads {a.threads}, {a.layers} layers, machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
header = (f"{'isa':6} {'input':5} {'type':11} {'refit':9} {'refit s':>8} {'llama s':>8} {'speedup':>8} {'call s':>8} {'call':>8} {'refit cpu':>9} "
          f"{'llama cpu':>9} {'cpu ratio':>9} {'refit RSS':>10} {'llama RSS':>10}  identical")
rows = []
llama_runs = {}  # (input, type) -> llama.cpp's wall s, RSS, CPU s, call s (--llama-once)
for isa in isas:
    print(isa_line(isa))
    print(header, flush=True)
    renv = dict(os.environ, GOMAXPROCS=str(a.threads))
    lenv = dict(os.environ)
    if isa == "avx2":
        renv["GODEBUG"] = ",".join(x for x in (os.environ.get("GODEBUG", ""), AVX2_GODEBUG) if x)
        lenv["QUANT_LLM_CPU_BACKEND"] = "haswell"
    for dtype in a.dtypes.split(","):
        src = os.path.join(a.dir, f"model-{dtype}-{a.layers}.gguf")
        if not os.path.exists(src):
            write_model(src + ".tmp", dtype)
            os.rename(src + ".tmp", src)
        size = os.path.getsize(src)
        print(f"input {src}: {size / 2**20:.0f} MiB {dtype.upper()}", flush=True)
        for t in types:
            im = needs_imatrix(t)
            label = t + ("+im" if im else "")
            out_l = os.path.join(a.dir, f"llama-{dtype}-{t}.gguf")
            results = []
            for m in modes:
                warm(src)
                out_r = os.path.join(a.dir, f"refit-{t}-{m}.gguf")
                flags = (["--no-verify"] if m == "no-verify" else []) + (["--imatrix", imatrix] if im else [])
                results.append((m, out_r) + run([refit, "quantize", src, out_r, "--type", t, "--force"] + flags, "refit", renv))
            key = (dtype, t)
            if a.llama_once and key in llama_runs:
                tl, ml, cl, tc = llama_runs[key]
            else:
                warm(src)
                timing = os.path.join(a.dir, "llama-call.txt")
                tl, ml, cl = run(["/usr/bin/python3", helper, "quantize", libdir, src, out_l, str(FTYPES[t]), str(a.threads)]
                                 + ([imatrix] if im else []), "llama.cpp", dict(lenv, QUANT_LLM_TIMING=timing))
                with open(timing) as f:
                    tc = float(f.read())
                llama_runs[key] = (tl, ml, cl, tc)
            for m, out_r, tr, mr, cr in results:
                ident = same(out_r, out_l)
                rows.append((isa, dtype.upper(), label, m, tr, tl, tc, cr, cl, mr, ml, ident))
                print(f"{isa:6} {dtype.upper():5} {label:11} {m:9} {tr:8.2f} {tl:8.2f} {tl / tr:7.2f}x {tc:8.2f} {tc / tr:7.2f}x {cr:9.2f} {cl:9.2f} "
                      f"{cl / max(cr, 1e-9):8.2f}x {mr / 2**20:8.0f}MB {ml / 2**20:8.0f}MB  {'yes' if ident else 'NO'}", flush=True)
                if not a.keep:
                    os.remove(out_r)
            if not a.keep and not a.llama_once:
                os.remove(out_l)
if a.llama_once and not a.keep:
    for dtype, t in llama_runs:
        os.remove(os.path.join(a.dir, f"llama-{dtype}-{t}.gguf"))
print(f"load average {os.getloadavg()[0]:.2f} at the end")
if len(isas) > 1:
    # Per mode, the lowest ratio of each ISA: the figure the goals are stated in.
    for m in modes:
        for isa in isas:
            sel = [r for r in rows if r[0] == isa and r[3] == m]
            if sel:
                w = min(sel, key=lambda r: r[6] / r[4])
                c = min(sel, key=lambda r: r[8] / max(r[7], 1e-9))
                print(f"{isa:6} {m:9}: lowest call ratio {w[6] / w[4]:.2f}x ({w[1]} {w[2]}), lowest CPU ratio "
                      f"{c[8] / max(c[7], 1e-9):.2f}x ({c[1]} {c[2]}), peak RSS at most {max(r[9] for r in sel) / 2**20:.0f} MB")
if a.markdown:
    for isa in isas:
        print()
        print(isa_line(isa))
        print()
        print("| input | type | refit | refit s | llama.cpp s | speed-up | llama call s | call ratio | refit CPU s | llama.cpp CPU s | CPU ratio | refit peak RSS | llama.cpp peak RSS | identical bytes |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for i, dtype, t, m, tr, tl, tc, cr, cl, mr, ml, ident in rows:
            if i == isa:
                print(f"| {dtype} | {t} | {m} | {tr:.2f} | {tl:.2f} | {tl / tr:.2f}x | {tc:.2f} | {tc / tr:.2f}x | {cr:.2f} | {cl:.2f} | {cl / max(cr, 1e-9):.2f}x | "
                      f"{mr / 2**20:.0f} MB | {ml / 2**20:.0f} MB | {'yes' if ident else 'NO'} |")
