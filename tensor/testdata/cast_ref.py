#!/usr/bin/python3
"""Reference float casts by numpy and torch, for tensor's interop tests.

Usage: cast_ref.py DIR
Reads DIR/f32.bin (little-endian float32) and DIR/f64.bin (float64); writes raw little-endian:
  f16_to_f32.numpy, f16_to_f32.torch     all 65536 binary16 patterns widened
  bf16_to_f32.torch                      all 65536 bfloat16 patterns widened
  f32_to_f16.numpy, f32_to_f16.torch     f32.bin narrowed
  f32_to_bf16.torch                      f32.bin narrowed (torch.tensor(...).to(torch.bfloat16))
  f64_to_f16.numpy                       f64.bin narrowed directly
"""
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
d = sys.argv[1]


def out(name, arr):
    with open(os.path.join(d, name), "wb") as f:
        f.write(np.ascontiguousarray(arr).tobytes())


bits = np.arange(65536, dtype=np.uint32).astype(np.uint16)
out("f16_to_f32.numpy", bits.view(np.float16).astype(np.float32))
out("f16_to_f32.torch", torch.from_numpy(bits.view(np.int16).copy()).view(torch.float16).to(torch.float32).numpy())
out("bf16_to_f32.torch", torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16).to(torch.float32).numpy())
f32 = np.fromfile(os.path.join(d, "f32.bin"), dtype="<f4")
out("f32_to_f16.numpy", f32.astype(np.float16))
out("f32_to_f16.torch", torch.tensor(f32).to(torch.float16).view(torch.int16).numpy())
out("f32_to_bf16.torch", torch.tensor(f32).to(torch.bfloat16).view(torch.int16).numpy())
f64 = np.fromfile(os.path.join(d, "f64.bin"), dtype="<f8")
out("f64_to_f16.numpy", f64.astype(np.float16))
