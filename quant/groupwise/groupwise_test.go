package groupwise

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

func linear(t testing.TB, name string, n, k int, seed uint64) *tensor.Tensor {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.05)
	}
	if seed%2 == 0 { // an all-positive row: exercises the zero point >= 1 rule
		for i := range k {
			w[i] = float32(math.Abs(float64(w[i])))
		}
	}
	tt, err := tensor.NewF32(name, tensor.Shape{int64(n), int64(k)}, w)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

func model(t testing.TB) *refit.Model {
	bias, _ := tensor.NewF32("layers.0.fc.bias", tensor.Shape{16}, make([]float32, 16))
	return &refit.Model{Format: "safetensors", Tensors: []*tensor.Tensor{
		linear(t, "embed_tokens.weight", 8, 32, 3),
		linear(t, "layers.0.fc.weight", 16, 64, 2),
		bias,
		linear(t, "layers.0.out.weight", 8, 128, 5),
	}}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		bits, group int
		sym         bool
	}{{4, 32, false}, {4, 64, true}, {8, 32, false}, {4, 16, false}} {
		m := model(t)
		q, cfg, err := Quantize(m, &Options{Bits: tc.bits, GroupSize: tc.group, Symmetric: tc.sym})
		if err != nil {
			t.Fatal(err)
		}
		if q.Tensor("embed_tokens.weight") != m.Tensors[0] || q.Tensor("layers.0.fc.bias") != m.Tensors[2] {
			t.Errorf("%+v: untouched tensors are not shared", tc)
		}
		qw := q.Tensor("layers.0.fc.qweight")
		if qw == nil || qw.DType != tensor.I32 || !qw.Shape.Equal(tensor.Shape{int64(64 * tc.bits / 32), 16}) {
			t.Fatalf("%+v: qweight = %v", tc, qw)
		}
		if s := q.Tensor("layers.0.fc.scales"); s == nil || !s.Shape.Equal(tensor.Shape{int64(64 / tc.group), 16}) {
			t.Fatalf("%+v: scales = %v", tc, s)
		}
		if cfg.Bits != tc.bits || cfg.GroupSize != tc.group || cfg.Sym != tc.sym || q.Metadata.String(MetadataKey) == "" {
			t.Errorf("%+v: config %+v", tc, cfg)
		}
		d, err := Dequantize(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"layers.0.fc.weight", "layers.0.out.weight"} {
			orig, _ := m.Tensor(name).Float32s()
			back, err := d.Tensor(name).Float32s()
			if err != nil {
				t.Fatalf("%+v: %s: %v", tc, name, err)
			}
			scales, _ := q.Tensor(name[:len(name)-len(".weight")] + ".scales").Float32s()
			maxScale := 0.0
			for _, s := range scales {
				maxScale = math.Max(maxScale, float64(s))
			}
			for i := range orig {
				// Half a step, plus float16 rounding of the scale over up to 2^bits steps.
				limit := maxScale*0.5001 + maxScale*float64(int(1)<<tc.bits)*1e-3
				if tc.sym {
					limit += maxScale // the most negative value may clip by up to a step
				}
				if d := math.Abs(float64(back[i] - orig[i])); d > limit {
					t.Fatalf("%+v: %s[%d] = %g, want %g (step %g)", tc, name, i, back[i], orig[i], maxScale)
				}
			}
		}
		if d.Tensor("layers.0.fc.qweight") != nil || d.Metadata.String(MetadataKey) != "" {
			t.Errorf("%+v: dequantized model keeps packed tensors or config", tc)
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	m := model(t)
	for _, o := range []*Options{{Bits: 3}, {GroupSize: 48}, {GroupSize: -1}} {
		if _, _, err := Quantize(m, o); err == nil {
			t.Errorf("Quantize(%+v) succeeded", o)
		}
	}
	if _, _, err := Quantize(m, &Options{Bits: 2}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("bits 2: error %v, want ErrUnsupported", err)
	}
}

func TestDequantizeBadInput(t *testing.T) {
	q, _, err := Quantize(model(t), &Options{GroupSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	replace := func(name string, nt *tensor.Tensor) *refit.Model {
		var ts []*tensor.Tensor
		for _, tt := range q.Tensors {
			if tt.Name == name {
				if nt == nil {
					continue
				}
				tt = nt
			}
			ts = append(ts, tt)
		}
		r := q.Derive(ts)
		return r
	}
	i32 := func(name string, shape tensor.Shape, v int32) *tensor.Tensor {
		n := shape.Elements()
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		tt, _ := tensor.FromBytes(name, tensor.I32, shape, b)
		return tt
	}
	tests := []struct {
		name string
		m    *refit.Model
		cfg  *Config
	}{
		{"no config", func() *refit.Model { r := q.Derive(q.Tensors); r.Metadata.Delete(MetadataKey); return r }(), nil},
		{"bits", q, &Config{Bits: 5}},
		{"missing qzeros", replace("layers.0.fc.qzeros", nil), nil},
		{"qzeros shape", replace("layers.0.fc.qzeros", i32("layers.0.fc.qzeros", tensor.Shape{2, 3}, 0)), nil},
		{"g_idx shape", replace("layers.0.fc.g_idx", i32("layers.0.fc.g_idx", tensor.Shape{3}, 0)), nil},
		{"g_idx range", replace("layers.0.fc.g_idx", i32("layers.0.fc.g_idx", tensor.Shape{64}, 9)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Dequantize(tt.m, tt.cfg)
			if err == nil {
				_, err = d.Tensor("layers.0.fc.weight").Bytes()
			}
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Errorf("error %v, want ErrFormat or ErrUnsupported", err)
			}
		})
	}
}

// TestInteropAutoGPTQUnpack dequantizes the packed tensors with torch, following
// AutoGPTQ's unpacking (shifts along K for qweight, along N for qzeros, zeros + 1),
// and compares with Dequantize.
func TestInteropAutoGPTQUnpack(t *testing.T) {
	testtool.RequirePython(t, "torch", "numpy")
	q, cfg, err := Quantize(model(t), &Options{Bits: 4, GroupSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	var ts []*tensor.Tensor
	for _, n := range []string{"qweight", "qzeros", "scales", "g_idx"} {
		tt := q.Tensor("layers.0.fc." + n)
		b, err := tt.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		c, _ := tensor.FromBytes(n, tt.DType, tt.Shape, b)
		ts = append(ts, c)
	}
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := numpy.WriteNPZ(&buf, ts, false); err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(dir, "packed.npz"), filepath.Join(dir, "w.npy")
	if err := os.WriteFile(in, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunPython(t, `
import sys, numpy as np, torch
d = np.load(sys.argv[1]); bits = int(sys.argv[3])
qweight, qzeros = torch.from_numpy(d["qweight"]), torch.from_numpy(d["qzeros"])
scales, g_idx = torch.from_numpy(d["scales"]).float(), torch.from_numpy(d["g_idx"]).long()
shifts = torch.arange(0, 32, bits, dtype=torch.int32)
mask = (1 << bits) - 1
zeros = torch.bitwise_right_shift(qzeros.unsqueeze(2), shifts.view(1, 1, -1)) & mask
zeros = (zeros + 1).reshape(qzeros.shape[0], -1)
w = torch.bitwise_right_shift(qweight.unsqueeze(1), shifts.view(1, -1, 1)) & mask
w = w.reshape(-1, qweight.shape[1])
weight = scales[g_idx] * (w - zeros[g_idx]).float()
np.save(sys.argv[2], weight.t().contiguous().numpy())
`, in, out, "4")
	f, err := refit.OpenMapped(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := numpy.ReadNPY(f, f.Size())
	if err != nil {
		t.Fatal(err)
	}
	wv, _ := want.Float32s()
	d, err := Dequantize(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Tensor("layers.0.fc.weight").Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wv) {
		t.Fatalf("torch gave %d values, Refit %d", len(wv), len(got))
	}
	for i := range got {
		if got[i] != wv[i] {
			t.Fatalf("w[%d]: Refit %g, AutoGPTQ-style unpack %g", i, got[i], wv[i])
		}
	}
}

// FuzzDequantize feeds arbitrary packed tensors and shapes to Dequantize: it must
// return an error or values, never panic.
func FuzzDequantize(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, uint8(1), uint8(8), uint8(1), uint8(4))
	f.Add(make([]byte, 64), uint8(2), uint8(8), uint8(2), uint8(4))
	f.Fuzz(func(t *testing.T, raw []byte, rows, cols, groups, bits uint8) {
		qwShape := tensor.Shape{int64(rows%8) + 1, int64(cols%16) + 1}
		pack := int64(8)
		b := int(bits)
		if bits%2 == 1 {
			b, pack = 8, 4
		}
		n := qwShape[1]
		g := int64(groups%4) + 1
		fill := func(name string, d tensor.DType, s tensor.Shape) *tensor.Tensor {
			size, err := tensor.ByteSize(d, s)
			if err != nil {
				t.Skip()
			}
			buf := make([]byte, size)
			for i := range buf {
				if len(raw) > 0 {
					buf[i] = raw[i%len(raw)]
				}
			}
			tt, err := tensor.FromBytes(name, d, s, buf)
			if err != nil {
				t.Skip()
			}
			return tt
		}
		m := &refit.Model{Tensors: []*tensor.Tensor{
			fill("x.qweight", tensor.I32, qwShape),
			fill("x.qzeros", tensor.I32, tensor.Shape{g, max(1, n/pack)}),
			fill("x.scales", tensor.F16, tensor.Shape{g, n}),
		}}
		d, err := Dequantize(m, &Config{Bits: b})
		if err != nil {
			return
		}
		w := d.Tensor("x.weight")
		if w == nil {
			t.Fatal("no weight")
		}
		if _, err := w.Bytes(); err != nil && !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
