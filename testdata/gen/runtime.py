#!/usr/bin/python3
"""Writes the tiny ONNX models in runtime/testdata/models (seeds for FuzzLoad and
inputs of the runtime's example tests). Run with Debian's python3-onnx (1.12):

    /usr/bin/python3 testdata/gen/runtime.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "runtime", "testdata", "models")
F = TensorProto.FLOAT


def save(name, graph, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="refit-testdata-gen")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)

    # Broadcast arithmetic with a symbolic batch dimension.
    save("add_bcast", helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
        "add_bcast",
        [helper.make_tensor_value_info("x", F, ["batch", 3])],
        [helper.make_tensor_value_info("y", F, ["batch", 3])],
        [numpy_helper.from_array(np.array([0.5, -1, 2], np.float32), "b")]))

    # A small conv net: Conv -> BatchNorm -> Relu -> MaxPool -> Flatten -> Gemm -> Softmax.
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    save("convnet", helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "wb"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", ["c", "g", "bb", "m", "v"], ["n"]),
            helper.make_node("Relu", ["n"], ["r"]),
            helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "fc", "fcb"], ["l"], transB=1),
            helper.make_node("Softmax", ["l"], ["y"]),
        ],
        "convnet",
        [helper.make_tensor_value_info("x", F, [1, 2, 6, 6])],
        [helper.make_tensor_value_info("y", F, [1, 5])],
        [
            numpy_helper.from_array(w, "w"),
            numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "wb"),
            numpy_helper.from_array(np.ones(4, np.float32), "g"),
            numpy_helper.from_array(np.zeros(4, np.float32), "bb"),
            numpy_helper.from_array(np.zeros(4, np.float32), "m"),
            numpy_helper.from_array(np.ones(4, np.float32), "v"),
            numpy_helper.from_array(rng.standard_normal((5, 36)).astype(np.float32), "fc"),
            numpy_helper.from_array(np.zeros(5, np.float32), "fcb"),
        ]))

    # If whose branches read an outer-scope value.
    then_g = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", F, [2])])
    else_g = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", F, [2])])
    save("if_outer", helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g)],
        "if_outer",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("x", F, [2])],
        [helper.make_tensor_value_info("y", F, [2])]))

    # Loop summing x into an accumulator three times, with a scan output.
    body = helper.make_graph(
        [
            helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Identity", ["acc_out"], ["scan"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", F, [2]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", F, [2]),
            helper.make_tensor_value_info("scan", F, [2]),
        ])
    save("loop_sum", helper.make_graph(
        [helper.make_node("Loop", ["n", "", "zero"], ["sum", "steps"], body=body)],
        "loop_sum",
        [helper.make_tensor_value_info("x", F, [2])],
        [helper.make_tensor_value_info("sum", F, [2]), helper.make_tensor_value_info("steps", F, [3, 2])],
        [numpy_helper.from_array(np.array(3, np.int64), "n"), numpy_helper.from_array(np.zeros(2, np.float32), "zero")]))

    # Shape arithmetic: Shape -> Gather -> Unsqueeze -> Concat -> Reshape, opset 13 inputs.
    save("reshape_dynamic", helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
            helper.make_node("Unsqueeze", ["b", "axes"], ["b1"]),
            helper.make_node("Concat", ["b1", "minus1"], ["shape"], axis=0),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ],
        "reshape_dynamic",
        [helper.make_tensor_value_info("x", F, ["n", 2, 3])],
        [helper.make_tensor_value_info("y", F, ["n", 6])],
        [
            numpy_helper.from_array(np.array(0, np.int64), "zero"),
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
            numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
        ]), opset=13)


if __name__ == "__main__":
    main()
