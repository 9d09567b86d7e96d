#!/usr/bin/python3
"""Writes the frozen GraphDef and SavedModel fixtures of tf2onnx/testdata.

No TensorFlow is available, so the protobufs are encoded by hand from the field
numbers of tensorflow/core/framework/{graph,node_def,attr_value,tensor,tensor_shape,
function,op_def}.proto and tensorflow/core/protobuf/{saved_model,meta_graph}.proto.
The graphs are the TF.js fixtures of tf2onnx/testdata (graph/, while/, nested/, maparray/, functional/, maplist/),
whose model.json holds a GraphDef in the proto3 JSON mapping: re-encoding them as
binary gives graphs whose expected outputs TF.js computed (their y.npy).

  graphdef/graph.pb, while.pb, nested.pb, maparray.pb, functional.pb, maplist.pb   frozen graphs
      (functional.pb with a function library): float constants in
      tensor_content, integer constants as int_val (a scalar repeats to fill)
  savedmodel/   graph/ as a TF1-style SavedModel: weights are variables (VariableV2
      read through Identity, VarHandleOp read through ReadVariableOp) whose values
      live in variables/variables.{index,data-00000-of-00001}; a saver subgraph and a
      "serving_default" signature (x:0 -> prob:0); tags ["serve"]
  savedmodel_tf2/   graph/ as TF2 saves it: the signature calls library functions
      reading resource arguments, variables named by object-graph checkpoint keys
      that only the restore function (RestoreV2 + AssignVariableOp) ties to them

Run: /usr/bin/python3 testdata/gen/tfgraph.py   (from the repository root)
"""
import base64, json, os, struct, sys

sys.path.insert(0, os.path.dirname(__file__))
from tfcheckpoint import field_varint, field_bytes, varint, write_bundle  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "tf2onnx", "testdata")
DT = {"DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT64": 9, "DT_BOOL": 10,
      "DT_STRING": 7, "DT_RESOURCE": 20, "DT_VARIANT": 21}


def shape(dims, unknown=False):
    b = b"".join(field_bytes(2, field_varint(1, d & 0xFFFFFFFFFFFFFFFF)) for d in dims)
    return b + (field_varint(3, 1) if unknown else b"")


def shape_json(s):
    if s.get("unknownRank"):
        return shape([], True)
    return shape([int(d["size"]) for d in s.get("dim", [])])


def packed(num, values):
    return field_bytes(num, b"".join(varint(v & 0xFFFFFFFFFFFFFFFF) for v in values))


def attr(a):
    """An AttrValue from its proto3 JSON form."""
    if "list" in a:
        l, b = a["list"], b""
        for s in l.get("s", []):
            b += field_bytes(2, base64.b64decode(s))
        if l.get("i"):
            b += packed(3, [int(x) for x in l["i"]])
        if l.get("f"):
            b += field_bytes(4, b"".join(struct.pack("<f", x) for x in l["f"]))
        if l.get("type"):
            b += packed(6, [DT[t] for t in l["type"]])
        return field_bytes(1, b)
    if "s" in a:
        return field_bytes(2, base64.b64decode(a["s"]))
    if "i" in a:
        return field_varint(3, int(a["i"]) & 0xFFFFFFFFFFFFFFFF)
    if "f" in a:
        return struct.pack("<B", (4 << 3) | 5) + struct.pack("<f", a["f"])
    if "b" in a:
        return field_varint(5, 1 if a["b"] else 0)
    if "type" in a:
        return field_varint(6, DT[a["type"]])
    if "shape" in a:
        return field_bytes(7, shape_json(a["shape"]))
    if "func" in a:
        return field_bytes(10, field_bytes(1, a["func"]["name"].encode()))
    if "tensor" in a:  # an inline constant of a library function
        t = a["tensor"]
        b = field_varint(1, DT[t["dtype"]]) + field_bytes(2, shape_json(t.get("tensorShape", {})))
        if "floatVal" in t:
            b += field_bytes(5, b"".join(struct.pack("<f", v) for v in t["floatVal"]))
        if "intVal" in t:
            b += packed(7, t["intVal"])
        return field_bytes(8, b)
    raise ValueError(a)


def tensor(dtype, dims, raw):
    """A TensorProto: floats in tensor_content, integers as int_val (one repeated
    value when all are equal)."""
    b = field_varint(1, DT[dtype]) + field_bytes(2, shape(dims))
    if dtype == "DT_FLOAT":
        return b + field_bytes(4, raw)
    vals = list(struct.unpack("<%di" % (len(raw) // 4), raw))
    if vals and all(v == vals[0] for v in vals):
        vals = vals[:1]
    return b + packed(7, vals)


def node(name, op, inputs=(), attrs=()):
    b = field_bytes(1, name.encode()) + field_bytes(2, op.encode())
    for i in inputs:
        b += field_bytes(3, i.encode())
    for k, v in sorted(attrs):
        b += field_bytes(5, field_bytes(1, k.encode()) + field_bytes(2, v))
    return b


def load(name):
    d = os.path.join(ROOT, name)
    mj = json.load(open(os.path.join(d, "model.json")))
    raw = open(os.path.join(d, "weights.bin"), "rb").read()
    weights, off = {}, 0
    for w in mj["weightsManifest"][0]["weights"]:
        n = 4
        for s in w["shape"]:
            n *= s
        weights[w["name"]] = (w, raw[off:off + n])
        off += n
    return mj["modelTopology"]["node"], weights


def function(fn):
    """A FunctionDef from its JSON form."""
    sig = field_bytes(1, fn["signature"]["name"].encode())
    for num, key in ((2, "inputArg"), (3, "outputArg")):
        for a in fn["signature"].get(key, []):
            sig += field_bytes(num, field_bytes(1, a["name"].encode()) + field_varint(3, DT[a["type"]]))
    b = field_bytes(1, sig)
    for n in fn["nodeDef"]:
        attrs = [(k, attr(v)) for k, v in n.get("attr", {}).items()]
        b += field_bytes(3, node(n["name"], n["op"], n.get("input", []), attrs))
    for k, v in sorted(fn["ret"].items()):
        b += field_bytes(4, field_bytes(1, k.encode()) + field_bytes(2, v.encode()))
    return b


def frozen(name):
    nodes, weights = load(name)
    library = json.load(open(os.path.join(ROOT, name, "model.json")))["modelTopology"].get("library")
    g = b""
    for n in nodes:
        attrs = [(k, attr(v)) for k, v in n.get("attr", {}).items()]
        if n["op"] == "Const":
            w, raw = weights[n["name"]]
            dt = {"float32": "DT_FLOAT", "int32": "DT_INT32"}[w["dtype"]]
            attrs = [(k, v) for k, v in attrs if k != "dtype"] + [("dtype", field_varint(6, DT[dt])),
                                                                   ("value", field_bytes(8, tensor(dt, w["shape"], raw)))]
        g += field_bytes(1, node(n["name"], n["op"], n.get("input", []), attrs))
    if library:
        g += field_bytes(2, b"".join(field_bytes(1, function(fn)) for fn in library["function"]))
    g += field_bytes(4, field_varint(1, 1205))  # versions.producer
    return g


def saved_model():
    nodes, weights = load("graph")
    g, tensors = b"", []
    resource = {"w1", "dw", "fc"}  # these as VarHandleOp, the others as VariableV2
    for n in nodes:
        attrs = [(k, attr(v)) for k, v in n.get("attr", {}).items()]
        nm = n["name"]
        if n["op"] == "Const" and weights[nm][0]["dtype"] == "float32":
            w, raw = weights[nm]
            sh = [("dtype", field_varint(6, 1)), ("shape", field_bytes(7, shape(w["shape"])))]
            if nm in resource:
                g += field_bytes(1, node(nm + "/handle", "VarHandleOp", [], sh + [("shared_name", field_bytes(2, nm.encode()))]))
                g += field_bytes(1, node(nm, "ReadVariableOp", [nm + "/handle"], [("dtype", field_varint(6, 1))]))
            else:
                g += field_bytes(1, node(nm + "/var", "VariableV2", [], sh))
                g += field_bytes(1, node(nm, "Identity", [nm + "/var"], [("T", field_varint(6, 1))]))
                nm += "/var"
            tensors.append((nm if nm not in resource else n["name"], "float32", w["shape"], raw, 0))
            continue
        if n["op"] == "Const":
            w, raw = weights[nm]
            attrs = [("dtype", field_varint(6, 3)), ("value", field_bytes(8, tensor("DT_INT32", w["shape"], raw)))]
        g += field_bytes(1, node(nm, n["op"], n.get("input", []), attrs))
    # A saver subgraph the signature does not need (strings, which no conversion reads).
    g += field_bytes(1, node("save/filename", "Const", [], [("dtype", field_varint(6, 7)),
                     ("value", field_bytes(8, field_varint(1, 7) + field_bytes(2, b"") + field_bytes(8, b"model")))]))
    g += field_bytes(1, node("save/RestoreV2", "RestoreV2", ["save/filename"], []))
    g += field_bytes(1, node("save/Assign", "Assign", ["b1/var", "save/RestoreV2"], []))
    g += field_bytes(4, field_varint(1, 1205))
    info = lambda tname, dims: field_bytes(1, tname.encode()) + field_varint(2, 1) + field_bytes(3, shape(dims))
    sig = field_bytes(1, field_bytes(1, b"x") + field_bytes(2, info("x:0", [-1, 9, 9, 3]))) + \
        field_bytes(2, field_bytes(1, b"prob") + field_bytes(2, info("prob:0", [-1, 5]))) + \
        field_bytes(3, b"tensorflow/serving/predict")
    meta_info = field_bytes(4, b"serve") + field_bytes(5, b"1.15.0")
    meta = field_bytes(1, meta_info) + field_bytes(2, g) + \
        field_bytes(5, field_bytes(1, b"serving_default") + field_bytes(2, sig))
    d = os.path.join(ROOT, "savedmodel")
    os.makedirs(os.path.join(d, "variables"), exist_ok=True)
    with open(os.path.join(d, "saved_model.pb"), "wb") as fh:
        fh.write(field_varint(1, 1) + field_bytes(2, meta))
    write_bundle(os.path.join(d, "variables", "variables"), sorted(tensors))


def string_const(name, values, fn_inputs=()):
    t = field_varint(1, 7) + field_bytes(2, shape([len(values)])) + b"".join(field_bytes(8, v.encode()) for v in values)
    return node(name, "Const", list(fn_inputs), [("dtype", field_varint(6, 7)), ("value", field_bytes(8, t))])


def fdef(name, inputs, outputs, nodes, ret):
    """A FunctionDef; inputs and outputs are (name, DataType) pairs."""
    sig = field_bytes(1, name.encode())
    for a, t in inputs:
        sig += field_bytes(2, field_bytes(1, a.encode()) + field_varint(3, t))
    for a, t in outputs:
        sig += field_bytes(3, field_bytes(1, a.encode()) + field_varint(3, t))
    b = field_bytes(1, sig) + b"".join(field_bytes(3, n) for n in nodes)
    for k, v in sorted(ret.items()):
        b += field_bytes(4, field_bytes(1, k.encode()) + field_bytes(2, v.encode()))
    return field_bytes(1, b)


def saved_model_tf2():
    """graph/ as TF2's tf.saved_model.save writes it: the serving signature calls a
    function that reads the variables through resource arguments; the variables are
    top-level VarHandleOps whose shared names say nothing, and the checkpoint keys are
    object-graph paths, bound to the variables only by the restore function
    (RestoreV2 + AssignVariableOp on its resource arguments)."""
    nodes, weights = load("graph")
    fvars = [n["name"] for n in nodes if n["op"] == "Const" and weights[n["name"]][0]["dtype"] == "float32"]
    keys = {v: "layer_with_weights-%d/%s/.ATTRIBUTES/VARIABLE_VALUE" % (i, v) for i, v in enumerate(fvars)}
    # The model function: x and one resource per variable.
    body = []
    for n in nodes:
        nm = n["name"]
        if n["op"] == "Placeholder":
            continue
        if nm in fvars:
            body.append(node(nm, "ReadVariableOp", [nm + "_res"], [("dtype", field_varint(6, 1))]))
            continue
        attrs = [(k, attr(v)) for k, v in n.get("attr", {}).items()]
        if n["op"] == "Const":
            w, raw = weights[nm]
            attrs = [("dtype", field_varint(6, 3)), ("value", field_bytes(8, tensor("DT_INT32", w["shape"], raw)))]
        ins = [i if i == "x" else i + ":output:0" for i in n.get("input", [])]
        body.append(node(nm, n["op"], ins, attrs))
    res = [(v + "_res", 20) for v in fvars]
    lib = fdef("__inference_model_10", [("x", 1)] + res, [("identity", 1)], body + [node("Identity", "Identity", ["prob:output:0"], [])],
               {"identity": "Identity:output:0"})
    call = lambda name, f, ins: node(name, "StatefulPartitionedCall", ins, [("f", field_bytes(10, field_bytes(1, f.encode())))])
    lib += fdef("__inference_signature_wrapper_20", [("x", 1)] + res, [("identity", 1)],
                [call("call", "__inference_model_10", ["x"] + [r for r, _ in res])], {"identity": "call:output:0"})
    restore = [string_const("names", [keys[v] for v in fvars]), string_const("slices", ["" for _ in fvars]),
               node("restore", "RestoreV2", ["file_prefix", "names:output:0", "slices:output:0"], [])]
    for i, v in enumerate(fvars):
        restore += [node("id_%d" % i, "Identity", ["restore:tensors:%d" % i], []),
                    node("assign_%d" % i, "AssignVariableOp", [v + "_res", "id_%d:output:0" % i], [])]
    lib += fdef("__inference__traced_restore_30", [("file_prefix", 7)] + res, [("out", 7)],
                restore, {"out": "file_prefix"})
    g = field_bytes(1, node("serving_default_x", "Placeholder", [], [("dtype", field_varint(6, 1)),
                                                                 ("shape", field_bytes(7, shape([-1, 9, 9, 3])))]))
    for i, v in enumerate(fvars):
        g += field_bytes(1, node("variable_%d" % i, "VarHandleOp", [], [("dtype", field_varint(6, 1)),
                                 ("shared_name", field_bytes(2, b"variable_%d_1001" % i))]))
    var_nodes = ["variable_%d" % i for i in range(len(fvars))]
    g += field_bytes(1, call("StatefulPartitionedCall", "__inference_signature_wrapper_20", ["serving_default_x"] + var_nodes))
    g += field_bytes(1, string_const("saver_filename", ["model"]))
    g += field_bytes(1, call("StatefulPartitionedCall_1", "__inference__traced_restore_30", ["saver_filename"] + var_nodes))
    g += field_bytes(2, lib) + field_bytes(4, field_varint(1, 1205))
    info = lambda tname: field_bytes(1, tname.encode()) + field_varint(2, 1)
    sig = field_bytes(1, field_bytes(1, b"x") + field_bytes(2, info("serving_default_x:0"))) + \
        field_bytes(2, field_bytes(1, b"output_0") + field_bytes(2, info("StatefulPartitionedCall:0"))) + \
        field_bytes(3, b"tensorflow/serving/predict")
    meta = field_bytes(1, field_bytes(4, b"serve") + field_bytes(5, b"2.15.0")) + field_bytes(2, g) + \
        field_bytes(5, field_bytes(1, b"serving_default") + field_bytes(2, sig))
    d = os.path.join(ROOT, "savedmodel_tf2")
    os.makedirs(os.path.join(d, "variables"), exist_ok=True)
    with open(os.path.join(d, "saved_model.pb"), "wb") as fh:
        fh.write(field_varint(1, 1) + field_bytes(2, meta))
    write_bundle(os.path.join(d, "variables", "variables"),
                 sorted((keys[v], "float32", weights[v][0]["shape"], weights[v][1], 0) for v in fvars))


def main():
    out = os.path.join(ROOT, "graphdef")
    os.makedirs(out, exist_ok=True)
    for name in ("graph", "while", "nested", "maparray", "functional", "maplist"):
        with open(os.path.join(out, name + ".pb"), "wb") as fh:
            fh.write(frozen(name))
    saved_model()
    saved_model_tf2()


if __name__ == "__main__":
    main()
