#!/usr/bin/python3
"""Logits from llama.cpp (libllama through ctypes) for refit eval's agreement test.

  llama_logits.py LIBDIR GGUF REQUEST.json OUT.f32

REQUEST: {"text": "...", "chunks": [[ids], ...], "first": N}. Each chunk runs in a
fresh context as one batch; the logits of positions N .. len-1 of every chunk are
appended to OUT.f32 (little-endian float32, n_vocab per position). Prints JSON:
{"n_vocab", "add_bos", "tokens" (the text tokenized with special tokens added, as
llama.cpp's perplexity tool does), "exact_kv"}.

The KV cache is set to F32 and flash attention off when llama_context_params has the
layout this script knows (checked against its defaults), so the comparison measures
the forward pass, not the cache's float16 rounding.
"""
import ctypes, glob, json, os, struct, sys


class Batch(ctypes.Structure):
    _fields_ = [("n_tokens", ctypes.c_int32), ("token", ctypes.c_void_p), ("embd", ctypes.c_void_p),
                ("pos", ctypes.c_void_p), ("n_seq_id", ctypes.c_void_p), ("seq_id", ctypes.c_void_p),
                ("logits", ctypes.c_void_p)]


class Params(ctypes.Structure):
    # llama_model_params / llama_context_params by value: larger than either.
    _fields_ = [("b", ctypes.c_uint8 * 1024)]


def main(libdir, path, req_path, out_path):
    lib = [p for p in sorted(glob.glob(os.path.join(libdir, "libllama*.so"))) if "common" not in p][0]
    ggml = ctypes.CDLL(sorted(glob.glob(os.path.join(libdir, "libggml.*so")))[0], mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(libdir.encode())
    L = ctypes.CDLL(lib)
    L.llama_backend_init()
    L.llama_model_default_params.restype = Params
    L.llama_context_default_params.restype = Params
    L.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Params]
    L.llama_model_load_from_file.restype = ctypes.c_void_p
    L.llama_init_from_model.argtypes = [ctypes.c_void_p, Params]
    L.llama_init_from_model.restype = ctypes.c_void_p
    L.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
    L.llama_model_get_vocab.restype = ctypes.c_void_p
    L.llama_vocab_n_tokens.argtypes = [ctypes.c_void_p]
    L.llama_vocab_get_add_bos.argtypes = [ctypes.c_void_p]
    L.llama_vocab_get_add_bos.restype = ctypes.c_bool
    L.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                 ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    L.llama_decode.argtypes = [ctypes.c_void_p, Batch]
    L.llama_get_logits_ith.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    L.llama_get_logits_ith.restype = ctypes.POINTER(ctypes.c_float)
    L.llama_free.argtypes = [ctypes.c_void_p]
    L.llama_model_free.argtypes = [ctypes.c_void_p]

    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    if not model:
        raise SystemExit("llama.cpp could not load " + path)
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    req = json.load(open(req_path, encoding="utf-8"))
    b = req["text"].encode("utf-8")
    buf = (ctypes.c_int32 * (len(b) + 8))()
    n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), True, False)
    if n < 0:
        raise SystemExit("llama_tokenize failed")
    out = {"n_vocab": n_vocab, "add_bos": bool(L.llama_vocab_get_add_bos(vocab)), "tokens": list(buf[:n]), "exact_kv": False}
    first = req["first"]
    with open(out_path, "wb") as f:
        for ids in req["chunks"]:
            T = len(ids)
            cp = L.llama_context_default_params()
            raw = bytes(cp.b)
            # llama.h of this release: n_ctx at 0, n_batch 4, n_ubatch 8, n_threads 28,
            # flash_attn_type 52, type_k/type_v 104/108 (F16 = 1 by default).
            n_batch, fa, tk, tv = struct.unpack_from("<I", raw, 4)[0], struct.unpack_from("<i", raw, 52)[0], \
                struct.unpack_from("<I", raw, 104)[0], struct.unpack_from("<I", raw, 108)[0]
            if n_batch == 2048 and fa == -1 and tk == 1 and tv == 1:
                struct.pack_into("<i", cp.b, 52, 0)
                struct.pack_into("<II", cp.b, 104, 0, 0)
                struct.pack_into("<ii", cp.b, 28, 1, 1)
                out["exact_kv"] = True
            struct.pack_into("<I", cp.b, 0, max(T, 256))
            struct.pack_into("<II", cp.b, 4, max(T, 512), max(T, 512))
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
            rc = L.llama_decode(ctx, batch)
            if rc != 0:
                raise SystemExit("llama_decode returned %d" % rc)
            for i in range(first, T):
                p = L.llama_get_logits_ith(ctx, i)
                f.write(ctypes.string_at(p, 4 * n_vocab))
            L.llama_free(ctx)
    L.llama_model_free(model)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
