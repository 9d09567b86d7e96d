#!/usr/bin/python3
"""Tokenizes strings with llama.cpp itself (node-llama-cpp's libllama, through ctypes).

    llama_tokenize.py LIBDIR REQUEST.json

REQUEST is {"models": [gguf paths], "strings": [...]}. Each model is loaded
vocab-only; every string is tokenized four ways (add_special x parse_special) and
detokenized. Prints JSON {path: {"tokens": [[ids for (False,False), (True,False),
(False,True), (True,True)] per string], "text": [detokenized ids of (False,False)]}}.
"""
import ctypes, glob, json, os, struct, sys


class Blob(ctypes.Structure):
    # llama_model_params passed by value; larger than it, extra bytes are ignored.
    _fields_ = [("b", ctypes.c_uint8 * 1024)]


VOCAB_ONLY = 72  # offsetof(llama_model_params, vocab_only) in llama.h of this release


def main(libdir, request):
    libllama = [p for p in sorted(glob.glob(os.path.join(libdir, "libllama*.so"))) if "common" not in p][0]
    libggml = sorted(glob.glob(os.path.join(libdir, "libggml.*so")))[0]
    ggml = ctypes.CDLL(libggml, mode=ctypes.RTLD_GLOBAL)
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(libdir.encode())
    L = ctypes.CDLL(libllama)
    L.llama_log_set.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    LOG = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    quiet = LOG(lambda level, text, data: None)
    L.llama_log_set(quiet, None)
    L.llama_backend_init()
    L.llama_model_default_params.restype = Blob
    L.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Blob]
    L.llama_model_load_from_file.restype = ctypes.c_void_p
    L.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
    L.llama_model_get_vocab.restype = ctypes.c_void_p
    L.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.POINTER(ctypes.c_int32),
                                 ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    L.llama_detokenize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.c_char_p,
                                   ctypes.c_int32, ctypes.c_bool, ctypes.c_bool]
    L.llama_model_free.argtypes = [ctypes.c_void_p]
    req = json.load(open(request))
    out = {}
    for path in req["models"]:
        params = L.llama_model_default_params()
        # defaults: vocab_only, check_tensors false; use_extra_bufts true
        if bytes(params.b[VOCAB_ONLY:VOCAB_ONLY + 3]) != b"\x00\x00\x01":
            raise SystemExit("llama_model_params layout differs from llama.h (vocab_only at %d)" % VOCAB_ONLY)
        params.b[VOCAB_ONLY] = 1
        model = L.llama_model_load_from_file(path.encode(), params)
        if not model:
            out[path] = {"error": "llama.cpp could not load it"}
            continue
        vocab = L.llama_model_get_vocab(model)

        def tokenize(b, add_special, parse_special):
            buf = (ctypes.c_int32 * (len(b) + 16))()
            n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), add_special, parse_special)
            if n < 0:
                buf = (ctypes.c_int32 * (-n))()
                n = L.llama_tokenize(vocab, b, len(b), buf, len(buf), add_special, parse_special)
            return list(buf[:n])

        def detokenize(ids):
            arr = (ctypes.c_int32 * max(1, len(ids)))(*ids)
            cap = 64 + 32 * len(ids)
            buf = ctypes.create_string_buffer(cap)
            n = L.llama_detokenize(vocab, arr, len(ids), buf, cap, False, False)
            return buf.raw[:max(n, 0)].decode("utf-8", "replace")

        toks, texts = [], []
        for s in req["strings"]:
            b = s.encode("utf-8")
            four = [tokenize(b, a, p) for p in (False, True) for a in (False, True)]
            toks.append(four)
            texts.append(detokenize(four[0]))
        out[path] = {"tokens": toks, "text": texts}
        L.llama_model_free(model)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
