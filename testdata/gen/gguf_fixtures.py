"""Write hand-built GGUF fixtures that ggml itself cannot produce.

Run: /usr/bin/python3 testdata/gen/gguf_fixtures.py format/gguf/testdata
  nested_v2.gguf  version 2, arrays of arrays (incl. empty and mixed inner types),
                  a 0-dimensional tensor, a zero-size tensor, alignment 16.
The ggml-written fixtures come from gguf_ggml.py (write), manifest in ggml_manifest.json.
"""
import os
import struct
import sys


def s(x):
    b = x.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, payload):
    return s(key) + struct.pack("<I", typ) + payload


def arr(elem, items):
    return struct.pack("<IQ", elem, len(items)) + b"".join(items)


def main(outdir):
    kvs = [
        kv("general.alignment", 4, struct.pack("<I", 16)),
        # ARRAY of ARRAY: [[1,2] (u32), [] (f32), [["x"]] (array of string arrays)]
        kv("nested", 9, arr(9, [
            arr(4, [struct.pack("<I", 1), struct.pack("<I", 2)]),
            arr(6, []),
            arr(9, [arr(8, [s("x")])]),
        ])),
        kv("empty_nested", 9, arr(9, [])),
        kv("b", 7, b"\x01"),
    ]
    tensors = [
        # name, dims, type, offset, nbytes
        ("scalar", [], 0, 0, 4),
        ("zero", [0, 3], 1, 16, 0),
        ("v", [4], 0, 16, 16),
    ]
    hdr = b"GGUF" + struct.pack("<IQQ", 2, len(tensors), len(kvs)) + b"".join(kvs)
    for name, dims, typ, off, _ in tensors:
        hdr += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        hdr += struct.pack("<IQ", typ, off)
    hdr += b"\0" * (-len(hdr) % 16)
    data = bytearray(32)
    data[0:4] = struct.pack("<f", 2.5)
    data[16:32] = struct.pack("<4f", 1, -2, 3.5, 0.25)
    with open(os.path.join(outdir, "nested_v2.gguf"), "wb") as f:
        f.write(hdr + bytes(data))


if __name__ == "__main__":
    main(sys.argv[1])
