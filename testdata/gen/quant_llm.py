#!/usr/bin/python3
"""llama.cpp's quantizer and loader through ctypes, for Refit's GGUF quantization tests
and bench/quantize.py.

  quant_llm.py quantize LIBDIR IN OUT FTYPE NTHREAD [IMATRIX.dat] [REGEX=GGMLTYPE ...]
      llama_model_quantize(IN, OUT) with ftype FTYPE (llama_ftype number); an imatrix
      in the legacy .dat layout is normalized as llama-quantize does (sums / ncall);
      REGEX=GGMLTYPE are --tensor-type overrides (ggml_type numbers); --allow-requantize
      sets allow_requantize (e.g. gpt-oss's MXFP4 experts to another type)
  quant_llm.py load LIBDIR GGUF
      llama_model_load_from_file and gguf_init_from_file with full allocation; prints
      JSON {"n_params": ..., "n_tensors": ...}

QUANT_LLM_CPU_BACKEND=NAME loads only libggml-cpu-NAME.so from LIBDIR (e.g. haswell, the
AVX2 build) instead of the best CPU backend for this machine, for bench/quantize.py --isa.
"""
import ctypes, glob, json, os, struct, sys, time


class Blob(ctypes.Structure):
    _fields_ = [("b", ctypes.c_uint8 * 1024)]


class QuantParams(ctypes.Structure):  # llama_model_quantize_params (include/llama.h)
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int), ("output_tensor_type", ctypes.c_int),
                ("token_embedding_type", ctypes.c_int), ("allow_requantize", ctypes.c_bool),
                ("quantize_output_tensor", ctypes.c_bool), ("only_copy", ctypes.c_bool), ("pure", ctypes.c_bool),
                ("keep_split", ctypes.c_bool), ("dry_run", ctypes.c_bool), ("imatrix", ctypes.c_void_p),
                ("kv_overrides", ctypes.c_void_p), ("tt_overrides", ctypes.c_void_p),
                ("prune_layers", ctypes.c_void_p), ("max_buf_size", ctypes.c_size_t)]


class ImatrixData(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.POINTER(ctypes.c_float)), ("size", ctypes.c_size_t)]


class TensorOverride(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("type", ctypes.c_int)]


def libs(libdir):
    libllama = [p for p in sorted(glob.glob(os.path.join(libdir, "libllama*.so"))) if "common" not in p][0]
    libggml = sorted(glob.glob(os.path.join(libdir, "libggml.*so")))[0]
    ggml = ctypes.CDLL(libggml, mode=ctypes.RTLD_GLOBAL)
    cpu = os.environ.get("QUANT_LLM_CPU_BACKEND")
    if cpu:
        ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load.restype = ctypes.c_void_p
        if not ggml.ggml_backend_load(os.path.join(libdir, f"libggml-cpu-{cpu}.so").encode()):
            raise SystemExit(f"cannot load the {cpu} CPU backend from {libdir}")
    else:
        ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
        ggml.ggml_backend_load_all_from_path(libdir.encode())
    base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    L = ctypes.CDLL(libllama)
    L.llama_backend_init()
    return L, base


def read_imatrix_dat(path):
    b = open(path, "rb").read()
    (n,), off = struct.unpack_from("<i", b, 0), 4
    out = {}
    for _ in range(n):
        (l,) = struct.unpack_from("<i", b, off); off += 4
        name = b[off:off + l].split(b"\0")[0].decode(); off += l
        ncall, nval = struct.unpack_from("<ii", b, off); off += 8
        vals = (ctypes.c_float * nval).from_buffer_copy(b[off:off + 4 * nval]); off += 4 * nval
        if ncall > 0:
            for i in range(nval):  # float32 division, as C's float / int64
                vals[i] = ctypes.c_float(vals[i] / ctypes.c_float(ncall).value).value
        out[name] = vals
    return out


def quantize(libdir, inp, out, ftype, nthread, rest):
    L, _ = libs(libdir)
    L.llama_model_quantize_default_params.restype = QuantParams
    L.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(QuantParams)]
    L.llama_model_quantize.restype = ctypes.c_uint32
    p = L.llama_model_quantize_default_params()
    p.ftype, p.nthread = int(ftype), int(nthread)
    keep = []
    if "--allow-requantize" in rest:
        p.allow_requantize = True
        rest = [a for a in rest if a != "--allow-requantize"]
    overrides = [a for a in rest if "=" in a]
    files = [a for a in rest if "=" not in a]
    if files:
        im = read_imatrix_dat(files[0])
        arr = (ImatrixData * (len(im) + 1))()
        for i, (k, v) in enumerate(im.items()):
            kb = k.encode(); keep.append((kb, v))
            arr[i].name, arr[i].data, arr[i].size = kb, ctypes.cast(v, ctypes.POINTER(ctypes.c_float)), len(v)
        keep.append(arr)
        p.imatrix = ctypes.cast(arr, ctypes.c_void_p)
    if overrides:
        arr = (TensorOverride * (len(overrides) + 1))()
        for i, o in enumerate(overrides):
            pat, t = o.rsplit("=", 1)
            pb = pat.encode(); keep.append(pb)
            arr[i].pattern, arr[i].type = pb, int(t)
        keep.append(arr)
        p.tt_overrides = ctypes.cast(arr, ctypes.c_void_p)
    t0 = time.perf_counter()
    rc = L.llama_model_quantize(inp.encode(), out.encode(), ctypes.byref(p))
    if rc != 0:
        raise SystemExit("llama_model_quantize failed: %d" % rc)
    if os.environ.get("QUANT_LLM_TIMING"):  # bench/quantize.py: seconds inside the call alone
        with open(os.environ["QUANT_LLM_TIMING"], "w") as f:
            f.write("%.6f\n" % (time.perf_counter() - t0))


class GGUFInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.POINTER(ctypes.c_void_p))]


def load(libdir, path):
    L, base = libs(libdir)
    base.gguf_init_from_file.argtypes = [ctypes.c_char_p, GGUFInitParams]
    base.gguf_init_from_file.restype = ctypes.c_void_p
    base.gguf_get_n_tensors.argtypes = [ctypes.c_void_p]
    base.gguf_get_n_tensors.restype = ctypes.c_int64
    ctx = ctypes.c_void_p()
    g = base.gguf_init_from_file(path.encode(), GGUFInitParams(False, ctypes.pointer(ctx)))
    if not g:
        raise SystemExit("gguf_init_from_file failed on " + path)
    n_tensors = base.gguf_get_n_tensors(g)
    L.llama_model_default_params.restype = Blob
    L.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Blob]
    L.llama_model_load_from_file.restype = ctypes.c_void_p
    L.llama_model_n_params.argtypes = [ctypes.c_void_p]
    L.llama_model_n_params.restype = ctypes.c_uint64
    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    if not model:
        raise SystemExit("llama_model_load_from_file failed on " + path)
    print(json.dumps({"n_params": L.llama_model_n_params(model), "n_tensors": n_tensors}))


if __name__ == "__main__":
    if sys.argv[1] == "quantize":
        quantize(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:])
    elif sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
