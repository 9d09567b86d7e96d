#!/usr/bin/python3
"""Make internal/pickle/testdata: one value pickled with every protocol 0-5, plus its
canonical text form (see canon) that the Go tests compute from what they unpickle.

Run: /usr/bin/python3 testdata/gen/pytorch_pickle.py
"""
import collections
import os
import pickle
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "internal", "pickle", "testdata")
os.makedirs(OUT, exist_ok=True)


def canon(v):
    if v is None:
        return "None"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "f" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return "s" + v.encode("utf-8").hex()
    if isinstance(v, (bytes, bytearray)):
        return "b" + bytes(v).hex()
    if isinstance(v, tuple):
        return "(" + ",".join(canon(e) for e in v) + ")"
    if isinstance(v, list):
        return "[" + ",".join(canon(e) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(canon(k) + ":" + canon(x) for k, x in v.items()) + "}"
    if isinstance(v, (set, frozenset)):
        return "set(" + ",".join(sorted(canon(e) for e in v)) + ")"
    raise TypeError(type(v))


shared = [1, 2]
value = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -65536, 2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63, 2**70, -2**70 - 5],
    "floats": [0.0, -0.0, 1.5, -3.25e-300, 1e300, float("inf")],
    "strings": ["", "plain", "quote ' \" \\ back", "new\nline", "unicode \u00e9\u4e2d\U0001f600", "\x00\x7f\xff"],
    "bytes": [b"", b"\x00\x01\xff", bytearray(b"ba")],
    "bools": [True, False, None],
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
    "sets": [{1, 2, 3}, frozenset({"a"})],
    "nested": {"a": {"b": {"c": [[[]]]}}, 7: "int key", (1, 2): "tuple key"},
    "shared": [shared, shared],
    "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
    "long list": list(range(1500)),
}
expected = canon(value)
for p in range(0, 6):
    with open(os.path.join(OUT, "values_p%d.pkl" % p), "wb") as f:
        f.write(pickle.dumps(value, protocol=p))
with open(os.path.join(OUT, "values.canon"), "w") as f:
    f.write(expected + "\n")
