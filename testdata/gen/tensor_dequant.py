#!/usr/bin/python3
"""Writes tensor/testdata/dequant/NAME.{q,f32}: 2 ggml-quantized + 2 random blocks per GGML
block type and ggml's own dequantization of them (tensor/testdata/ggml_ref.py).

Usage (from the repo root, after npm install): /usr/bin/python3 testdata/gen/tensor_dequant.py
"""
import os
import subprocess
import sys

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
lib = os.path.join(root, "node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so")
out = os.path.join(root, "tensor/testdata/dequant")
os.makedirs(out, exist_ok=True)
subprocess.run([sys.executable, os.path.join(root, "tensor/testdata/ggml_ref.py"), lib, out, "2", "1"], check=True)
