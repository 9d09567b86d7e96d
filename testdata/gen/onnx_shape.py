#!/usr/bin/python3
"""Small ONNX models for symbolic input shapes and for compression requests that
change nothing (run with Debian's /usr/bin/python3: torch 1.13, onnx 1.12).

Usage: /usr/bin/python3 testdata/gen/onnx_shape.py testdata/models/shape

Writes:
  recognizer.onnx   text-recognizer-like CNN, input x [N, 3, 48, W] (N, W symbolic):
                    two strided Convs, an AveragePool with a 12x2 window, then the
                    width becomes a sequence (Squeeze/Transpose) fed to a Linear, so
                    W=1 fails inside AveragePool and W>=5 runs (torch.onnx.export
                    with dynamic_axes)
  recognizer_reshape.onnx
                    the same with a Reshape (x.view) between the Convs: the graph's
                    windows are not traced through it, so W defaults to 1 and running
                    fails unless --shape gives the width
  constweights.onnx Conv + MatMul whose weights are Constant nodes, no initializers
                    (as Paddle2ONNX exports): nothing to prune or quantize
                    until the weights are lifted into initializers
Seeded; deterministic for a torch build.
"""
import os, sys

import onnx
from onnx import TensorProto, helper
import numpy as np
import torch
import torch.nn as nn



class Recognizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 2, 1)
        self.pool = nn.AvgPool2d((12, 2), (12, 2))
        self.fc = nn.Linear(16, 10)

    reshape = False

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        if self.reshape:
            x = x.view(x.shape[0], 8, 24, -1)
        x = torch.relu(self.conv2(x))
        x = self.pool(x)            # [N, 16, 1, W/8]
        x = x.squeeze(2).permute(0, 2, 1)  # [N, W/8, 16]
        return self.fc(x)


def recognizer(path, reshape=False):
    torch.manual_seed(0)
    m = Recognizer().eval()
    m.reshape = reshape
    torch.onnx.export(m, torch.randn(1, 3, 48, 64), path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "N", 3: "W"}, "logits": {0: "N", 1: "T"}}, opset_version=13)


def constweights(path):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    m = rng.standard_normal((4 * 6 * 6, 5)).astype(np.float32)
    const = lambda name, a: helper.make_node("Constant", [], [name], value=helper.make_tensor(name + "_v", TensorProto.FLOAT, a.shape, a.ravel()))
    shape = np.array([1, -1], dtype=np.int64)
    nodes = [
        const("W", w), const("B", b), const("M", m),
        helper.make_node("Constant", [], ["S"], value=helper.make_tensor("S_v", TensorProto.INT64, [2], shape)),
        helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "S"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "M"], ["y"], name="fc"),
    ]
    g = helper.make_graph(nodes, "constweights",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="hand-built")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    recognizer(os.path.join(out, "recognizer.onnx"))
    recognizer(os.path.join(out, "recognizer_reshape.onnx"), reshape=True)
    constweights(os.path.join(out, "constweights.onnx"))
