package layout

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// randomF32 returns an F32 tensor of distinct random values.
func randomF32(t *testing.T, rng *rand.Rand, name string, shape ...int64) *tensor.Tensor {
	t.Helper()
	v := make([]float32, tensor.Shape(shape).Elements())
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	x, err := tensor.NewF32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// kerasCase is one Keras layer with its weights (in creation order, TF.js names).
type kerasCase struct {
	layer   LayerInfo
	weights map[string][]int64 // Keras weight -> shape
}

var kerasCases = []kerasCase{
	{LayerInfo{Name: "dense", Class: "Dense"}, map[string][]int64{"kernel": {3, 4}, "bias": {4}}},
	{LayerInfo{Name: "dense_nobias", Class: "Dense", Config: map[string]any{"use_bias": false}}, map[string][]int64{"kernel": {3, 4}}},
	{LayerInfo{Name: "conv1d", Class: "Conv1D"}, map[string][]int64{"kernel": {2, 3, 4}, "bias": {4}}},
	{LayerInfo{Name: "conv2d", Class: "Conv2D"}, map[string][]int64{"kernel": {3, 2, 3, 4}, "bias": {4}}},
	{LayerInfo{Name: "conv3d", Class: "Conv3D"}, map[string][]int64{"kernel": {2, 3, 2, 2, 3}, "bias": {3}}},
	{LayerInfo{Name: "convt", Class: "Conv2DTranspose"}, map[string][]int64{"kernel": {3, 3, 2, 5}, "bias": {2}}},
	{LayerInfo{Name: "convt1", Class: "Conv1DTranspose"}, map[string][]int64{"kernel": {3, 2, 5}, "bias": {2}}},
	{LayerInfo{Name: "convt3", Class: "Conv3DTranspose"}, map[string][]int64{"kernel": {3, 2, 2, 4, 5}, "bias": {4}}},
	{LayerInfo{Name: "dw", Class: "DepthwiseConv2D", Config: map[string]any{"depth_multiplier": 2.0}}, map[string][]int64{"depthwise_kernel": {3, 3, 4, 2}, "bias": {8}}},
	{LayerInfo{Name: "dw1", Class: "DepthwiseConv2D", Config: map[string]any{"use_bias": false}}, map[string][]int64{"depthwise_kernel": {3, 3, 5, 1}}},
	{LayerInfo{Name: "sep", Class: "SeparableConv2D", Config: map[string]any{"depth_multiplier": 3.0}}, map[string][]int64{"depthwise_kernel": {3, 3, 2, 3}, "pointwise_kernel": {1, 1, 6, 4}, "bias": {4}}},
	{LayerInfo{Name: "bn", Class: "BatchNormalization"}, map[string][]int64{"gamma": {4}, "beta": {4}, "moving_mean": {4}, "moving_variance": {4}}},
	{LayerInfo{Name: "bn_noscale", Class: "BatchNormalization", Config: map[string]any{"scale": false}}, map[string][]int64{"beta": {4}, "moving_mean": {4}, "moving_variance": {4}}},
	{LayerInfo{Name: "ln", Class: "LayerNormalization"}, map[string][]int64{"gamma": {6}, "beta": {6}}},
	{LayerInfo{Name: "emb", Class: "Embedding"}, map[string][]int64{"embeddings": {7, 3}}},
	{LayerInfo{Name: "lstm", Class: "LSTM"}, map[string][]int64{"kernel": {3, 16}, "recurrent_kernel": {4, 16}, "bias": {16}}},
	{LayerInfo{Name: "gru", Class: "GRU"}, map[string][]int64{"kernel": {3, 12}, "recurrent_kernel": {4, 12}, "bias": {2, 12}}},
	{LayerInfo{Name: "block/dense", Class: "Dense"}, map[string][]int64{"kernel": {2, 2}, "bias": {2}}},
}

// kerasModel builds one model holding every case's weights, names in TF.js form.
func kerasModel(t *testing.T, cases []kerasCase) (*refit.Model, []LayerInfo) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	m := &refit.Model{Format: "tfjs"}
	var layers []LayerInfo
	for _, c := range cases {
		layers = append(layers, c.layer)
		for _, w := range ExpectedWeights(c.layer) {
			shape, ok := c.weights[w]
			if !ok {
				t.Fatalf("case %q lacks weight %q", c.layer.Name, w)
			}
			m.Tensors = append(m.Tensors, randomF32(t, rng, c.layer.Name+"/"+w, shape...))
		}
	}
	return m, layers
}

func sameTensors(t *testing.T, got, want []*tensor.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || !g.Shape.Equal(w.Shape) || g.DType != w.DType {
			t.Fatalf("tensor %d = %s %v %v, want %s %v %v", i, g.Name, g.DType, g.Shape, w.Name, w.DType, w.Shape)
		}
		gb, err := g.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		wb, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, wb) {
			t.Fatalf("tensor %q: values differ", w.Name)
		}
	}
}

// TestFromPyTorchInvertsToPyTorch checks FromPyTorch(ToPyTorch(m)) == m, names,
// order, shapes and bytes, for every supported class (and config variants).
func TestFromPyTorchInvertsToPyTorch(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range kerasCases {
		covered[c.layer.Class] = true
		t.Run(c.layer.Name, func(t *testing.T) {
			m, layers := kerasModel(t, []kerasCase{c})
			pt, err := ToPyTorch(m, layers)
			if err != nil {
				t.Fatalf("ToPyTorch: %v", err)
			}
			if _, ok := pt.Metadata.Get("tflayout.unmapped"); ok {
				t.Fatalf("ToPyTorch left tensors unmapped")
			}
			back, err := FromPyTorch(pt, layers)
			if err != nil {
				t.Fatalf("FromPyTorch: %v", err)
			}
			if _, ok := back.Metadata.Get("tflayout.unmapped"); ok {
				t.Fatalf("FromPyTorch left tensors unmapped")
			}
			sameTensors(t, back.Tensors, m.Tensors)
		})
	}
	for _, class := range Classes() {
		if !covered[class] {
			t.Errorf("class %s has no round-trip case", class)
		}
	}
	t.Run("all layers in one model keep Keras order", func(t *testing.T) {
		m, layers := kerasModel(t, kerasCases)
		pt, err := ToPyTorch(m, layers)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(pt.Tensors) // FromPyTorch orders by layers, not by input
		back, err := FromPyTorch(pt, layers)
		if err != nil {
			t.Fatal(err)
		}
		sameTensors(t, back.Tensors, m.Tensors)
	})
}

// TestToPyTorchInvertsFromPyTorch checks the other direction: PyTorch state dicts
// survive Keras and back, except that LSTM's two biases come back summed in bias_ih.
func TestToPyTorchInvertsFromPyTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range kerasCases {
		t.Run(c.layer.Name, func(t *testing.T) {
			m, layers := kerasModel(t, []kerasCase{c})
			pt, err := ToPyTorch(m, layers)
			if err != nil {
				t.Fatal(err)
			}
			// Fresh random PyTorch values in PyTorch's shapes.
			torch := &refit.Model{Format: "pytorch"}
			for _, x := range pt.Tensors {
				torch.Tensors = append(torch.Tensors, randomF32(t, rng, x.Name, x.Shape...))
			}
			keras, err := FromPyTorch(torch, layers)
			if err != nil {
				t.Fatal(err)
			}
			again, err := ToPyTorch(keras, layers)
			if err != nil {
				t.Fatal(err)
			}
			if c.layer.Class != "LSTM" {
				sameTensors(t, again.Tensors, torch.Tensors)
				return
			}
			want := make(map[string][]float32)
			for _, x := range torch.Tensors {
				want[x.Name] = floats(t, x)
			}
			got := floats(t, again.Tensor("lstm.bias_ih_l0"))
			for i, g := range got {
				if s := want["lstm.bias_ih_l0"][i] + want["lstm.bias_hh_l0"][i]; g != s {
					t.Fatalf("bias[%d] = %v, want bias_ih+bias_hh = %v", i, g, s)
				}
			}
			for _, n := range []string{"lstm.weight_ih_l0", "lstm.weight_hh_l0"} {
				if !slices.Equal(floats(t, again.Tensor(n)), want[n]) {
					t.Fatalf("%s differs", n)
				}
			}
		})
	}
}

func TestFromPyTorchErrors(t *testing.T) {
	dense := []LayerInfo{{Name: "dense", Class: "Dense"}}
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name    string
		tensors []*tensor.Tensor
		layers  []LayerInfo
		want    error
	}{
		{"missing bias", []*tensor.Tensor{randomF32(t, rng, "dense.weight", 4, 3)}, dense, refit.ErrFormat},
		{"missing layer", nil, dense, refit.ErrFormat},
		{"bias the config does not use", []*tensor.Tensor{randomF32(t, rng, "dense.weight", 4, 3), randomF32(t, rng, "dense.bias", 4)},
			[]LayerInfo{{Name: "dense", Class: "Dense", Config: map[string]any{"use_bias": false}}}, refit.ErrFormat},
		{"GRU reset_after=false", []*tensor.Tensor{randomF32(t, rng, "gru.weight_ih_l0", 6, 3)},
			[]LayerInfo{{Name: "gru", Class: "GRU", Config: map[string]any{"reset_after": false}}}, tensor.ErrUnsupported},
		{"LSTM hard_sigmoid", []*tensor.Tensor{randomF32(t, rng, "lstm.weight_ih_l0", 8, 3)},
			[]LayerInfo{{Name: "lstm", Class: "LSTM", Config: map[string]any{"recurrent_activation": "hard_sigmoid"}}}, tensor.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromPyTorch(&refit.Model{Tensors: tt.tensors}, tt.layers)
			if !errors.Is(err, tt.want) {
				t.Fatalf("FromPyTorch = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("bad shape", func(t *testing.T) {
		m := &refit.Model{Tensors: []*tensor.Tensor{randomF32(t, rng, "dense.weight", 4, 3, 1), randomF32(t, rng, "dense.bias", 4)}}
		if _, err := FromPyTorch(m, dense); err == nil {
			t.Fatal("FromPyTorch accepted a 3-D Linear weight")
		}
	})
	t.Run("unmapped kept and listed", func(t *testing.T) {
		m := &refit.Model{Tensors: []*tensor.Tensor{randomF32(t, rng, "dense.weight", 4, 3), randomF32(t, rng, "dense.bias", 4),
			randomF32(t, rng, "head.scale", 2)}}
		got, err := FromPyTorch(m, dense)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := got.Metadata.Get("tflayout.unmapped")
		if names, _ := v.([]string); !slices.Equal(names, []string{"head.scale"}) || got.Tensor("head.scale") == nil {
			t.Fatalf("unmapped = %v", v)
		}
	})
	t.Run("num_batches_tracked dropped", func(t *testing.T) {
		var ts []*tensor.Tensor
		for _, n := range []string{"bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"} {
			ts = append(ts, randomF32(t, rng, n, 3))
		}
		nbt, err := tensor.FromBytes("bn.num_batches_tracked", tensor.I64, tensor.Shape{}, make([]byte, 8))
		if err != nil {
			t.Fatal(err)
		}
		got, err := FromPyTorch(&refit.Model{Tensors: append(ts, nbt)}, []LayerInfo{{Name: "bn", Class: "BatchNormalization"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Tensors) != 4 || got.Tensors[2].Name != "bn/moving_mean" {
			t.Fatalf("got %d tensors, third %q", len(got.Tensors), got.Tensors[2].Name)
		}
	})
}
