package layout

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// interopScript computes every layer the Keras way in numpy (from the Keras weights)
// and the PyTorch way with torch modules loaded from ToPyTorch's output, and prints
// the largest absolute difference per layer as JSON.
const interopScript = `
import json, os, sys
import numpy as np
import torch
torch.set_num_threads(1)
d = sys.argv[1]
man = json.load(open(os.path.join(d, "manifest.json")))
def arr(n):
    return np.fromfile(os.path.join(d, man[n]["file"]), dtype="<f4").reshape(man[n]["shape"])
def tt(n):
    return torch.from_numpy(arr(n).copy())
def load(mod, prefix):
    sd = {k: tt(prefix + "." + k) for k in mod.state_dict() if k != "num_batches_tracked"}
    mod.load_state_dict(sd, strict=False)
    return mod.eval()
rng = np.random.default_rng(0)
sig = lambda v: 1 / (1 + np.exp(-v))
def conv_nhwc(x, k):  # valid, stride 1; x [N,H,W,C], k [h,w,C,O]
    N, H, W, C = x.shape; kh, kw, _, O = k.shape
    out = np.zeros((N, H - kh + 1, W - kw + 1, O))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", x[:, i:i + H - kh + 1, j:j + W - kw + 1, :], k[i, j])
    return out
res = {}
with torch.no_grad():
    x = rng.standard_normal((2, 3)).astype("f4")
    ref = x @ arr("dense/kernel:0") + arr("dense/bias:0")
    got = load(torch.nn.Linear(3, 4), "dense")(torch.from_numpy(x)).numpy()
    res["Dense"] = float(np.abs(ref - got).max())

    x = rng.standard_normal((1, 6, 5, 3)).astype("f4")
    ref = conv_nhwc(x, arr("conv/kernel:0")) + arr("conv/bias:0")
    got = load(torch.nn.Conv2d(3, 4, (3, 2)), "conv")(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    res["Conv2D"] = float(np.abs(ref - got).max())

    x = rng.standard_normal((1, 7, 3)).astype("f4")
    k = arr("conv1d/kernel:0")
    ref = conv_nhwc(x[:, None], k[None])[:, 0] + arr("conv1d/bias:0")
    got = load(torch.nn.Conv1d(3, 4, 2), "conv1d")(torch.from_numpy(x).permute(0, 2, 1)).permute(0, 2, 1).numpy()
    res["Conv1D"] = float(np.abs(ref - got).max())

    x = rng.standard_normal((1, 5, 5, 3)).astype("f4")
    dk = arr("dw/depthwise_kernel:0")  # [h,w,C,M]
    M = dk.shape[3]
    ref = np.concatenate([conv_nhwc(x[..., c:c + 1], dk[:, :, c:c + 1, :]) for c in range(3)], axis=3) + arr("dw/bias:0")
    got = load(torch.nn.Conv2d(3, 3 * M, 3, groups=3), "dw")(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    res["DepthwiseConv2D"] = float(np.abs(ref - got).max())

    sk = arr("sep/depthwise_kernel:0"); pk = arr("sep/pointwise_kernel:0")
    M = sk.shape[3]
    mid = np.concatenate([conv_nhwc(x[..., c:c + 1], sk[:, :, c:c + 1, :]) for c in range(3)], axis=3)
    ref = conv_nhwc(mid, pk) + arr("sep/bias:0")
    sep = torch.nn.Module(); sep.depthwise = torch.nn.Conv2d(3, 3 * M, 3, groups=3, bias=False)
    sep.pointwise = torch.nn.Conv2d(3 * M, 5, 1)
    load(sep, "sep")
    got = sep.pointwise(sep.depthwise(torch.from_numpy(x).permute(0, 3, 1, 2))).permute(0, 2, 3, 1).numpy()
    res["SeparableConv2D"] = float(np.abs(ref - got).max())

    x = rng.standard_normal((4, 4)).astype("f4")
    eps = 1e-3
    ref = arr("bn/gamma:0") * (x - arr("bn/moving_mean:0")) / np.sqrt(arr("bn/moving_variance:0") + eps) + arr("bn/beta:0")
    got = load(torch.nn.BatchNorm1d(4, eps=eps), "bn")(torch.from_numpy(x)).numpy()
    res["BatchNormalization"] = float(np.abs(ref - got).max())

    ids = np.array([[0, 4, 2]])
    ref = arr("emb/embeddings:0")[ids]
    got = load(torch.nn.Embedding(5, 3), "emb")(torch.from_numpy(ids)).numpy()
    res["Embedding"] = float(np.abs(ref - got).max())

    x = rng.standard_normal((1, 5, 3)).astype("f4")  # batch, time, features
    K, R, B = arr("lstm/lstm_cell/kernel:0"), arr("lstm/lstm_cell/recurrent_kernel:0"), arr("lstm/lstm_cell/bias:0")
    h = np.zeros((1, 4)); c = np.zeros((1, 4)); outs = []
    for t in range(5):
        z = x[:, t] @ K + h @ R + B
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g); h = sig(o) * np.tanh(c); outs.append(h)
    ref = np.stack(outs, 1)
    got = load(torch.nn.LSTM(3, 4, batch_first=True), "lstm")(torch.from_numpy(x))[0].numpy()
    res["LSTM"] = float(np.abs(ref - got).max())

    K, R, B = arr("gru/gru_cell/kernel:0"), arr("gru/gru_cell/recurrent_kernel:0"), arr("gru/gru_cell/bias:0")
    h = np.zeros((1, 4)); outs = []
    for t in range(5):
        xz, xr, xh = np.split(x[:, t] @ K + B[0], 3, axis=1)
        rz, rr, rh = np.split(h @ R + B[1], 3, axis=1)
        z = sig(xz + rz); r = sig(xr + rr); hh = np.tanh(xh + r * rh)
        h = z * h + (1 - z) * hh; outs.append(h)
    ref = np.stack(outs, 1)
    got = load(torch.nn.GRU(3, 4, batch_first=True), "gru")(torch.from_numpy(x))[0].numpy()
    res["GRU"] = float(np.abs(ref - got).max())
print(json.dumps(res))
`

// TestInteropTorch checks that PyTorch modules loaded with ToPyTorch's output compute
// what the Keras layers compute (a numpy re-implementation of Keras's equations).
func TestInteropTorch(t *testing.T) {
	testtool.RequirePython(t, "torch", "numpy")
	rng := rand.New(rand.NewSource(5))
	m := &refit.Model{Format: "keras"}
	add := func(name string, shape ...int64) {
		v := make([]float32, tensor.Shape(shape).Elements())
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		if strings.Contains(name, "moving_variance") {
			for i := range v {
				v[i] = v[i]*v[i] + 0.5
			}
		}
		x, err := tensor.NewF32(name, shape, v)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	add("dense/kernel:0", 3, 4)
	add("dense/bias:0", 4)
	add("conv/kernel:0", 3, 2, 3, 4)
	add("conv/bias:0", 4)
	add("conv1d/kernel:0", 2, 3, 4)
	add("conv1d/bias:0", 4)
	add("dw/depthwise_kernel:0", 3, 3, 3, 2)
	add("dw/bias:0", 6)
	add("sep/depthwise_kernel:0", 3, 3, 3, 2)
	add("sep/pointwise_kernel:0", 1, 1, 6, 5)
	add("sep/bias:0", 5)
	for _, w := range []string{"gamma", "beta", "moving_mean", "moving_variance"} {
		add("bn/"+w+":0", 4)
	}
	add("emb/embeddings:0", 5, 3)
	add("lstm/lstm_cell/kernel:0", 3, 16)
	add("lstm/lstm_cell/recurrent_kernel:0", 4, 16)
	add("lstm/lstm_cell/bias:0", 16)
	add("gru/gru_cell/kernel:0", 3, 12)
	add("gru/gru_cell/recurrent_kernel:0", 4, 12)
	add("gru/gru_cell/bias:0", 2, 12)
	layers := []LayerInfo{{"dense", "Dense", "", nil}, {"conv", "Conv2D", "", nil}, {"conv1d", "Conv1D", "", nil},
		{"dw", "DepthwiseConv2D", "", nil}, {"sep", "SeparableConv2D", "", nil}, {"bn", "BatchNormalization", "", nil},
		{"emb", "Embedding", "", nil}, {"lstm", "LSTM", "", nil}, {"gru", "GRU", "", nil}}
	out, err := ToPyTorch(m, layers)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := out.Metadata.Get("tflayout.unmapped"); ok {
		t.Fatalf("unmapped tensors %v", u)
	}
	dir := t.TempDir()
	manifest := map[string]any{}
	for i, x := range append(m.Tensors, out.Tensors...) {
		b, err := x.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "t"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".bin")
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		manifest[x.Name] = map[string]any{"file": filepath.Base(file), "shape": x.Shape}
	}
	mb, _ := json.Marshal(manifest)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), mb, 0o644); err != nil {
		t.Fatal(err)
	}
	var diffs map[string]float64
	if err := json.Unmarshal(testtool.RunPython(t, interopScript, dir), &diffs); err != nil {
		t.Fatal(err)
	}
	if len(diffs) != len(layers) {
		t.Errorf("python checked %d layers, want %d", len(diffs), len(layers))
	}
	for layer, d := range diffs {
		if d > 1e-4 {
			t.Errorf("%s: PyTorch differs from Keras by %g", layer, d)
		}
	}
	t.Logf("max |keras - torch| per layer: %v", diffs)
}
