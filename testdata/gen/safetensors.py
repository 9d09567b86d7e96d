#!/usr/bin/python3
"""Reference safetensors writer/reader for Refit's tests (Debian has no python3-safetensors).

Written from the format spec with json + struct + numpy only, so it is independent of
Refit's Go code. The writer follows the reference Rust implementation's layout: tensors
sorted by decreasing dtype alignment (the Rust Dtype enum order) then by name, compact
JSON with "__metadata__" first (keys sorted), each tensor's keys as dtype, shape,
data_offsets, header padded with spaces to a multiple of 8. Sharded models follow the
Hugging Face convention (model-00001-of-0000N.safetensors + model.safetensors.index.json
written with json.dumps(indent=2, sort_keys=True)).

Usage (run with /usr/bin/python3, numpy 1.24):
  safetensors.py fixtures OUTDIR   write the committed fixtures and manifest.json
  safetensors.py dump FILE         print {"metadata":..., "tensors": {name: {...}}} as JSON,
                                   values decoded by numpy as strings (repr)
  safetensors.py write OUT SEED    write a pseudo-random model of every dtype to OUT
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np

# name -> (element size, numpy dtype used to decode or None for custom decoding).
# Order is the Rust Dtype enum order, which the writer sorts by (descending).
DTYPES = [
    ("BOOL", 1, np.bool_),
    ("U8", 1, np.uint8),
    ("I8", 1, np.int8),
    ("F8_E5M2", 1, None),
    ("F8_E4M3", 1, None),
    ("I16", 2, np.int16),
    ("U16", 2, np.uint16),
    ("F16", 2, np.float16),
    ("BF16", 2, None),
    ("I32", 4, np.int32),
    ("U32", 4, np.uint32),
    ("F32", 4, np.float32),
    ("C64", 8, np.complex64),
    ("F64", 8, np.float64),
    ("I64", 8, np.int64),
    ("U64", 8, np.uint64),
]
RANK = {name: i for i, (name, _, _) in enumerate(DTYPES)}
SIZE = {name: size for name, size, _ in DTYPES}
NP = {name: t for name, _, t in DTYPES}


def serialize(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes). Returns the file bytes."""
    for name, dtype, shape, raw in tensors:
        n = 1
        for d in shape:
            n *= d
        assert len(raw) == n * SIZE[dtype], name
    order = sorted(tensors, key=lambda t: (-RANK[t[1]], t[0].encode("utf-8")))
    header = {}
    if metadata:
        header["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    offset = 0
    for name, dtype, shape, raw in order:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in order)


def deserialize(data):
    """Returns (metadata, {name: (dtype, shape, raw)}) after checking the layout."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    buf = data[8 + n :]
    metadata = header.pop("__metadata__", None) or {}
    out = {}
    pos = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = info["data_offsets"]
        assert b == pos, (name, b, pos)
        count = 1
        for d in info["shape"]:
            count *= d
        assert e - b == count * SIZE[info["dtype"]], name
        out[name] = (info["dtype"], info["shape"], buf[b:e])
        pos = e
    assert pos == len(buf), (pos, len(buf))
    return metadata, out


def f8_value(byte, ebits, mbits, bias, ieee):
    """Decodes one float8 byte from its bit fields."""
    sign = -1.0 if byte & 0x80 else 1.0
    e = (byte >> mbits) & ((1 << ebits) - 1)
    m = byte & ((1 << mbits) - 1)
    top = (1 << ebits) - 1
    if ieee and e == top:
        return sign * float("inf") if m == 0 else float("nan")
    if not ieee and e == top and m == (1 << mbits) - 1:
        return float("nan")
    if e == 0:
        return sign * m / (1 << mbits) * 2.0 ** (1 - bias)
    return sign * (1 + m / (1 << mbits)) * 2.0 ** (e - bias)


def f8_encode_exact(x, ebits, mbits, bias):
    """Encodes a value exactly representable as a normal float8 (or zero)."""
    if x == 0:
        return 0x80 if np.signbit(x) else 0
    sign = 0x80 if x < 0 else 0
    a = abs(x)
    e = int(np.floor(np.log2(a)))
    m = (a / 2.0**e - 1) * (1 << mbits)
    assert m == int(m) and 1 - bias <= e, x
    return sign | ((e + bias) << mbits) | int(m)


def values(dtype, shape, raw):
    """Decodes raw bytes to a flat list of strings with numpy (complex as re, im pairs)."""
    if dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype("<u4") << 16
        v = u.view("<f4")
    elif dtype == "F8_E5M2":
        v = [f8_value(b, 5, 2, 15, True) for b in raw]
    elif dtype == "F8_E4M3":
        v = [f8_value(b, 4, 3, 7, False) for b in raw]
    else:
        v = np.frombuffer(raw, dtype=np.dtype(NP[dtype]).newbyteorder("<"))
        if dtype == "C64":
            v = v.view("<f4")
    out = []
    for x in list(v):
        if dtype == "BOOL":
            out.append("1" if x else "0")
        elif dtype in ("U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64"):
            out.append(str(int(x)))
        else:
            out.append(repr(float(x)))
    return out


def describe(data):
    metadata, tensors = deserialize(data)
    return {
        "metadata": metadata,
        "sha256": hashlib.sha256(data).hexdigest(),
        "tensors": {
            name: {
                "dtype": dtype,
                "shape": shape,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "values": values(dtype, shape, raw),
            }
            for name, (dtype, shape, raw) in tensors.items()
        },
    }


# Values exactly representable in every float type (at most 2 mantissa bits, small range).
EXACT = [0.0, 1.0, -2.0, 0.5, 1.5, -3.0, 0.75, 12.0, -0.25, 6.0, 0.125, -1.75]


def float_raw(dtype, vals):
    if dtype == "BF16":
        return np.array(vals, dtype="<f4").view("<u4").__rshift__(16).astype("<u2").tobytes()
    if dtype == "F8_E5M2":
        return bytes(f8_encode_exact(x, 5, 2, 15) for x in vals)
    if dtype == "F8_E4M3":
        return bytes(f8_encode_exact(x, 4, 3, 7) for x in vals)
    return np.array(vals, dtype=np.dtype(NP[dtype]).newbyteorder("<")).tobytes()


def every_dtype():
    """One tensor per dtype with fixed values, plus a scalar and an empty tensor."""
    ts = []
    for dtype in ("F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"):
        ts.append(("float." + dtype.lower(), dtype, [3, 4], float_raw(dtype, EXACT)))
    ts.append(("float.f32_special", "F32", [5], np.array([np.inf, -np.inf, np.nan, -0.0, 3.4e38], dtype="<f4").tobytes()))
    ts.append(("int.u8", "U8", [16, 16], np.arange(256, dtype=np.uint8).tobytes()))
    ts.append(("int.i8", "I8", [4], np.array([-128, -1, 0, 127], dtype=np.int8).tobytes()))
    ts.append(("int.i16", "I16", [3], np.array([-32768, 7, 32767], dtype="<i2").tobytes()))
    ts.append(("int.u16", "U16", [3], np.array([0, 1234, 65535], dtype="<u2").tobytes()))
    ts.append(("int.i32", "I32", [2, 2], np.array([-(2**31), -5, 5, 2**31 - 1], dtype="<i4").tobytes()))
    ts.append(("int.u32", "U32", [2], np.array([0, 2**32 - 1], dtype="<u4").tobytes()))
    ts.append(("int.i64", "I64", [3], np.array([-(2**63), 42, 2**63 - 1], dtype="<i8").tobytes()))
    ts.append(("int.u64", "U64", [2], np.array([0, 2**64 - 1], dtype="<u8").tobytes()))
    ts.append(("bool", "BOOL", [2, 3], bytes([1, 0, 0, 1, 1, 0])))
    ts.append(("complex", "C64", [2], np.array([1 + 2j, -3.5 + 0j], dtype="<c8").tobytes()))
    ts.append(("scalar", "F32", [], np.array([7.0], dtype="<f4").tobytes()))
    ts.append(("empty", "F16", [2, 0], b""))
    ts.append(("naïve \"quoted\"\tname", "U8", [1], b"\x05"))
    return ts


def sharded_model():
    """Five F32 tensors in model order; 40-byte shards split them 2 + 1 + 2."""
    rng = np.random.default_rng(7)
    sizes = [("embed.weight", [2, 3]), ("layers.0.w", [2, 2]), ("layers.0.big", [3, 4]), ("layers.1.w", [2]), ("norm", [3])]
    return [(n, "F32", s, rng.standard_normal(int(np.prod(s)), dtype=np.float32).astype("<f4").tobytes()) for n, s in sizes]


def write_shards(outdir, base, tensors, max_bytes, metadata):
    """Hugging Face sharding: fill shards in model order; an oversized tensor stands alone."""
    groups, cur, size = [], [], 0
    for t in tensors:
        if cur and size + len(t[3]) > max_bytes:
            groups.append(cur)
            cur, size = [], 0
        cur.append(t)
        size += len(t[3])
    groups.append(cur)
    weight_map, total = {}, 0
    for i, g in enumerate(groups):
        name = "%s-%05d-of-%05d.safetensors" % (base, i + 1, len(groups))
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(serialize(g, metadata))
        for t in g:
            weight_map[t[0]] = name
            total += len(t[3])
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(outdir, base + ".safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")


def fixtures(outdir):
    os.makedirs(os.path.join(outdir, "sharded"), exist_ok=True)
    files = {
        "dtypes.safetensors": serialize(every_dtype(), {"format": "pt", "note": "line\nbreak é"}),
        "empty.safetensors": serialize([]),
        "attn.safetensors": serialize([("attn.0", "F32", [1, 2, 3], np.arange(6, dtype="<f4").tobytes())]),
    }
    manifest = {}
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
        manifest[name] = describe(data)
    sharded = sharded_model()
    write_shards(os.path.join(outdir, "sharded"), "model", sharded, 40, {"format": "pt"})
    manifest["sharded"] = {"order": [t[0] for t in sharded], "max_shard_bytes": 40}
    for name in sorted(os.listdir(os.path.join(outdir, "sharded"))):
        if name.endswith(".safetensors"):
            with open(os.path.join(outdir, "sharded", name), "rb") as f:
                manifest["sharded/" + name] = describe(f.read())
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")


def random_model(seed):
    rng = np.random.default_rng(seed)
    ts = []
    for dtype, size, t in DTYPES:
        shape = [int(d) for d in rng.integers(0, 5, size=int(rng.integers(0, 4)))]
        n = int(np.prod(shape)) if shape else 1
        raw = rng.integers(0, 256, size=n * size, dtype=np.uint8).tobytes()
        if dtype == "BOOL":
            raw = bytes(b & 1 for b in raw)
        ts.append(("t." + dtype.lower(), dtype, shape, raw))
    return ts


def main(argv):
    if len(argv) == 2 and argv[0] == "fixtures":
        fixtures(argv[1])
    elif len(argv) == 2 and argv[0] == "dump":
        with open(argv[1], "rb") as f:
            json.dump(describe(f.read()), sys.stdout, sort_keys=True)
    elif len(argv) == 3 and argv[0] == "write":
        with open(argv[1], "wb") as f:
            f.write(serialize(random_model(int(argv[2])), {"seed": argv[2]}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
