#!/usr/bin/python3
"""Writes the hostile ONNX graphs of hostile/testdata/rtconv: convolutions whose
geometry would make the runtime's fast convolution layouts far larger than the
convolution's input and output. hostile/rtconv_test.go runs `refit run` on each
under a 1 GiB address-space limit and expects it to finish. Run with Debian's
python3-onnx (1.12):

    /usr/bin/python3 testdata/gen/hostile_rtconv.py
"""
import os

import onnx
from onnx import TensorProto, helper

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "hostile", "testdata", "rtconv")
F = TensorProto.FLOAT


def save(name, nodes, inputs, outputs):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="refit-hostile-gen")
    model.ir_version = 8
    onnx.checker.check_model(model)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(model.SerializeToString())


os.makedirs(OUT, exist_ok=True)
# A kernel as wide as the 4096-wide rows: one output column per row, while a layout
# that keeps whole rows per output row would hold 16 x 4096 x 4096 floats (1 GiB).
# The weights are an input, so the file stays small (refit run makes random inputs).
save("conv_kernel_as_wide_as_rows",
     [helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 1, 0, 0])],
     [helper.make_tensor_value_info("x", F, [1, 1, 4096, 4096]),
      helper.make_tensor_value_info("w", F, [16, 1, 1, 4096])],
     [helper.make_tensor_value_info("y", F, [1, 16, 4096, 2])])
