#!/usr/bin/python3
"""Writes the TensorFlow checkpoint fixtures of format/tfcheckpoint/testdata.

No TensorFlow is available, so this writes the tensor-bundle format to its
documented layout: <prefix>.index is a LevelDB-format table
(tensorflow/core/lib/io/table_format.txt: prefix-compressed data blocks with restart
points, an index block, a 48-byte footer ending in magic 0xdb4775248b80fb57, blocks
uncompressed with a masked crc32c trailer) whose "" entry is a BundleHeaderProto and
whose other entries are BundleEntryProtos (tensorflow/core/protobuf/tensor_bundle.proto);
tensor bytes go to <prefix>.data-NNNNN-of-NNNNN. expected.json records the values.

Run: /usr/bin/python3 testdata/gen/tfcheckpoint.py   (from the repository root)
"""
import json, os, struct
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "format", "tfcheckpoint", "testdata")

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _T[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def field_fixed32(num, v):
    return varint(num << 3 | 5) + struct.pack("<I", v)


def block(entries, restart_interval):
    out, restarts, prev = bytearray(), [], b""
    for i, (k, v) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(k), len(prev)) and k[shared] == prev[shared]:
                shared += 1
        out += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
        prev = k
    for r in restarts or [0]:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts or [0]))
    return bytes(out)


def write_table(path, entries, per_block=3, restart_interval=2):
    """entries: sorted (key bytes, value bytes)."""
    f = bytearray()

    def put(contents):
        off = len(f)
        f.extend(contents)
        f.extend(b"\x00" + struct.pack("<I", mask(crc32c(contents + b"\x00"))))
        return varint(off) + varint(len(contents))

    index = []
    for i in range(0, len(entries), per_block):
        chunk = entries[i:i + per_block]
        h = put(block(chunk, restart_interval))
        index.append((chunk[-1][0], h))
    meta = put(block([], 1))
    idx = put(block(index, 1))
    footer = meta + idx
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    f.extend(footer)
    with open(path, "wb") as fh:
        fh.write(bytes(f))


DT = {"float32": 1, "float64": 2, "int32": 3, "uint8": 4, "int16": 5, "int8": 6,
      "int64": 9, "bool": 10, "bfloat16": 14, "float16": 19, "uint16": 17}


def shape_proto(shape):
    return b"".join(field_bytes(2, field_varint(1, d)) for d in shape)


def write_bundle(prefix, tensors, num_shards=1, strings=()):
    """tensors: list of (name, dtype name, shape, raw bytes, shard)."""
    datas = [bytearray() for _ in range(num_shards)]
    entries = []
    for name, dt, shape, raw, shard in tensors:
        off = len(datas[shard])
        datas[shard] += raw
        e = field_varint(1, DT[dt]) + field_bytes(2, shape_proto(shape))
        if shard:
            e += field_varint(3, shard)
        if off:
            e += field_varint(4, off)
        e += field_varint(5, len(raw)) + field_fixed32(6, mask(crc32c(raw)))
        entries.append((name.encode(), e))
    for name, payload in strings:  # a DT_STRING scalar: varint length prefix + bytes
        raw = varint(len(payload)) + payload
        off = len(datas[0])
        datas[0] += raw
        e = field_varint(1, 7) + field_bytes(2, b"") + field_varint(4, off) + \
            field_varint(5, len(raw)) + field_fixed32(6, mask(crc32c(raw)))
        entries.append((name.encode(), e))
    header = field_varint(1, num_shards) + field_bytes(3, field_varint(1, 1175))
    entries.append((b"", header))
    entries.sort()
    write_table(prefix + ".index", entries)
    for i, d in enumerate(datas):
        with open("%s.data-%05d-of-%05d" % (prefix, i, num_shards), "wb") as fh:
            fh.write(bytes(d))


def bf16(a):
    u = np.asarray(a, dtype="<f4").view("<u4")
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
    return r


def main():
    os.makedirs(os.path.join(OUT, "saved_model", "variables"), exist_ok=True)
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 4)).astype("<f4")
    bias = np.arange(4, dtype="<f4") - 1.5
    vals = {
        "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE": ("float32", kernel),
        "layer_with_weights-0/bias/.ATTRIBUTES/VARIABLE_VALUE": ("float32", bias),
        "save_counter/.ATTRIBUTES/VARIABLE_VALUE": ("int64", np.array(7, dtype="<i8")),
        "half": ("float16", np.array([1.5, -2, 65504], dtype="<f2")),
        "double": ("float64", np.array([[1e-300, -2.5]], dtype="<f8")),
        "i8": ("int8", np.array([-128, 0, 127], dtype="i1")),
        "u8": ("uint8", np.array([0, 255], dtype="u1")),
        "i32": ("int32", np.array([-5, 1 << 30], dtype="<i4")),
        "i16": ("int16", np.array([-300, 2], dtype="<i2")),
        "u16": ("uint16", np.array([65535], dtype="<u2")),
        "flags": ("bool", np.array([True, False], dtype="?")),
        "empty": ("float32", np.zeros((0, 3), dtype="<f4")),
    }
    tensors, expected = [], {}
    for i, (name, (dt, a)) in enumerate(vals.items()):
        tensors.append((name, dt, list(a.shape), a.tobytes(), i % 2))
        expected[name] = {"shape": list(a.shape), "values": a.astype(np.float64).ravel().tolist()}
    b = np.array([0.1, -3.0, 1e20], dtype="<f4")
    tensors.append(("bf16", "bfloat16", [3], bf16(b).tobytes(), 1))
    expected["bf16"] = {"shape": [3], "values": (bf16(b).astype("<u4") << 16).view("<f4").astype(np.float64).tolist()}
    write_bundle(os.path.join(OUT, "ckpt-1"), tensors, num_shards=2,
                 strings=[("_CHECKPOINTABLE_OBJECT_GRAPH", b"\x0a\x00not-a-real-graph")])
    # A SavedModel's variables: one shard.
    sm = [(n, dt, s, raw, 0) for n, dt, s, raw, _ in tensors[:2]]
    write_bundle(os.path.join(OUT, "saved_model", "variables", "variables"), sm, num_shards=1)
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)


if __name__ == "__main__":
    main()
