#!/usr/bin/python3
"""Makes the ONNX fixtures of format/onnx/testdata with Debian's python3-onnx.

Run from the repository root: /usr/bin/python3 testdata/gen/onnx_fixtures.py
Outputs (deterministic):
  small.onnx          Y = X @ W + B, then Relu; weights inline (raw_data, float_data, int64 typed)
  ext/model.onnx      the same graph saved with external data in ext/weights.bin
"""
import os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "format", "onnx", "testdata")


def build():
    w = numpy_helper.from_array(np.arange(32, dtype=np.float32).reshape(4, 8) / 8, "W")
    b = helper.make_tensor("B", TensorProto.FLOAT, [8], [0.5 * i for i in range(8)])  # float_data
    shape = helper.make_tensor("S", TensorProto.INT64, [2], [1, 8])  # int64_data
    h = numpy_helper.from_array(np.linspace(-2, 2, 16).astype(np.float16).reshape(2, 8), "H")
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["XW"], name="mm"),
        helper.make_node("Add", ["XW", "B"], ["XWB"], name="add"),
        helper.make_node("Reshape", ["XWB", "S"], ["R"], name="reshape"),
        helper.make_node("Relu", ["R"], ["Y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes, "small",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 8])],
        initializer=[w, b, shape, h],
    )
    model = helper.make_model(graph, producer_name="refit-testdata", opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    helper.set_model_props(model, {"author": "refit", "purpose": "fixture"})
    onnx.checker.check_model(model)
    return model


def main():
    os.makedirs(os.path.join(OUT, "ext"), exist_ok=True)
    onnx.save_model(build(), os.path.join(OUT, "small.onnx"))
    for f in ("model.onnx", "weights.bin"):
        p = os.path.join(OUT, "ext", f)
        if os.path.exists(p):
            os.remove(p)
    onnx.save_model(build(), os.path.join(OUT, "ext", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    m = onnx.load(os.path.join(OUT, "ext", "model.onnx"))
    onnx.checker.check_model(m)


if __name__ == "__main__":
    main()
