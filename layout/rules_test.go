package layout

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// seq returns an F32 tensor whose element i is i (so positions are visible).
func seq(t *testing.T, name string, shape ...int64) *tensor.Tensor {
	t.Helper()
	n := tensor.Shape(shape).Elements()
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	x, err := tensor.NewF32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func floats(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	v, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// at indexes row-major data of shape.
func at(v []float32, shape tensor.Shape, idx ...int64) float32 {
	var off int64
	for i, d := range shape {
		off = off*d + idx[i]
	}
	return v[off]
}

func TestRulesMapElements(t *testing.T) {
	t.Run("Dense", func(t *testing.T) {
		k := seq(t, "k", 3, 4)
		w, err := DenseKernel(k)
		if err != nil || !w.Shape.Equal(tensor.Shape{4, 3}) {
			t.Fatalf("DenseKernel = %v, %v", w, err)
		}
		kv, wv := floats(t, k), floats(t, w)
		for i := int64(0); i < 3; i++ {
			for o := int64(0); o < 4; o++ {
				if at(wv, w.Shape, o, i) != at(kv, k.Shape, i, o) {
					t.Fatalf("w[%d][%d] != k[%d][%d]", o, i, i, o)
				}
			}
		}
	})
	t.Run("Conv2D", func(t *testing.T) {
		k := seq(t, "k", 2, 3, 4, 5) // H W I O
		w, err := Conv2DKernel(k)
		if err != nil || !w.Shape.Equal(tensor.Shape{5, 4, 2, 3}) {
			t.Fatalf("Conv2DKernel = %v, %v", w, err)
		}
		kv, wv := floats(t, k), floats(t, w)
		for h := int64(0); h < 2; h++ {
			for x := int64(0); x < 3; x++ {
				for i := int64(0); i < 4; i++ {
					for o := int64(0); o < 5; o++ {
						if at(wv, w.Shape, o, i, h, x) != at(kv, k.Shape, h, x, i, o) {
							t.Fatalf("mismatch at h=%d w=%d i=%d o=%d", h, x, i, o)
						}
					}
				}
			}
		}
	})
	t.Run("Depthwise", func(t *testing.T) {
		k := seq(t, "k", 2, 2, 3, 2) // H W C M
		w, err := DepthwiseKernel(k)
		if err != nil || !w.Shape.Equal(tensor.Shape{6, 1, 2, 2}) {
			t.Fatalf("DepthwiseKernel = %v, %v", w, err)
		}
		kv, wv := floats(t, k), floats(t, w)
		for c := int64(0); c < 3; c++ {
			for m := int64(0); m < 2; m++ {
				for h := int64(0); h < 2; h++ {
					for x := int64(0); x < 2; x++ {
						if at(wv, w.Shape, c*2+m, 0, h, x) != at(kv, k.Shape, h, x, c, m) {
							t.Fatalf("mismatch at c=%d m=%d", c, m)
						}
					}
				}
			}
		}
	})
	t.Run("GRU gate order", func(t *testing.T) {
		k := seq(t, "k", 1, 6) // in=1, 3 gates of H=2: z z r r h h
		w, err := RecurrentKernel(k, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := floats(t, w); !slices.Equal(got, []float32{2, 3, 0, 1, 4, 5}) {
			t.Errorf("GRU kernel rows = %v, want r z n = [2 3 0 1 4 5]", got)
		}
		l, _ := RecurrentKernel(k, false)
		if got := floats(t, l); !slices.Equal(got, []float32{0, 1, 2, 3, 4, 5}) {
			t.Errorf("LSTM kernel rows = %v, want unchanged order", got)
		}
		ih, hh, err := GRUBias(seq(t, "b", 2, 6))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := floats(t, ih), floats(t, hh); !slices.Equal(a, []float32{2, 3, 0, 1, 4, 5}) || !slices.Equal(b, []float32{8, 9, 6, 7, 10, 11}) {
			t.Errorf("GRU biases = %v %v", a, b)
		}
		if _, _, err := GRUBias(seq(t, "b", 6)); err == nil {
			t.Error("GRUBias accepted a reset_after=False bias")
		}
	})
}

func TestRulesInverse(t *testing.T) {
	type rule struct {
		name     string
		shape    []int64
		fwd, inv func(*tensor.Tensor) (*tensor.Tensor, error)
	}
	for _, r := range []rule{
		{"Dense", []int64{3, 5}, DenseKernel, LinearWeight},
		{"Conv1D", []int64{3, 2, 4}, Conv1DKernel, Conv1dWeight},
		{"Conv2D", []int64{3, 2, 4, 5}, Conv2DKernel, Conv2dWeight},
		{"Conv3D", []int64{2, 3, 2, 4, 5}, Conv3DKernel, Conv3dWeight},
		{"Depthwise", []int64{3, 3, 4, 2}, DepthwiseKernel, func(t *tensor.Tensor) (*tensor.Tensor, error) { return DepthwiseWeight(t, 2) }},
		{"LSTM", []int64{3, 8}, func(t *tensor.Tensor) (*tensor.Tensor, error) { return RecurrentKernel(t, false) },
			func(t *tensor.Tensor) (*tensor.Tensor, error) { return RecurrentWeight(t, false) }},
		{"GRU", []int64{3, 9}, func(t *tensor.Tensor) (*tensor.Tensor, error) { return RecurrentKernel(t, true) },
			func(t *tensor.Tensor) (*tensor.Tensor, error) { return RecurrentWeight(t, true) }},
		{"GRUBias", []int64{2, 9}, func(t *tensor.Tensor) (*tensor.Tensor, error) {
			ih, hh, err := GRUBias(t)
			if err != nil {
				return nil, err
			}
			return GRUBiasInverse(ih, hh)
		}, func(t *tensor.Tensor) (*tensor.Tensor, error) { return t, nil }},
	} {
		t.Run(r.name, func(t *testing.T) {
			x := seq(t, "x", r.shape...)
			y, err := r.fwd(x)
			if err != nil {
				t.Fatal(err)
			}
			z, err := r.inv(y)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := x.Bytes()
			b, err := z.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !z.Shape.Equal(x.Shape) || !bytes.Equal(a, b) {
				t.Errorf("inverse(forward(x)) = %v %v, want x %v", z.Shape, floats(t, z), x.Shape)
			}
		})
	}
	if _, err := DenseKernel(seq(t, "x", 2, 2, 2)); err == nil {
		t.Error("DenseKernel accepted a 3-D tensor")
	}
	if _, err := Permute(seq(t, "x", 2, 3), 0, 0); err == nil {
		t.Error("Permute accepted a repeated axis")
	}
}

func TestToPyTorch(t *testing.T) {
	mk := func(names ...string) *refit.Model {
		m := &refit.Model{Format: "keras"}
		shapes := map[string][]int64{"kernel": {3, 4}, "bias": {4}, "gamma": {4}, "beta": {4}, "moving_mean": {4},
			"moving_variance": {4}, "0": {3, 4}, "1": {4}, "recurrent_kernel": {4, 4}}
		for _, n := range names {
			last := strings.TrimSuffix(n[strings.LastIndex(n, "/")+1:], ":0")
			m.Tensors = append(m.Tensors, seq(t, n, shapes[last]...))
		}
		return m
	}
	layers := []LayerInfo{{Name: "dense_1", Class: "Dense"}, {Name: "bn", Class: "BatchNormalization", Module: "features.1"}}
	for _, tc := range []struct {
		name string
		in   *refit.Model
		want []string
	}{
		{"h5 names", mk("dense_1/kernel:0", "dense_1/bias:0", "bn/gamma:0", "bn/beta:0", "bn/moving_mean:0", "bn/moving_variance:0", "extra:0"),
			[]string{"dense_1.weight", "dense_1.bias", "features.1.weight", "features.1.bias", "features.1.running_mean", "features.1.running_var", "extra:0"}},
		{"keras3 names", mk("dense_1/vars/0", "dense_1/vars/1"), []string{"dense_1.weight", "dense_1.bias"}},
		{"tfjs names", mk("dense_1/kernel", "dense_1/bias"), []string{"dense_1.weight", "dense_1.bias"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ToPyTorch(tc.in, layers)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range out.Tensors {
				got = append(got, x.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("names %v, want %v", got, tc.want)
			}
			if w := out.Tensors[0]; !w.Shape.Equal(tensor.Shape{4, 3}) {
				t.Errorf("dense weight shape %v, want [4 3]", w.Shape)
			}
			if tc.in.Tensors[0].Name == "dense_1.weight" || !tc.in.Tensors[0].Shape.Equal(tensor.Shape{3, 4}) {
				t.Error("ToPyTorch modified its input")
			}
		})
	}
}

func TestLayersFromConfig(t *testing.T) {
	cfg := `{"class_name": "Sequential", "config": {"name": "s", "layers": [
		{"class_name": "InputLayer", "config": {"name": "in"}},
		{"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}`
	for _, c := range []string{cfg, `{"model_config": ` + cfg + `}`} {
		got, err := LayersFromConfig(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].Name != "dense" || got[1].Class != "Dense" || got[1].Config["units"] != 2.0 {
			t.Errorf("LayersFromConfig = %+v", got)
		}
	}
	if _, err := LayersFromConfig("{"); err == nil {
		t.Error("bad JSON accepted")
	}
}
