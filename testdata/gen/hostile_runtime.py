#!/usr/bin/python3
"""Writes the hostile ONNX graphs of hostile/testdata/runtime: tiny files that ask
Refit's runtime for far more memory or time than they are worth. hostile/runtime_test.go
runs `refit run` on each under a 4 GiB address-space limit and expects a clear error.
Run with Debian's python3-onnx (1.12):

    /usr/bin/python3 testdata/gen/hostile_runtime.py

The files are malformed on purpose, so onnx.checker is not run on them.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "hostile", "testdata", "runtime")
F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL


def i64(name, *values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def f32(name, *values):
    return numpy_helper.from_array(np.array(values, np.float32), name)


def out(name, elem=F):
    return helper.make_tensor_value_info(name, elem, None)


def save(name, nodes, outputs, inits, inputs=()):
    graph = helper.make_graph(nodes, name, list(inputs), outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="refit-hostile-gen")
    model.ir_version = 8
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


def loop_body(name, nodes, outputs, carried=()):
    """A Loop body: inputs (i, cond, carried...), outputs (cond, ...)."""
    inputs = [helper.make_tensor_value_info("i", I64, []), helper.make_tensor_value_info("cond", B, [])]
    inputs += [helper.make_tensor_value_info(c, F, None) for c in carried]
    return helper.make_graph(nodes, name, inputs, [helper.make_tensor_value_info("cond_out", B, [])] + outputs)


def main():
    os.makedirs(OUT, exist_ok=True)
    gib4 = 1 << 30  # float32 elements in 4 GiB, below the 2^31-element cap of one tensor

    # One node asks for 4 GiB.
    save("constant_of_shape_4gib", [helper.make_node("ConstantOfShape", ["shape"], ["y"])], [out("y")], [i64("shape", gib4)])
    save("expand_4gib", [helper.make_node("Expand", ["x", "shape"], ["y"])], [out("y")],
         [f32("x", 1), i64("shape", 1 << 15, 1 << 15)])
    save("tile_4gib", [helper.make_node("Tile", ["x", "reps"], ["y"])], [out("y")], [f32("x", 1, 2), i64("reps", gib4 // 2)])
    for mode in ("nearest", "linear"):
        save("resize_%s_4gib" % mode, [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)], [out("y")],
             [numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "x"), f32("scales", 1, 1, 1 << 14, 1 << 14)])
    save("range_8gib", [helper.make_node("Range", ["a", "b", "d"], ["y"])], [out("y", I64)],
         [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("a", 0), ("b", gib4), ("d", 1))])

    # An input declared [32768, 32768]: refit run makes random inputs of that shape.
    save("input_declared_4gib", [helper.make_node("Neg", ["x"], ["y"])], [out("y")], [],
         inputs=[helper.make_tensor_value_info("x", F, [1 << 15, 1 << 15])])

    # 1 GiB tensors whose kernels need more than their output: a reduction's index
    # table, and an output that refit run must summarize without copying.
    save("reduce_1gib", [helper.make_node("ConstantOfShape", ["shape"], ["c"]),
                         helper.make_node("ReduceSum", ["c"], ["y"], keepdims=0)], [out("y")], [i64("shape", 1 << 14, 1 << 14)])
    save("expand_output_1gib", [helper.make_node("Expand", ["x", "shape"], ["y"])], [out("y")], [i64("shape", 1 << 28)],
         inputs=[helper.make_tensor_value_info("x", F, [1])])

    # Range bounds whose length overflows int64, or is not a number.
    save("range_int64_overflow", [helper.make_node("Range", ["a", "b", "d"], ["y"])], [out("y", I64)],
         [numpy_helper.from_array(np.array(v, np.int64), n)
          for n, v in (("a", np.iinfo(np.int64).min), ("b", np.iinfo(np.int64).max), ("d", 1))])
    save("range_nan", [helper.make_node("Range", ["a", "b", "d"], ["y"])], [out("y")],
         [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("a", 0), ("b", np.nan), ("d", 1))])

    # Four 1 GiB tensors live at once: each fits the budget, their total does not.
    save("sum_live_4gib",
         [helper.make_node("ConstantOfShape", ["shape"], ["c%d" % k], value=f32("v", k)) for k in range(4)]
         + [helper.make_node("Sum", ["c0", "c1", "c2", "c3"], ["y"])],
         [out("y")], [i64("shape", 1 << 28)])

    # A Loop of 2^40 trips collecting a 4 KiB scan output per iteration.
    body = loop_body("collect", [
        helper.make_node("Identity", ["cond"], ["cond_out"]),
        helper.make_node("ConstantOfShape", ["n"], ["s"], value=f32("v", 1)),
    ], [out("s")])
    save("loop_scan_collect", [helper.make_node("Loop", ["trips", ""], ["scan"], body=body)], [out("scan")],
         [i64("trips", 1 << 40), i64("n", 1024)])

    # A Loop doubling its carried value every iteration: 2^64 elements after 64 trips.
    body = loop_body("double", [
        helper.make_node("Identity", ["cond"], ["cond_out"]),
        helper.make_node("Concat", ["x", "x"], ["x2"], axis=0),
    ], [out("x2")], carried=["x"])
    save("loop_doubling", [helper.make_node("Loop", ["trips", "", "x0"], ["y"], body=body)], [out("y")],
         [i64("trips", 64), f32("x0", 1)])

    # Loops in loops, 2^31 trips each (run with a small --max-iterations), and a Loop with
    # neither a trip count nor a condition that ever turns false.
    inner = loop_body("inner", [
        helper.make_node("Identity", ["cond"], ["cond_out"]),
        helper.make_node("Neg", ["x"], ["x2"]),
    ], [out("x2")], carried=["x"])
    outer = loop_body("outer", [
        helper.make_node("Identity", ["cond"], ["cond_out"]),
        helper.make_node("Loop", ["trips", "", "x"], ["x2"], body=inner),
    ], [out("x2")], carried=["x"])
    save("loop_nested", [helper.make_node("Loop", ["trips", "", "x0"], ["y"], body=outer)], [out("y")],
         [i64("trips", 1 << 31), f32("x0", 1)])
    save("loop_forever", [helper.make_node("Loop", ["", "go", "x0"], ["y"], body=loop_body(
        "forever", [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Identity", ["x"], ["x2"])],
        [out("x2")], carried=["x"]))], [out("y")],
         [numpy_helper.from_array(np.array(True), "go"), f32("x0", 1)])

    # Initializers declaring 2^40 elements and holding one value (typed and raw data).
    # (helper.make_tensor refuses them, so the protos are filled by hand.)
    typed = TensorProto(name="w", data_type=F, dims=[1 << 40], float_data=[1.0])
    save("initializer_2p40_typed", [helper.make_node("Identity", ["w"], ["y"])], [out("y")], [typed])
    raw = TensorProto(name="w", data_type=F, dims=[1 << 40], raw_data=np.array([1], np.float32).tobytes())
    save("initializer_2p40_raw", [helper.make_node("Identity", ["w"], ["y"])], [out("y")], [raw])


if __name__ == "__main__":
    main()
