"""Write and read GGUF files with ggml's own gguf_* functions (via ctypes).

The library is libggml-base.so from the npm package @node-llama-cpp/linux-x64.
Run with /usr/bin/python3:

  gguf_ggml.py LIBDIR write OUTDIR   writes the cases below as OUTDIR/<case>.gguf and
                                     prints a JSON manifest of what each file holds
  gguf_ggml.py LIBDIR read FILE...   prints what gguf_init_from_file sees, as JSON

Values in JSON: floats as their IEEE bit patterns (exact), strings as hex of
their bytes, bools as 0/1, so the Go test can compare exactly.
"""
import ctypes as C
import json
import os
import struct
import sys

# gguf_type
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
CTYPES = {U8: C.c_uint8, I8: C.c_int8, U16: C.c_uint16, I16: C.c_int16, U32: C.c_uint32,
          I32: C.c_int32, F32: C.c_float, BOOL: C.c_bool, U64: C.c_uint64, I64: C.c_int64,
          F64: C.c_double}
SETTERS = {U8: "u8", I8: "i8", U16: "u16", I16: "i16", U32: "u32", I32: "i32", F32: "f32",
           BOOL: "bool", STR: "str", U64: "u64", I64: "i64", F64: "f64"}
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q8_0, GGML_Q4_K, GGML_I32, GGML_BF16, GGML_F64 = 0, 1, 2, 8, 12, 26, 30, 28


class InitParams(C.Structure):
    _fields_ = [("mem_size", C.c_size_t), ("mem_buffer", C.c_void_p), ("no_alloc", C.c_bool)]


class GGUFInitParams(C.Structure):
    _fields_ = [("no_alloc", C.c_bool), ("ctx", C.c_void_p)]


def load(libdir):
    g = C.CDLL(os.path.join(libdir, "libggml-base.so"))
    g.gguf_init_empty.restype = C.c_void_p
    g.gguf_init_from_file.restype = C.c_void_p
    g.gguf_init_from_file.argtypes = [C.c_char_p, GGUFInitParams]
    g.gguf_free.argtypes = [C.c_void_p]
    g.gguf_write_to_file.argtypes = [C.c_void_p, C.c_char_p, C.c_bool]
    g.gguf_write_to_file.restype = C.c_bool
    for t, name in SETTERS.items():
        f = getattr(g, "gguf_set_val_" + name)
        f.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p if t == STR else CTYPES[t]]
        f = getattr(g, "gguf_get_val_" + name)
        f.argtypes = [C.c_void_p, C.c_int64]
        f.restype = C.c_char_p if t == STR else CTYPES[t]
    g.gguf_set_arr_data.argtypes = [C.c_void_p, C.c_char_p, C.c_int, C.c_void_p, C.c_size_t]
    g.gguf_set_arr_str.argtypes = [C.c_void_p, C.c_char_p, C.POINTER(C.c_char_p), C.c_size_t]
    g.gguf_get_version.argtypes = [C.c_void_p]
    g.gguf_get_version.restype = C.c_uint32
    for name in ("alignment", "data_offset"):
        f = getattr(g, "gguf_get_" + name)
        f.argtypes = [C.c_void_p]
        f.restype = C.c_size_t
    for name in ("n_kv", "n_tensors"):
        f = getattr(g, "gguf_get_" + name)
        f.argtypes = [C.c_void_p]
        f.restype = C.c_int64
    g.gguf_get_key.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_key.restype = C.c_char_p
    g.gguf_get_kv_type.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_arr_type.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_arr_n.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_arr_n.restype = C.c_size_t
    g.gguf_get_arr_data.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_arr_data.restype = C.c_void_p
    g.gguf_get_arr_str.argtypes = [C.c_void_p, C.c_int64, C.c_size_t]
    g.gguf_get_arr_str.restype = C.c_char_p
    g.gguf_get_tensor_name.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_tensor_name.restype = C.c_char_p
    g.gguf_get_tensor_type.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_tensor_offset.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_tensor_offset.restype = C.c_size_t
    g.gguf_get_tensor_size.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_tensor_size.restype = C.c_size_t
    g.gguf_get_tensor_ne.argtypes = [C.c_void_p, C.c_int64]
    g.gguf_get_tensor_ne.restype = C.POINTER(C.c_int64)
    g.gguf_add_tensor.argtypes = [C.c_void_p, C.c_void_p]
    g.gguf_set_tensor_data.argtypes = [C.c_void_p, C.c_char_p, C.c_void_p]
    g.ggml_init.argtypes = [InitParams]
    g.ggml_init.restype = C.c_void_p
    g.ggml_free.argtypes = [C.c_void_p]
    g.ggml_new_tensor.argtypes = [C.c_void_p, C.c_int, C.c_int, C.POINTER(C.c_int64)]
    g.ggml_new_tensor.restype = C.c_void_p
    g.ggml_set_name.argtypes = [C.c_void_p, C.c_char_p]
    g.ggml_nbytes.argtypes = [C.c_void_p]
    g.ggml_nbytes.restype = C.c_size_t
    return g


def enc(t, v):
    """JSON form of one scalar of gguf type t."""
    if t == F32:
        return struct.unpack("<I", struct.pack("<f", v))[0]
    if t == F64:
        return struct.unpack("<Q", struct.pack("<d", v))[0]
    if t == STR:
        return (v.encode() if isinstance(v, str) else v).hex()
    if t == BOOL:
        return int(bool(v))
    return v


# Every scalar type (with edge values), arrays of every type, empty arrays.
KVS = [
    ("general.architecture", STR, "llama"),
    ("t.u8", U8, 255), ("t.i8", I8, -128), ("t.u16", U16, 65535), ("t.i16", I16, -32768),
    ("t.u32", U32, 4294967295), ("t.i32", I32, -2147483648), ("t.f32", F32, -1.5),
    ("t.bool", BOOL, True), ("t.bool_f", BOOL, False), ("t.str", STR, "héllo\nwörld"),
    ("t.str_empty", STR, ""), ("t.u64", U64, 2**64 - 1), ("t.i64", I64, -2**63),
    ("t.f64", F64, 3.141592653589793), ("t.f32_inf", F32, float("inf")),
    ("a.u8", (ARR, U8), [0, 1, 255]), ("a.i8", (ARR, I8), [-1, 2]), ("a.u16", (ARR, U16), [7]),
    ("a.i16", (ARR, I16), [-7, 8]), ("a.u32", (ARR, U32), [1, 2, 3]), ("a.i32", (ARR, I32), [-1, 0, 1]),
    ("a.f32", (ARR, F32), [0.5, -0.25, 1e30]), ("a.bool", (ARR, BOOL), [True, False, True]),
    ("a.str", (ARR, STR), ["a", "", "tokenizer ▁x"]), ("a.u64", (ARR, U64), [2**63]),
    ("a.i64", (ARR, I64), [-5]), ("a.f64", (ARR, F64), [1e-300, -0.0]),
    ("a.empty_f32", (ARR, F32), []), ("a.empty_str", (ARR, STR), []),
]


def set_kvs(g, ctx, kvs):
    for key, t, v in kvs:
        k = key.encode()
        if isinstance(t, tuple):
            et = t[1]
            if et == STR:
                arr = (C.c_char_p * max(len(v), 1))(*[s.encode() for s in v])
                g.gguf_set_arr_str(ctx, k, arr, len(v))
            else:
                ct = C.c_int8 if et == BOOL else CTYPES[et]
                arr = (ct * max(len(v), 1))(*v)
                g.gguf_set_arr_data(ctx, k, et, arr, len(v))
        else:
            getattr(g, "gguf_set_val_" + SETTERS[t])(ctx, k, v.encode() if t == STR else v)


def tensor_bytes(n, seed):
    return bytes((i * 37 + seed * 11) % 251 for i in range(n))


def write_case(g, path, kvs, tensors):
    """tensors: (name, ggml type, ne list). Returns the manifest entry."""
    ctx = g.gguf_init_empty()
    set_kvs(g, ctx, kvs)
    if any(k == "general.alignment" for k, _, _ in kvs):
        # gguf_set_val_u32 does not change the context's alignment; only reading a
        # file does. Write the metadata, read it back, then add the tensors.
        g.gguf_write_to_file(ctx, path.encode(), True)
        g.gguf_free(ctx)
        ctx = g.gguf_init_from_file(path.encode(), GGUFInitParams(True, None))
    gctx = g.ggml_init(InitParams(1 << 20, None, True))
    keep = []
    out_t = []
    for i, (name, typ, ne) in enumerate(tensors):
        arr = (C.c_int64 * len(ne))(*ne)
        t = g.ggml_new_tensor(gctx, typ, len(ne), arr)
        g.ggml_set_name(t, name.encode())
        g.gguf_add_tensor(ctx, t)
        data = tensor_bytes(g.ggml_nbytes(t), i)
        buf = C.create_string_buffer(data, len(data))
        keep.append(buf)
        g.gguf_set_tensor_data(ctx, name.encode(), buf)
        out_t.append({"name": name, "type": typ, "ne": ne, "data": data.hex()})
    if not g.gguf_write_to_file(ctx, path.encode(), False):
        raise SystemExit("gguf_write_to_file failed for " + path)
    g.ggml_free(gctx)
    g.gguf_free(ctx)
    man_kvs = []
    for key, t, v in kvs:
        if isinstance(t, tuple):
            man_kvs.append({"key": key, "type": ARR, "arr_type": t[1], "value": [enc(t[1], x) for x in v]})
        else:
            man_kvs.append({"key": key, "type": t, "value": enc(t, v)})
    return {"kvs": man_kvs, "tensors": out_t}


CASES = {
    "every_type": (KVS, [
        ("f32", GGML_F32, [3, 2]), ("f16", GGML_F16, [5]), ("bf16", GGML_BF16, [4, 1, 2]),
        ("q8_0", GGML_Q8_0, [64, 2]), ("q4_0", GGML_Q4_0, [32]), ("q4_k", GGML_Q4_K, [256, 1, 1, 2]),
        ("i32", GGML_I32, [7]), ("f64", GGML_F64, [2, 2]),
    ]),
    "align64": ([("general.architecture", STR, "x"), ("general.alignment", U32, 64)], [
        ("a", GGML_F32, [3]), ("b", GGML_F16, [17, 3]), ("c", GGML_Q8_0, [32]),
    ]),
    "no_tensors": ([("general.name", STR, "meta only"), ("n", I32, 5)], []),
    "empty": ([], []),
}


def write(g, outdir):
    man = {}
    for name, (kvs, tensors) in CASES.items():
        man[name] = write_case(g, os.path.join(outdir, name + ".gguf"), kvs, tensors)
    json.dump(man, sys.stdout)


def read(g, paths):
    out = {}
    for path in paths:
        ctx = g.gguf_init_from_file(path.encode(), GGUFInitParams(True, None))
        if not ctx:
            out[path] = None
            continue
        kvs = []
        for i in range(g.gguf_get_n_kv(ctx)):
            key = g.gguf_get_key(ctx, i).decode()
            t = g.gguf_get_kv_type(ctx, i)
            if t == ARR:
                et = g.gguf_get_arr_type(ctx, i)
                n = g.gguf_get_arr_n(ctx, i)
                if et == STR:
                    vals = [g.gguf_get_arr_str(ctx, i, j).hex() for j in range(n)]
                else:
                    ct = C.c_int8 if et == BOOL else CTYPES[et]
                    p = C.cast(g.gguf_get_arr_data(ctx, i), C.POINTER(ct)) if n else None
                    vals = [enc(et, p[j]) for j in range(n)]
                kvs.append({"key": key, "type": t, "arr_type": et, "value": vals})
            else:
                v = getattr(g, "gguf_get_val_" + SETTERS[t])(ctx, i)
                kvs.append({"key": key, "type": t, "value": enc(t, v)})
        tensors = []
        for i in range(g.gguf_get_n_tensors(ctx)):
            ne = g.gguf_get_tensor_ne(ctx, i)
            tensors.append({
                "name": g.gguf_get_tensor_name(ctx, i).decode(),
                "type": g.gguf_get_tensor_type(ctx, i),
                "ne": [ne[j] for j in range(4)],
                "offset": g.gguf_get_tensor_offset(ctx, i),
                "size": g.gguf_get_tensor_size(ctx, i),
            })
        out[path] = {"version": g.gguf_get_version(ctx), "alignment": g.gguf_get_alignment(ctx),
                     "data_offset": g.gguf_get_data_offset(ctx), "kvs": kvs, "tensors": tensors}
        g.gguf_free(ctx)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    lib = load(sys.argv[1])
    if sys.argv[2] == "write":
        write(lib, sys.argv[3])
    elif sys.argv[2] == "read":
        read(lib, sys.argv[3:])
    else:
        raise SystemExit(__doc__)
