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
KERAS3 = ["conv2d", "mobile", "pooling", "merges", "conv1d", "sequence",
          "conv3d", "conv2dt", "nested", "timedist", "bidir", "masked", "masking"]
RNN_CELLS = {"LSTM": "lstm_cell", "GRU": "gru_cell", "SimpleRNN": "simple_rnn_cell"}


def topology_layers(topo):
    """Top-level layers by name, and for layers of nested models the model holding them."""
    cfg = topo["model_config"] if "model_config" in topo else topo
    c = cfg["config"]
    layers = c["layers"] if isinstance(c, dict) else c
    top = {l.get("name") or l["config"]["name"]: l for l in layers}
    owner = {}
    for name, l in top.items():
        if l["class_name"] in ("Sequential", "Model", "Functional"):
            ic = l["config"]
            for il in (ic["layers"] if isinstance(ic, dict) else ic):
                owner[il.get("name") or il["config"]["name"]] = name
    return top, owner


def keras_names(path, top, owner, index):
    """Maps a TF.js weight name to (h5 group, h5 weight name, Keras 3 dataset path) as
    tf.keras 2.15 and Keras 3 name them; index is the weight's position in its layer."""
    parts = path.split("/")
    first, w = parts[0], parts[-1]
    if first in owner:  # a layer of a nested model: h5 by the model's group, Keras 3 by path
        m = owner[first]
        return m, "%s/%s:0" % (first, w), "layers/%s/layers/%s/vars/%d" % (m, first, index)
    cls = top[first]["class_name"]
    if cls == "Bidirectional":
        half = parts[1]
        inner = top[first]["config"]["layer"]["class_name"]
        side = "forward_layer" if half.startswith("forward_") else "backward_layer"
        return first, "%s/%s/%s/%s:0" % (first, half, RNN_CELLS[inner], w), \
            "layers/%s/%s/cell/vars/%d" % (first, side, index)
    if cls == "TimeDistributed":
        return first, "%s/%s:0" % (first, w), "layers/%s/layer/vars/%d" % (first, index)
    if cls in RNN_CELLS:
        return first, "%s/%s/%s:0" % (first, RNN_CELLS[cls], w), "layers/%s/cell/vars/%d" % (first, index)
    return first, "%s/%s:0" % (first, w), "layers/%s/vars/%d" % (first, index)


def load(case):
    d = os.path.join(ROOT, "tfjs", case)
    mj = json.load(open(os.path.join(d, "model.json")))
    data = open(os.path.join(d, "weights.bin"), "rb").read()
    top, owner = topology_layers(mj["modelTopology"])
    groups, keras3, off = {}, [], 0
    count = {}
    for spec in mj["weightsManifest"][0]["weights"]:
        assert spec["dtype"] == "float32"
        n = int(np.prod(spec["shape"])) if spec["shape"] else 1
        a = np.frombuffer(data, "<f4", n, off).reshape(spec["shape"])
        off += 4 * n
        sub = spec["name"].rsplit("/", 1)[0]
        index = count.get(sub, 0)
        count[sub] = index + 1
        group, h5name, k3path = keras_names(spec["name"], top, owner, index)
        groups.setdefault(group, []).append((h5name, a))
        keras3.append((k3path, a))
    return mj["modelTopology"], groups, keras3


def write_h5(case, topo, groups):
    with h5py.File(os.path.join(ROOT, "keras", case + ".h5"), "w", libver="earliest") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(topo)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in groups], dtype="S")
        for layer, ws in groups.items():
            lg = g.create_group(layer)
            lg.attrs["weight_names"] = np.array([n.encode() for n, _ in ws], dtype="S")
            for n, a in ws:
                lg.create_dataset(n, data=a)


def tensor(ref):
    return {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                         "keras_history": ref[:3]}}


def keras3_model(cfg):
    """Rewrites a model config (and the models nested in it) in Keras 3's form."""
    cfg["module"] = "keras.src.models"
    c = cfg["config"]
    for l in c["layers"]:
        l["module"] = "keras.layers"
        if "layer" in l["config"]:
            l["config"]["layer"]["module"] = "keras.layers"
        if l["class_name"] in ("Sequential", "Model", "Functional"):
            keras3_model(l)
        nodes = l.get("inbound_nodes")
        if nodes:
            new = []
            for node in nodes:
                args = [tensor(r) for r in node]
                new.append({"args": [args] if len(args) > 1 else args, "kwargs": {}})
            l["inbound_nodes"] = new
    for k in ("input_layers", "output_layers"):
        if k in c and len(c[k]) == 1:
            c[k] = c[k][0]
    return cfg


def keras3_config(topo):
    cfg = keras3_model(json.loads(json.dumps(topo)))
    cfg.pop("keras_version", None)
    cfg.pop("backend", None)
    return cfg


def write_keras(case, topo, keras3):
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, a in keras3:
            f.create_dataset(path, data=a)
    with zipfile.ZipFile(os.path.join(ROOT, "keras", case + ".keras"), "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.3.3", "date_saved": "2026-01-01@00:00:00"}))
        z.writestr("config.json", json.dumps(keras3_config(topo)))
        z.writestr("model.weights.h5", buf.getvalue())


os.makedirs(os.path.join(ROOT, "keras"), exist_ok=True)
for case in sorted(os.listdir(os.path.join(ROOT, "tfjs"))):
    topo, groups, keras3 = load(case)
    write_h5(case, topo, groups)
    if case in KERAS3:
        write_keras(case, topo, keras3)
    print(case)
