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
  noweights.onnx    MatMul of input x [N, 4, 4] with itself and a Relu, no initializers:
                    nothing to prune or quantize, however the graph is prepared
  noweights_data.npz
                    8 rows of x (calibration data)
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


def noweights(path):
    nodes = [
        helper.make_node("MatMul", ["x", "x"], ["m"], name="attn_scores"),
        helper.make_node("Relu", ["m"], ["y"], name="relu"),
    ]
    g = helper.make_graph(nodes, "noweights",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="hand-built")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)
    rng = np.random.default_rng(0)
    np.savez(os.path.splitext(path)[0] + "_data.npz", x=rng.standard_normal((8, 4, 4)).astype(np.float32))


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    recognizer(os.path.join(out, "recognizer.onnx"))
    recognizer(os.path.join(out, "recognizer_reshape.onnx"), reshape=True)
    noweights(os.path.join(out, "noweights.onnx"))
