#!/usr/bin/python3
"""Rewrites the TF.js layer fixtures of keras2onnx/testdata/tfjs (made by tfjs_layers.js)
as Keras files with h5py (Debian python3-h5py), so the .h5 and .keras source paths are
checked against the same TF.js outputs:
  keras2onnx/testdata/keras/<case>.h5     legacy model.save layout: root attrs
      keras_version/backend/model_config (the TF.js topology), model_weights/<layer>
      groups with weight_names, datasets "<layer>/<weight>:0".
  keras2onnx/testdata/keras/<case>.keras  Keras 3 zip: config.json in Keras 3 form
      ("module" keys, inbound nodes as {"args": [keras tensors]}), model.weights.h5 with
      layers/<layer>/vars/<i>. Only for cases whose semantics Keras 3 shares with TF.js
      (no hard_sigmoid, no bilinear upsampling).
Run: /usr/bin/python3 testdata/gen/tfjs_to_keras.py   (from the repository root)
"""
import io, json, os, zipfile
import h5py
import numpy as np

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "keras2onnx", "testdata")
KERAS3 = ["conv2d", "mobile", "pooling", "merges", "conv1d", "sequence"]


def load(case):
    d = os.path.join(ROOT, "tfjs", case)
    mj = json.load(open(os.path.join(d, "model.json")))
    data = open(os.path.join(d, "weights.bin"), "rb").read()
    layers, off = {}, 0
    for spec in mj["weightsManifest"][0]["weights"]:
        assert spec["dtype"] == "float32"
        n = int(np.prod(spec["shape"])) if spec["shape"] else 1
        a = np.frombuffer(data, "<f4", n, off).reshape(spec["shape"])
        off += 4 * n
        layer, w = spec["name"].rsplit("/", 1)
        layers.setdefault(layer, []).append((w, a))
    return mj["modelTopology"], layers


def write_h5(case, topo, layers):
    with h5py.File(os.path.join(ROOT, "keras", case + ".h5"), "w", libver="earliest") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(topo)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in layers], dtype="S")
        for layer, ws in layers.items():
            lg = g.create_group(layer)
            names = ["%s/%s:0" % (layer, w) for w, _ in ws]
            lg.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, (_, a) in zip(names, ws):
                lg.create_dataset(n, data=a)


def tensor(ref):
    return {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                         "keras_history": ref[:3]}}


def keras3_config(topo):
    cfg = json.loads(json.dumps(topo))
    cfg["module"] = "keras.src.models"
    for l in cfg["config"]["layers"]:
        l["module"] = "keras.layers"
        nodes = l.get("inbound_nodes")
        if nodes:
            new = []
            for node in nodes:
                args = [tensor(r) for r in node]
                new.append({"args": [args] if len(args) > 1 else args, "kwargs": {}})
            l["inbound_nodes"] = new
    c = cfg["config"]
    for k in ("input_layers", "output_layers"):
        if k in c and len(c[k]) == 1:
            c[k] = c[k][0]
    cfg.pop("keras_version", None)
    cfg.pop("backend", None)
    return cfg


def write_keras(case, topo, layers):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for layer, ws in layers.items():
            g = f.create_group("layers/%s/vars" % layer)
            for i, (_, a) in enumerate(ws):
                g.create_dataset(str(i), data=a)
    with zipfile.ZipFile(os.path.join(ROOT, "keras", case + ".keras"), "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2026-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(keras3_config(topo)))
        z.writestr("model.weights.h5", buf.getvalue())


os.makedirs(os.path.join(ROOT, "keras"), exist_ok=True)
for case in sorted(os.listdir(os.path.join(ROOT, "tfjs"))):
    topo, layers = load(case)
    write_h5(case, topo, layers)
    if case in KERAS3:
        write_keras(case, topo, layers)
    print(case)
