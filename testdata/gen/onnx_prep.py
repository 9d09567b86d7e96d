#!/usr/bin/python3
"""Fixtures for the ONNX model preparation (optimize.Prepare, onnx.LiftConstants) and
quantization pre-processing (run with Debian's /usr/bin/python3: torch 1.13, onnx, numpy).

Outputs in testdata/models/prep:
  paddle_const.onnx        every weight in a Constant node, as Paddle2ONNX writes them:
                           Conv(W, B) -> Relu -> Reshape -> MatMul(W) + Add(B) -> Relu
                           -> Gemm(W, C, transB=1); weights as value tensors, the shape
                           as value_ints, one bias as value_floats; input "input" [N,3,8,8]
  torch_identity_bias.onnx a torch.onnx.export (constant folding on) of three Conv+BN+ReLU
                           blocks and a Linear: BN folding gives the convs equal biases,
                           which torch deduplicates by routing two of them through Identity
  calib.npz                64 rows of "input" [64,3,8,8] (normal, seed 0) for calibration
"""
import io, os
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import torch

torch.manual_seed(0)
rng = np.random.default_rng(0)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
out = os.path.join(root, "testdata", "models", "prep")
os.makedirs(out, exist_ok=True)


def const(name, arr):
    return helper.make_node("Constant", [], [name], name=name + "_const",
                            value=numpy_helper.from_array(np.asarray(arr), name=""))


def paddle_const():
    f32 = np.float32
    nodes = [
        const("conv_w", rng.normal(0, 0.3, (8, 3, 3, 3)).astype(f32)),
        const("conv_b", rng.normal(0, 0.1, (8,)).astype(f32)),
        helper.make_node("Conv", ["input", "conv_w", "conv_b"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu1"], name="relu1"),
        helper.make_node("Constant", [], ["shape"], name="shape_const", value_ints=[-1, 8 * 8 * 8]),
        helper.make_node("Reshape", ["relu1", "shape"], ["flat"], name="reshape"),
        const("fc1_w", rng.normal(0, 0.05, (512, 32)).astype(f32)),
        helper.make_node("MatMul", ["flat", "fc1_w"], ["mm"], name="matmul"),
        helper.make_node("Constant", [], ["fc1_b"], name="fc1_b_const",
                         value_floats=[float(v) for v in rng.normal(0, 0.1, 32)]),
        helper.make_node("Add", ["mm", "fc1_b"], ["fc1"], name="add"),
        helper.make_node("Relu", ["fc1"], ["relu2"], name="relu2"),
        const("fc2_w", rng.normal(0, 0.2, (10, 32)).astype(f32)),
        const("fc2_b", rng.normal(0, 0.1, (10,)).astype(f32)),
        helper.make_node("Gemm", ["relu2", "fc2_w", "fc2_b"], ["logits"], name="gemm", transB=1),
    ]
    g = helper.make_graph(nodes, "paddle_const",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])])
    m = helper.make_model(g, producer_name="paddle2onnx-style", opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, "paddle_const.onnx"))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.b1 = torch.nn.BatchNorm2d(8)
        self.c2 = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2 = torch.nn.BatchNorm2d(8)
        self.c3 = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b3 = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8 * 8 * 8, 10)
        for bn in (self.b1, self.b2, self.b3):
            bn.bias.data.fill_(0.1)  # equal folded biases: torch deduplicates them

    def forward(self, x):
        x = torch.relu(self.b1(self.c1(x)))
        x = torch.relu(self.b2(self.c2(x)))
        x = torch.relu(self.b3(self.c3(x)))
        return self.fc(x.flatten(1))


def torch_identity_bias():
    m = Net().eval()
    f = io.BytesIO()
    torch.onnx.export(m, torch.randn(1, 3, 8, 8), f, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    mp = onnx.load_from_string(f.getvalue())
    ids = [n for n in mp.graph.node if n.op_type == "Identity"]
    assert len(ids) == 2, "torch no longer routes deduplicated biases through Identity"
    onnx.save(mp, os.path.join(out, "torch_identity_bias.onnx"))


paddle_const()
torch_identity_bias()
np.savez(os.path.join(out, "calib.npz"), input=rng.normal(0, 1, (64, 3, 8, 8)).astype(np.float32))
