package tfjs

import (
	"errors"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

const convTopology = `{"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "s", "layers": [
 {"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [1, 1], "use_bias": false, "batch_input_shape": [null, 2, 2, 3]}},
 {"class_name": "Flatten", "config": {"name": "flat"}},
 {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}, "weightsManifest": []}`

func f32(t *testing.T, name string, shape ...int64) *tensor.Tensor {
	t.Helper()
	v := make([]float32, tensor.Shape(shape).Elements())
	for i := range v {
		v[i] = float32(i) - 2.5
	}
	x, err := tensor.NewF32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// write prepares m for TF.js and encodes it as the registry does.
func write(m *refit.Model, opts *refit.EncodeOptions) (fstest.MapFS, error) {
	p, err := Prepare(m, opts)
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	return out, EncodeFS(memCreator(out), p, opts)
}

func TestPrepareLayers(t *testing.T) {
	torch := &refit.Model{Format: "safetensors", Tensors: []*tensor.Tensor{
		f32(t, "dense.weight", 2, 8), f32(t, "dense.bias", 2), f32(t, "conv.weight", 2, 3, 1, 1)}}
	out, err := write(torch, &refit.EncodeOptions{Topology: []byte(convTopology)})
	if err != nil {
		t.Fatalf("Prepare+EncodeFS = %v", err)
	}
	got, err := DecodeFS(out, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range got.Tensors {
		names = append(names, x.Name+x.Shape.String())
	}
	want := []string{"conv/kernel[1, 1, 3, 2]", "dense/kernel[8, 2]", "dense/bias[2]"}
	if len(names) != len(want) {
		t.Fatalf("weights %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("weights %v, want %v", names, want)
		}
	}
	if got.Metadata.String("tfjs.format") != LayersFormat {
		t.Errorf("format %q", got.Metadata.String("tfjs.format"))
	}

	t.Run("TF.js source keeps its own topology", func(t *testing.T) {
		if _, err := write(got, &refit.EncodeOptions{}); err != nil {
			t.Fatalf("Prepare(tfjs model) = %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		opts := &refit.EncodeOptions{Topology: []byte(convTopology)}
		stray := &refit.Model{Format: "safetensors", Tensors: append(torch.Tensors[:3:3], f32(t, "head.weight", 2))}
		if _, err := write(stray, opts); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("stray tensor: %v, want ErrFormat", err)
		}
		missing := &refit.Model{Format: "safetensors", Tensors: torch.Tensors[:2]}
		if _, err := write(missing, opts); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("missing conv: %v, want ErrFormat", err)
		}
		if _, err := write(torch, &refit.EncodeOptions{}); !errors.Is(err, ErrNoTopology) {
			t.Errorf("no topology: %v, want ErrNoTopology", err)
		}
	})
}
