#!/usr/bin/python3
"""ggml's reference quantizer (ggml_quantize_chunk in libggml-base.so, via ctypes) for
quant/ggml's tests.

  quant_ggml.py golden [LIB]          writes quant/ggml/testdata/golden/: input.f32 (4 rows
                                      of 512), imatrix.f32 (512) and, per type, TYPE.q
                                      (no importance matrix) and TYPE.imatrix.q
  quant_ggml.py bench [LIB]           prints ggml's single-threaded MB/s (float32 input) per
                                      type for 16 rows of 4096, beside
                                      go test -cpu 1 -bench Quantize ./quant/ggml
  quant_ggml.py mix LIBDIR IN.json OUT.json
                                      llama.cpp's per-tensor type choice (llama_quant_compute_types
                                      in libllama, the hook its test-quant-type-selection uses)
                                      for mock models: IN is {"models": [{"desc": {...},
                                      "tensors": [[name, [ne0, ne1, ...], ggml_type], ...]}],
                                      "ftypes": [...]}; OUT is types[model][ftype][tensor]
  quant_ggml.py batch LIB MANIFEST    for each manifest line
                                      "TYPEID NROWS ROWLEN IN.f32 IMATRIX.f32|- OUT", writes OUT

LIB defaults to node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so.
Run with /usr/bin/python3 (numpy) from the repo root.
"""
import ctypes
import os
import sys

import numpy as np

# Under "python3 -c" (as the Go interop test runs it) there is no __file__; batch needs no root.
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(globals().get("__file__", "x/x/x/x")))))
default_lib = os.path.join(root, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")

# ggml_type ids (ggml.h) of the types quant/ggml produces.
TYPES = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
    "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ4_NL": 20,
    "IQ4_XS": 23, "BF16": 30, "TQ1_0": 34, "TQ2_0": 35, "MXFP4": 39,
    "IQ2_XXS": 16, "IQ2_XS": 17, "IQ3_XXS": 18, "IQ1_S": 19, "IQ3_S": 21, "IQ2_S": 22, "IQ1_M": 29,
}
# ggml_quantize_requires_imatrix: ggml aborts on these without an importance matrix.
NEED_IMATRIX = {"IQ2_XXS", "IQ2_XS", "IQ1_S"}


def load(lib):
    g = ctypes.CDLL(lib)
    g.ggml_quantize_chunk.restype = ctypes.c_size_t
    g.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                      ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    g.ggml_row_size.restype = ctypes.c_size_t
    g.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    return g


def quantize(g, type_id, x, nrows, rowlen, imatrix):
    x = np.ascontiguousarray(x, dtype=np.float32)
    assert x.size == nrows * rowlen
    size = g.ggml_row_size(type_id, rowlen) * nrows
    out = np.zeros(size, dtype=np.uint8)
    im = None
    if imatrix is not None:
        imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
        assert imatrix.size == rowlen
        im = imatrix.ctypes.data
    n = g.ggml_quantize_chunk(type_id, x.ctypes.data, out.ctypes.data, 0, nrows, rowlen, im)
    assert n == size, (n, size)
    return out.tobytes()


def golden(lib):
    g = load(lib)
    out = os.path.join(root, "quant/ggml/testdata/golden")
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(20261126)
    rows, n = 4, 512
    x = np.zeros((rows, n), dtype=np.float32)
    x[0] = rng.normal(0, 1, n)
    x[1] = rng.uniform(-0.05, 0.05, n)
    x[1, rng.randint(0, n, 6)] = rng.choice([-4.0, 3.0, 7.5], 6)  # outliers
    x[2, 256:] = rng.normal(0, 1e-6, 256)  # first super-block all zero, then tiny values
    x[3] = rng.laplace(0, 0.02, n) + 0.01  # heavy tails, shifted
    x[3, :8] = [65504.0, -65520.0, 1e-8, -6.1e-5, 0.5, -0.0, 2.0**-24, 3.0]  # fp16 edge cases
    imatrix = rng.uniform(0.01, 2.0, n).astype(np.float32) ** 2
    x.tofile(os.path.join(out, "input.f32"))
    imatrix.tofile(os.path.join(out, "imatrix.f32"))
    for name, tid in TYPES.items():
        if name not in NEED_IMATRIX:
            with open(os.path.join(out, name + ".q"), "wb") as f:
                f.write(quantize(g, tid, x, rows, n, None))
        with open(os.path.join(out, name + ".imatrix.q"), "wb") as f:
            f.write(quantize(g, tid, x, rows, n, imatrix))


class QuantModelDesc(ctypes.Structure):
    _fields_ = [("architecture", ctypes.c_char_p)] + [(f, ctypes.c_uint32) for f in (
        "n_embd", "n_ff", "n_layer", "n_head", "n_head_kv", "n_expert", "n_embd_head_k", "n_embd_head_v")]


class QuantizeParams(ctypes.Structure):
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int), ("output_tensor_type", ctypes.c_int),
                ("token_embedding_type", ctypes.c_int), ("allow_requantize", ctypes.c_bool),
                ("quantize_output_tensor", ctypes.c_bool), ("only_copy", ctypes.c_bool), ("pure", ctypes.c_bool),
                ("keep_split", ctypes.c_bool), ("dry_run", ctypes.c_bool), ("imatrix", ctypes.c_void_p),
                ("kv_overrides", ctypes.c_void_p), ("tt_overrides", ctypes.c_void_p),
                ("prune_layers", ctypes.c_void_p), ("max_buf_size", ctypes.c_size_t)]


class InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def mix(libdir, src, dst):
    import json
    base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    llama = ctypes.CDLL(os.path.join(libdir, "libllama.v0.4.0.so"))
    base.ggml_init.restype = ctypes.c_void_p
    base.ggml_init.argtypes = [InitParams]
    base.ggml_new_tensor.restype = ctypes.c_void_p
    base.ggml_new_tensor.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64)]
    base.ggml_set_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    base.ggml_free.argtypes = [ctypes.c_void_p]
    llama.llama_model_quantize_default_params.restype = QuantizeParams
    from_desc = llama["_Z31llama_quant_model_from_metadataPK22llama_quant_model_desc"]
    from_desc.restype = ctypes.c_void_p
    from_desc.argtypes = [ctypes.POINTER(QuantModelDesc)]
    qinit = llama["_Z16llama_quant_initPK11llama_modelPK27llama_model_quantize_params"]
    qinit.restype = ctypes.c_void_p
    qinit.argtypes = [ctypes.c_void_p, ctypes.POINTER(QuantizeParams)]
    compute = llama["_Z25llama_quant_compute_typesP19quantize_state_impl11llama_ftypePP11ggml_tensorP9ggml_typem"]
    compute.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int), ctypes.c_size_t]
    qfree = llama["_Z16llama_quant_freeP19quantize_state_impl"]
    qfree.argtypes = [ctypes.c_void_p]
    llama.llama_model_free.argtypes = [ctypes.c_void_p]

    with open(src) as f:
        spec = json.load(f)
    result = []
    for m in spec["models"]:
        d = m["desc"]
        desc = QuantModelDesc(d["arch"].encode(), *(d[k] for k in (
            "n_embd", "n_ff", "n_layer", "n_head", "n_head_kv", "n_expert", "n_embd_head_k", "n_embd_head_v")))
        model = from_desc(ctypes.byref(desc))
        params = llama.llama_model_quantize_default_params()
        qs = qinit(model, ctypes.byref(params))
        ctx = base.ggml_init(InitParams(64 << 20, None, True))
        ts = (ctypes.c_void_p * len(m["tensors"]))()
        for i, (name, ne, typ) in enumerate(m["tensors"]):
            arr = (ctypes.c_int64 * len(ne))(*ne)
            ts[i] = base.ggml_new_tensor(ctx, typ, len(ne), arr)
            base.ggml_set_name(ts[i], name.encode())
        per_ftype = []
        for ft in spec["ftypes"]:
            out = (ctypes.c_int * len(ts))()
            compute(qs, ft, ts, out, len(ts))
            per_ftype.append(list(out))
        result.append(per_ftype)
        base.ggml_free(ctx)
        qfree(qs)
        llama.llama_model_free(model)
    with open(dst, "w") as f:
        json.dump(result, f)


def batch(lib, manifest):
    g = load(lib)
    with open(manifest) as f:
        for line in f:
            if not line.strip():
                continue
            tid, nrows, rowlen, src, im, dst = line.split()
            tid, nrows, rowlen = int(tid), int(nrows), int(rowlen)
            x = np.fromfile(src, dtype=np.float32)
            imatrix = None if im == "-" else np.fromfile(im, dtype=np.float32)
            with open(dst, "wb") as o:
                o.write(quantize(g, tid, x, nrows, rowlen, imatrix))


def bench(lib):
    import time
    g = load(lib)
    rng = np.random.RandomState(8)
    nrows, n = 16, 4096
    x = rng.normal(0, 1, (nrows, n)).astype(np.float32)
    imatrix = rng.normal(0, 1, n).astype(np.float32) ** 2
    for name, tid in TYPES.items():
        for im in (None, imatrix):
            if im is None and name in NEED_IMATRIX:
                continue
            quantize(g, tid, x, nrows, n, im)
            reps, t0 = 0, time.perf_counter()
            while reps < 3 or time.perf_counter() - t0 < 0.5:
                quantize(g, tid, x, nrows, n, im)
                reps += 1
            dt = (time.perf_counter() - t0) / reps
            print("%-16s %10.2f MB/s" % (name + ("/imatrix" if im is not None else ""), x.nbytes / dt / 1e6))


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "bench":
        bench(sys.argv[2] if len(sys.argv) > 2 else default_lib)
    elif len(sys.argv) >= 2 and sys.argv[1] == "golden":
        golden(sys.argv[2] if len(sys.argv) > 2 else default_lib)
    elif len(sys.argv) == 5 and sys.argv[1] == "mix":
        mix(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 4 and sys.argv[1] == "batch":
        batch(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
