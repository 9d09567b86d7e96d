#!/usr/bin/python3
"""Reference dequantization by ggml itself (libggml-base.so from node-llama-cpp), via ctypes.

Usage: ggml_ref.py LIBGGML_BASE OUTDIR NBLOCKS SEED

For every GGML block type it writes into OUTDIR:
  NAME.q    NBLOCKS blocks quantized by ggml_quantize_chunk (or the type's from_float_ref
            where quantize_chunk has no case) from random data, then NBLOCKS blocks of random
            bytes with finite scale fields;
  NAME.f32  what ggml's type_traits.to_float makes of NAME.q (little-endian float32).
Q8_1 has no to_float in ggml; its reference is Q8_0's to_float over the same d and quants.
Q8_K's traits in ggml-base carry neither to_float nor from_float_ref; the exported
dequantize_row_q8_K / quantize_row_q8_K_ref are used.
"""
import ctypes
import os
import random
import struct
import sys

# name, ggml type id, block size, type size, finite-scale fields: (offset, kind) per block
TYPES = [
    ("Q4_0", 2, 32, 18, [(0, "f16")]),
    ("Q4_1", 3, 32, 20, [(0, "f16"), (2, "f16")]),
    ("Q5_0", 6, 32, 22, [(0, "f16")]),
    ("Q5_1", 7, 32, 24, [(0, "f16"), (2, "f16")]),
    ("Q8_0", 8, 32, 34, [(0, "f16")]),
    ("Q8_1", 9, 32, 36, [(0, "f16"), (2, "f16")]),
    ("Q2_K", 10, 256, 84, [(80, "f16"), (82, "f16")]),
    ("Q3_K", 11, 256, 110, [(108, "f16")]),
    ("Q4_K", 12, 256, 144, [(0, "f16"), (2, "f16")]),
    ("Q5_K", 13, 256, 176, [(0, "f16"), (2, "f16")]),
    ("Q6_K", 14, 256, 210, [(208, "f16")]),
    ("Q8_K", 15, 256, 292, [(0, "f32")]),
    ("IQ2_XXS", 16, 256, 66, [(0, "f16")]),
    ("IQ2_XS", 17, 256, 74, [(0, "f16")]),
    ("IQ3_XXS", 18, 256, 98, [(0, "f16")]),
    ("IQ1_S", 19, 256, 50, [(0, "f16")]),
    ("IQ4_NL", 20, 32, 18, [(0, "f16")]),
    ("IQ3_S", 21, 256, 110, [(0, "f16")]),
    ("IQ2_S", 22, 256, 82, [(0, "f16")]),
    ("IQ4_XS", 23, 256, 136, [(0, "f16")]),
    ("IQ1_M", 29, 256, 56, [(55, "iq1m")]),
    ("TQ1_0", 34, 256, 54, [(52, "f16")]),
    ("TQ2_0", 35, 256, 66, [(64, "f16")]),
    ("MXFP4", 39, 32, 17, []),
]

TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class Traits(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


def finite_f16(rng):
    # any sign, any exponent but 31 (Inf/NaN): covers subnormals and large scales
    return rng.getrandbits(1) << 15 | rng.randrange(31) << 10 | rng.getrandbits(10)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    outdir, nblocks, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_blck_size.restype = ctypes.c_int64
    lib.ggml_type_size.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    for name, tid, bs, ts, fields in TYPES:
        tr = lib.ggml_get_type_traits(tid).contents
        if (lib.ggml_blck_size(tid), lib.ggml_type_size(tid)) != (bs, ts):
            sys.exit(f"{name}: ggml says block {lib.ggml_blck_size(tid)}, size {lib.ggml_type_size(tid)}")
        n = nblocks * bs
        # Gaussian-ish data with a few outliers, one row per 256-block-multiple
        vals = [rng.gauss(0, 1) * (10 ** rng.uniform(-3, 2)) for _ in range(n)]
        src = (ctypes.c_float * n)(*vals)
        quant = ctypes.create_string_buffer(nblocks * ts)
        if name in ("Q8_1", "Q8_K"):  # intermediate types: no quantize_chunk case
            getattr(lib, "quantize_row_%s_ref" % name.lower().replace("_k", "_K"))(
                ctypes.c_void_p(ctypes.addressof(src)), ctypes.c_void_p(ctypes.addressof(quant)), ctypes.c_int64(n))
        else:
            imatrix = (ctypes.c_float * n)(*[rng.uniform(0.1, 2) for _ in range(n)])
            lib.ggml_quantize_chunk(tid, ctypes.addressof(src), ctypes.addressof(quant), 0, 1, n,
                                    ctypes.addressof(imatrix))
        raw = bytearray(rng.getrandbits(8) for _ in range(nblocks * ts))
        for b in range(nblocks):
            for off, kind in fields:
                o = b * ts + off
                if kind == "f16":
                    struct.pack_into("<H", raw, o, finite_f16(rng))
                elif kind == "f32":
                    struct.pack_into("<f", raw, o, rng.gauss(0, 1) * 2.0 ** rng.randrange(-140, 100))
                elif kind == "iq1m":
                    raw[o] &= 0xBF  # top exponent bit of the scattered f16 scale: keep it finite
        data = bytes(quant.raw) + bytes(raw)
        total = 2 * nblocks
        ref_type, ref_data = tid, data
        if name == "Q8_1":  # drop the sum field: Q8_0 layout
            ref_type = 8
            ref_data = b"".join(data[i * 36:i * 36 + 2] + data[i * 36 + 4:i * 36 + 36] for i in range(total))
        fn = lib.ggml_get_type_traits(ref_type).contents.to_float
        if name == "Q8_K":  # its traits in ggml-base carry no to_float; the row function is exported
            fn = ctypes.cast(lib.dequantize_row_q8_K, ctypes.c_void_p).value
        if not fn:
            sys.exit(f"{name}: no to_float")
        inb = ctypes.create_string_buffer(ref_data, len(ref_data))
        out = (ctypes.c_float * (total * bs))()
        TO_FLOAT(fn)(ctypes.addressof(inb), ctypes.addressof(out), total * bs)
        with open(os.path.join(outdir, name + ".q"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".f32"), "wb") as f:
            f.write(bytes(out))


main()
