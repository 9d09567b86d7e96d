package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/tensor"
)

const totfjsTopology = `{"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "s", "layers": [
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

func TestConvertToTFJS(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "topology.json")
	if err := os.WriteFile(topo, []byte(totfjsTopology), 0o644); err != nil {
		t.Fatal(err)
	}
	torch := &refit.Model{Format: "safetensors", Tensors: []*tensor.Tensor{
		f32(t, "dense.weight", 2, 8), f32(t, "dense.bias", 2), f32(t, "conv.weight", 2, 3, 1, 1)}}
	var stdout, stderr bytes.Buffer
	e := &env{ctx: context.Background(), stdout: &stdout, stderr: &stderr}
	out := filepath.Join(dir, "web")
	if err := convertToTFJS(e, torch, out, topo, false); err != nil {
		t.Fatalf("convertToTFJS = %v", err)
	}
	got, err := tfjs.DecodeFS(refit.DirFS(out), ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
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
	if got.Metadata.String("tfjs.format") != tfjs.LayersFormat {
		t.Errorf("format %q", got.Metadata.String("tfjs.format"))
	}

	t.Run("exists without force", func(t *testing.T) {
		if err := convertToTFJS(e, torch, out, topo, false); !errors.Is(err, refit.ErrExists) {
			t.Fatalf("convertToTFJS = %v, want ErrExists", err)
		}
		if err := convertToTFJS(e, torch, out, topo, true); err != nil {
			t.Fatalf("with force: %v", err)
		}
	})
	t.Run("TF.js source keeps its own topology", func(t *testing.T) {
		again := filepath.Join(dir, "again")
		if err := convertToTFJS(e, got, again, "", false); err != nil {
			t.Fatalf("convertToTFJS(tfjs model) = %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		stray := &refit.Model{Format: "safetensors", Tensors: append(torch.Tensors[:3:3], f32(t, "head.weight", 2))}
		if err := convertToTFJS(e, stray, filepath.Join(dir, "x"), topo, false); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("stray tensor: %v, want ErrFormat", err)
		}
		missing := &refit.Model{Format: "safetensors", Tensors: torch.Tensors[:2]}
		if err := convertToTFJS(e, missing, filepath.Join(dir, "y"), topo, false); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("missing conv: %v, want ErrFormat", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "y", "model.json")); err == nil {
			t.Error("model.json written on error")
		}
		var u usageError
		if err := convertToTFJS(e, torch, filepath.Join(dir, "z"), "", false); !errors.As(err, &u) {
			t.Errorf("no topology: %v, want a usage error", err)
		}
	})
}
