#!/usr/bin/python3
"""Export the shipped MNIST CNN to ONNX with its BatchNormalization nodes kept
(testdata/models/mnist/mnist_cnn_bn.onnx), for refit optimize to fold.

torch's default export (mnist_cnn.onnx) already folds BatchNorm into the convolutions;
TrainingMode.PRESERVE on a model in eval mode keeps them as inference BatchNormalization.
Run with Debian's /usr/bin/python3 after mnist_model.py.
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
out = os.path.join(root, "testdata", "models", "mnist")


class Net(nn.Module):  # the architecture of mnist_model.py
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
net.load_state_dict(torch.load(os.path.join(out, "mnist_cnn.pt")))
net.eval()
torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(out, "mnist_cnn_bn.onnx"), opset_version=13,
                  training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
