#!/usr/bin/python3
"""Writes Keras models of layers TF.js does not implement (Conv1DTranspose with
output_padding and dilation, ZeroPadding3D, Cropping3D, UpSampling3D, Global pooling 3D)
as legacy .h5 files with h5py, with outputs computed by an independent reference
written in torch 1.13 (Debian python3-torch):
  keras2onnx/testdata/torchref/<case>.h5     model_config + model_weights (Keras 2 layout)
  keras2onnx/testdata/torchref/<case>/x.npy  input, channels-last
  keras2onnx/testdata/torchref/<case>/y.npy  the reference output
The transposed convolution is defined as TensorFlow defines it, as the gradient of the
forward convolution (with TF's "same" padding split) taken with autograd, not by the
padding arithmetic the converter uses; output sizes follow Keras' deconv_output_length.
Run: /usr/bin/python3 testdata/gen/keras_torchref.py   (from the repository root)
"""
import json, os
import h5py
import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "keras2onnx", "testdata", "torchref")
rng = np.random.default_rng(19)


def rand(*shape):
    return (rng.random(shape, dtype=np.float32) - 0.5).astype("<f4")


def write(case, config, weights, x, y):
    """weights: {layer: [(weight name, array)]} in the layer's order."""
    os.makedirs(os.path.join(ROOT, case), exist_ok=True)
    with h5py.File(os.path.join(ROOT, case + ".h5"), "w", libver="earliest") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config)
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([n.encode() for n in weights], dtype="S")
        for layer, ws in weights.items():
            lg = g.create_group(layer)
            names = ["%s/%s:0" % (layer, w) for w, _ in ws]
            lg.attrs["weight_names"] = np.array([n.encode() for n in names], dtype="S")
            for n, (_, a) in zip(names, ws):
                lg.create_dataset(n, data=a)
    np.save(os.path.join(ROOT, case, "x.npy"), x.astype("<f4"))
    np.save(os.path.join(ROOT, case, "y.npy"), np.ascontiguousarray(y, dtype="<f4"))
    print(case, x.shape, "->", y.shape)


def tf_same_pads(n_in, k, s, d):
    eff = (k - 1) * d + 1
    out = -(-n_in // s)
    total = max((out - 1) * s + eff - n_in, 0)
    return total // 2, total - total // 2


def out_len(n, k, s, d, padding, output_padding):
    """Keras deconv_output_length."""
    eff = (k - 1) * d + 1
    if output_padding is None:
        return n * s + max(eff - s, 0) if padding == "valid" else n * s
    pad = eff // 2 if padding == "same" else 0
    return (n - 1) * s + eff - 2 * pad + output_padding


def conv1d_transpose(x, kernel, bias, s, d, padding, output_padding):
    """x [B, W, C] channels-last; kernel [k, filters, C]. TF's conv1d_transpose: the
    gradient, with respect to its input z [B, out, filters], of conv1d(z) . x."""
    k, filters, _ = kernel.shape
    n = out_len(x.shape[1], k, s, d, padding, output_padding)
    z = torch.zeros(x.shape[0], filters, n, dtype=torch.float64, requires_grad=True)
    w = torch.tensor(kernel, dtype=torch.float64).permute(2, 1, 0)  # [C, filters, k]
    zp = z
    if padding == "same":
        zp = F.pad(z, tf_same_pads(n, k, s, d))
    fwd = F.conv1d(zp, w, stride=s, dilation=d)
    xt = torch.tensor(x, dtype=torch.float64).permute(0, 2, 1)
    fwd = fwd[..., :xt.shape[2]]  # output_padding extends z beyond what the forward conv covers
    assert fwd.shape == xt.shape, (fwd.shape, xt.shape)
    (fwd * xt).sum().backward()
    y = z.grad.permute(0, 2, 1).numpy()
    return y + bias if bias is not None else y


def conv1dt():
    x = rand(2, 7, 3)
    specs = [  # name, filters, k, s, d, padding, output_padding, bias
        ("ct1", 4, 3, 2, 1, "same", None, True),
        ("ct2", 3, 4, 3, 1, "valid", 2, True),
        ("ct3", 2, 2, 3, 1, "valid", None, False),
        ("ct4", 2, 3, 1, 2, "same", None, True),
        ("ct5", 2, 3, 2, 1, "same", 1, True),
    ]
    layers = [{"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [None, 7, 3], "dtype": "float32"}}]
    weights, y = {}, x
    for name, filters, k, s, d, padding, op, use_bias in specs:
        layers.append({"class_name": "Conv1DTranspose", "config": {
            "name": name, "filters": filters, "kernel_size": [k], "strides": [s], "dilation_rate": [d],
            "padding": padding, "output_padding": None if op is None else [op], "use_bias": use_bias,
            "activation": "linear", "data_format": "channels_last"}})
        kernel = rand(k, filters, y.shape[2])
        bias = rand(filters) if use_bias else None
        weights[name] = [("kernel", kernel)] + ([("bias", bias)] if use_bias else [])
        y = conv1d_transpose(y, kernel, bias, s, d, padding, op)
    config = {"class_name": "Sequential", "config": {"name": "conv1dt", "layers": layers}}
    write("conv1dt", config, weights, x, y)


def spatial3d():
    x = rand(2, 3, 4, 2, 2)
    def node(*names):
        return [[[n, 0, 0, {}] for n in names]]
    layers = [
        {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_input_shape": [None, 3, 4, 2, 2]}, "inbound_nodes": []},
        {"class_name": "ZeroPadding3D", "name": "pad", "config": {"name": "pad", "padding": [[1, 0], [0, 2], [1, 1]]}, "inbound_nodes": node("x")},
        {"class_name": "Cropping3D", "name": "crop", "config": {"name": "crop", "cropping": [[0, 1], [1, 0], [0, 1]]}, "inbound_nodes": node("pad")},
        {"class_name": "UpSampling3D", "name": "up", "config": {"name": "up", "size": [2, 1, 3]}, "inbound_nodes": node("crop")},
        {"class_name": "Conv3D", "name": "conv", "config": {"name": "conv", "filters": 3, "kernel_size": [2, 2, 2], "strides": [1, 2, 1],
                                                            "padding": "valid", "activation": "relu", "use_bias": True}, "inbound_nodes": node("up")},
        {"class_name": "GlobalMaxPooling3D", "name": "gmax", "config": {"name": "gmax"}, "inbound_nodes": node("conv")},
        {"class_name": "GlobalAveragePooling3D", "name": "gavg", "config": {"name": "gavg"}, "inbound_nodes": node("conv")},
        {"class_name": "Flatten", "name": "flat", "config": {"name": "flat"}, "inbound_nodes": node("conv")},
        {"class_name": "Concatenate", "name": "out", "config": {"name": "out", "axis": -1}, "inbound_nodes": node("gmax", "gavg", "flat")},
    ]
    kernel, bias = rand(2, 2, 2, 2, 3), rand(3)
    t = torch.tensor(x, dtype=torch.float64)
    t = t.permute(0, 4, 1, 2, 3)  # NCDHW
    t = F.pad(t, (1, 1, 0, 2, 1, 0))  # last axis first
    t = t[:, :, 0:t.shape[2] - 1, 1:, 0:t.shape[4] - 1]
    t = t.repeat_interleave(2, dim=2).repeat_interleave(1, dim=3).repeat_interleave(3, dim=4)
    w = torch.tensor(kernel, dtype=torch.float64).permute(4, 3, 0, 1, 2)
    t = F.relu(F.conv3d(t, w, torch.tensor(bias, dtype=torch.float64), stride=(1, 2, 1)))
    gmax = t.amax(dim=(2, 3, 4))
    gavg = t.mean(dim=(2, 3, 4))
    flat = t.permute(0, 2, 3, 4, 1).reshape(t.shape[0], -1)
    y = torch.cat([gmax, gavg, flat], dim=1).numpy()
    config = {"class_name": "Functional", "config": {"name": "spatial3d", "layers": layers,
                                                     "input_layers": [["x", 0, 0]], "output_layers": [["out", 0, 0]]}}
    write("spatial3d", config, {"conv": [("kernel", kernel), ("bias", bias)]}, x, y)


conv1dt()
spatial3d()
