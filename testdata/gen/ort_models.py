#!/usr/bin/python3
"""Export the models that interop/ort and bench/runtime.py run through Refit's runtime and
ONNX Runtime (run with Debian's /usr/bin/python3: torch 1.13, onnx 1.12).

Usage: /usr/bin/python3 testdata/gen/ort_models.py OUTDIR [NAME ...]

Writes into OUTDIR (big files: a cache, never committed):
  resnet18_op13.onnx, resnet18_op17.onnx  ResNet-18 (written here; torchvision is not
                                          installed), eval mode, 1x3x224x224; BatchNorm folded
                                          into Conv at opset 13, BatchNormalization at 17
  transformer_op14.onnx, transformer_op17.onnx
                                          embedding + 4-layer nn.TransformerEncoder (d_model
                                          256, 4 heads) + LayerNorm + classifier, 1x128 ids
                                          (opset 17 exports LayerNormalization)
  mlp.onnx                                Linear/GELU/Tanh/Sigmoid/Dropout/LogSoftmax, dynamic batch
  cnn.onnx                                Conv (grouped, strided)/BatchNormalization/MaxPool/AvgPool/global pooling/
                                          Flatten/Dropout, dynamic batch
  models.json                             the list of models with their inputs, written last
                                          (its presence marks a complete cache)
Weights are seeded; BatchNorm running statistics are calibrated on random batches so
activations stay in a realistic range through deep stacks. Deterministic for a torch build.
"""
import json, os, sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


class Transformer(nn.Module):
    def __init__(self, vocab=1000, d=256, heads=4, layers=4, seq=128, classes=10):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.randn(1, seq, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, classes)

    def forward(self, ids):
        x = self.encoder(self.embed(ids) + self.pos)
        return self.head(self.norm(x).mean(dim=1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(64, 128), nn.GELU(), nn.Dropout(0.2),
            nn.Linear(128, 128), nn.Tanh(),
            nn.Linear(128, 64), nn.Sigmoid(),
            nn.Linear(64, 10), nn.LogSoftmax(dim=-1))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, groups=2), nn.BatchNorm2d(32), nn.LeakyReLU(0.1),
            nn.AvgPool2d(2),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(32, 10))

    def forward(self, x):
        return F.softmax(self.classifier(self.features(x)), dim=-1)


def calibrate(model, make_batch, steps=4):
    """Sets BatchNorm running statistics from a few random batches, then eval mode."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(steps):
            model(make_batch())
    model.eval()


def export(model, args, path, opset, input_names, dynamic=None, fold=True):
    # Grad mode stays on: under no_grad, torch 1.13's nn.TransformerEncoderLayer takes its
    # fused fast path (aten::_transformer_encoder_layer_fwd), which has no ONNX export.
    with torch.enable_grad():
        torch.onnx.export(model, args, path, opset_version=opset, input_names=input_names,
                          output_names=["logits"], dynamic_axes=dynamic, do_constant_folding=fold,
                          # EVAL would fuse BatchNorm into Conv; PRESERVE keeps the nodes
                          # (the model is in eval mode either way).
                          training=torch.onnx.TrainingMode.EVAL if fold else torch.onnx.TrainingMode.PRESERVE)


def build(name, out):
    """Exports one model family; returns its entries for models.json."""
    torch.manual_seed({"resnet18": 1, "transformer": 2, "mlp": 3, "cnn": 4}[name])
    if name == "resnet18":
        m = ResNet18()
        calibrate(m, lambda: torch.randn(4, 3, 224, 224), steps=2)
        x = torch.randn(1, 3, 224, 224)
        entries = []
        for opset in (13, 17):
            f = f"resnet18_op{opset}.onnx"
            # opset 13 gets BatchNorm folded into Conv by torch; opset 17 keeps the
            # BatchNormalization nodes (and Refit's optimizer can fold them).
            export(m, (x,), os.path.join(out, f), opset, ["input"], fold=opset == 13)
            entries.append({"name": f[:-5], "file": f, "classifier": True})
        return entries
    if name == "transformer":
        m = Transformer().eval()
        ids = torch.randint(0, 1000, (1, 128))
        entries = []
        for opset in (14, 17):
            f = f"transformer_op{opset}.onnx"
            export(m, (ids,), os.path.join(out, f), opset, ["input_ids"])
            entries.append({"name": f[:-5], "file": f, "classifier": True})
        return entries
    if name == "mlp":
        m = MLP().eval()
        export(m, (torch.randn(2, 64),), os.path.join(out, "mlp.onnx"), 13, ["input"],
               {"input": {0: "batch"}, "logits": {0: "batch"}})
        return [{"name": "mlp", "file": "mlp.onnx", "classifier": True, "dims": {"batch": 4}}]
    if name == "cnn":
        m = CNN()
        calibrate(m, lambda: torch.randn(8, 3, 32, 32) * 2 + 0.5)
        export(m, (torch.randn(2, 3, 32, 32),), os.path.join(out, "cnn.onnx"), 13, ["input"],
               {"input": {0: "batch"}, "logits": {0: "batch"}}, fold=False)
        return [{"name": "cnn", "file": "cnn.onnx", "classifier": True, "dims": {"batch": 3}}]
    raise SystemExit(f"unknown model {name}")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = sys.argv[1]
    names = sys.argv[2:] or ["mlp", "cnn", "transformer", "resnet18"]
    os.makedirs(out, exist_ok=True)
    entries = []
    for n in names:
        entries += build(n, out)
    tmp = os.path.join(out, "models.json.tmp")
    with open(tmp, "w") as f:
        json.dump(entries, f, indent=1)
    os.replace(tmp, os.path.join(out, "models.json"))


if __name__ == "__main__":
    main()
