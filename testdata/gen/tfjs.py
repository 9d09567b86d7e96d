#!/usr/bin/python3
"""Writes the TF.js fixtures of format/tfjs/testdata to the layout documented by
tensorflowjs (model.json + weightsManifest + binary shards). No TensorFlow is needed:
the files are written byte by byte, and expected.json records the values TF.js
loads (dequantized as tfjs-core does: float32(q*scale + min) in float64).

Run: /usr/bin/python3 testdata/gen/tfjs.py   (from the repository root)
"""
import json, os
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "format", "tfjs", "testdata")


def layers_model():
    d = os.path.join(OUT, "layers")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    kernel = rng.standard_normal((3, 4)).astype("<f4")
    bias = np.arange(4, dtype="<f4") / 8
    steps = np.array([[1, -2], [300000, -7]], dtype="<i4")
    flags = np.array([True, False, True], dtype="?")
    words = [b"ab", b"", b"xyz"]
    # uint8 quantized float32, uint16 quantized float32, uint8 quantized int32, float16
    q8 = np.array([0, 1, 2, 128, 255, 17], dtype="u1")
    s8, m8 = 0.0123, -1.5
    q16 = np.array([0, 1, 65535, 30000], dtype="<u2")
    s16, m16 = 3.0e-5, -0.75
    qi = np.array([0, 3, 10, 255], dtype="u1")
    si, mi = 0.5, -2.0
    h = np.array([1.5, -0.0, 65504, 6.1e-5, -3.25, 0.1], dtype="<f2")

    blob = b"".join([kernel.tobytes(), bias.tobytes(), steps.tobytes(), flags.tobytes()])
    for w in words:
        blob += np.uint32(len(w)).astype("<u4").tobytes() + w
    blob += q8.tobytes() + q16.tobytes() + qi.tobytes() + h.tobytes()
    cut = 20  # split inside the kernel so a tensor spans two shards
    with open(os.path.join(d, "group1-shard1of2.bin"), "wb") as f:
        f.write(blob[:cut])
    with open(os.path.join(d, "group1-shard2of2.bin"), "wb") as f:
        f.write(blob[cut:])
    emb = (np.arange(6, dtype="<f4") - 2.5).reshape(2, 3)
    with open(os.path.join(d, "group2-shard1of1.bin"), "wb") as f:
        f.write(emb.tobytes())

    topology = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 4, "use_bias": True}}]},
        "keras_version": "2.15.0", "backend": "tensorflow"}
    manifest = [
        {"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": [
            {"name": "dense/kernel", "shape": [3, 4], "dtype": "float32"},
            {"name": "dense/bias", "shape": [4], "dtype": "float32"},
            {"name": "steps", "shape": [2, 2], "dtype": "int32"},
            {"name": "flags", "shape": [3], "dtype": "bool"},
            {"name": "vocab", "shape": [3], "dtype": "string"},
            {"name": "q8", "shape": [2, 3], "dtype": "float32",
             "quantization": {"dtype": "uint8", "scale": s8, "min": m8}},
            {"name": "q16", "shape": [4], "dtype": "float32",
             "quantization": {"dtype": "uint16", "scale": s16, "min": m16}},
            {"name": "qint", "shape": [4], "dtype": "int32",
             "quantization": {"dtype": "uint8", "scale": si, "min": mi}},
            {"name": "half", "shape": [6], "dtype": "float32",
             "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        ]},
        {"paths": ["group2-shard1of1.bin"], "weights": [
            {"name": "embedding/embeddings", "shape": [2, 3], "dtype": "float32"}]},
    ]
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump({"format": "layers-model", "generatedBy": "keras v2.15.0",
                   "convertedBy": "refit testdata/gen/tfjs.py", "modelTopology": topology,
                   "weightsManifest": manifest}, f, indent=1)

    def deq(q, s, m):
        return (q.astype(np.float64) * s + m).astype(np.float32)
    expected = {
        "dense/kernel": kernel.ravel().tolist(),
        "dense/bias": bias.tolist(),
        "steps": steps.ravel().tolist(),
        "flags": [bool(x) for x in flags],
        "q8": deq(q8, s8, m8).tolist(),
        "q16": deq(q16, s16, m16).tolist(),
        "qint": np.floor(qi.astype(np.float64) * si + mi + 0.5).astype(int).tolist(),
        "half": h.astype(np.float32).tolist(),
        "embedding/embeddings": emb.ravel().tolist(),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)


def graph_model():
    d = os.path.join(OUT, "graph")
    os.makedirs(d, exist_ok=True)
    w = np.array([[1, 2], [3, 4]], dtype="<f4")
    with open(os.path.join(d, "group1-shard1of1.bin"), "wb") as f:
        f.write(w.tobytes())
    topology = {"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "y", "op": "MatMul", "input": ["x", "w"]}],
        "versions": {"producer": 1}}
    with open(os.path.join(d, "model.json"), "w") as f:
        json.dump({"format": "graph-model", "generatedBy": "2.15.0",
                   "convertedBy": "refit testdata/gen/tfjs.py", "modelTopology": topology,
                   "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                                        "weights": [{"name": "w", "shape": [2, 2], "dtype": "float32"}]}]},
                  f, indent=1)


if __name__ == "__main__":
    layers_model()
    graph_model()
