#!/usr/bin/python3
"""Writes the Keras fixtures of format/keras/testdata with h5py (Debian python3-h5py).

No TensorFlow/Keras is available, so the files follow the layouts Keras writes:
  legacy.h5        model.save("x.h5"): root attrs keras_version/backend/model_config,
                   group model_weights (attr layer_names), one group per layer (attr
                   weight_names), datasets model_weights/<layer>/<weight name>.
  weights.h5       model.save_weights("x.h5") (Keras 2): the layer groups at the root.
  model.keras      Keras 3: a zip of config.json, metadata.json and model.weights.h5,
                   whose datasets are layers/<layer>/vars/<i> in the layer's weight order.
expected.json records every tensor's name, shape and values.

Run: /usr/bin/python3 testdata/gen/tfkeras.py   (from the repository root)
"""
import io, json, os, zipfile
import h5py
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "format", "keras", "testdata")

rng = np.random.default_rng(11)
WEIGHTS = {
    "dense": [("kernel", rng.standard_normal((3, 4)).astype("<f4")),
              ("bias", (np.arange(4) / 4 - 0.5).astype("<f4"))],
    "batch_normalization": [(n, (np.arange(4) + k).astype("<f4"))
                            for k, n in enumerate(["gamma", "beta", "moving_mean", "moving_variance"])],
    "dropout": [],
    "embedding": [("embeddings", rng.standard_normal((5, 2)).astype("<f8"))],
    "counter": [("count", np.array([7, -3], dtype="<i4"))],
}
CONFIG = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
    {"class_name": "Dense", "config": {"name": "dense", "units": 4}},
    {"class_name": "BatchNormalization", "config": {"name": "batch_normalization"}},
    {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.5}},
    {"class_name": "Embedding", "config": {"name": "embedding", "input_dim": 5, "output_dim": 2}},
    {"class_name": "Counter", "config": {"name": "counter"}},
]}}


def legacy(path, with_model):
    expected = {}
    with h5py.File(path, "w", libver="earliest") as f:
        g = f
        if with_model:
            f.attrs["keras_version"] = "2.15.0"
            f.attrs["backend"] = "tensorflow"
            f.attrs["model_config"] = json.dumps(CONFIG)
            g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in WEIGHTS], dtype="S")
        g.attrs["backend"] = "tensorflow"
        g.attrs["keras_version"] = "2.15.0"
        for layer, ws in WEIGHTS.items():
            lg = g.create_group(layer)
            names = ["%s/%s:0" % (layer, w) for w, _ in ws]
            lg.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, (_, a) in zip(names, ws):
                kw = {"compression": "gzip", "chunks": True} if a.ndim == 2 and layer == "dense" else {}
                lg.create_dataset(n, data=a, **kw)
                expected[n] = {"shape": list(a.shape), "dtype": a.dtype.str, "values": a.ravel().tolist()}
    return expected


def keras3(path):
    buf = io.BytesIO()
    expected = {}
    with h5py.File(buf, "w") as f:
        lg = f.create_group("layers")
        for layer, ws in WEIGHTS.items():
            v = lg.create_group(layer).create_group("vars")
            for i, (_, a) in enumerate(ws):
                v.create_dataset(str(i), data=a)
                expected["%s/vars/%d" % (layer, i)] = {"shape": list(a.shape), "dtype": a.dtype.str,
                                                       "values": a.ravel().tolist()}
        f.create_group("optimizer").create_group("vars").create_dataset("0", data=np.array(3, dtype="<i8"))
        f.create_group("vars")
    with zipfile.ZipFile(path, "w") as z:
        for name, data in [("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2026-01-01@00:00:00"})),
                           ("config.json", json.dumps(CONFIG)),
                           ("model.weights.h5", buf.getvalue())]:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    return expected


def main():
    os.makedirs(OUT, exist_ok=True)
    exp = {"legacy.h5": legacy(os.path.join(OUT, "legacy.h5"), True),
           "weights.h5": legacy(os.path.join(OUT, "weights.h5"), False),
           "model.keras": keras3(os.path.join(OUT, "model.keras"))}
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(exp, fh, indent=1)


if __name__ == "__main__":
    main()
