package keras2onnx

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

func weights(t *testing.T, ts map[string][]float32, shapes map[string][]int64) *refit.Model {
	t.Helper()
	m := &refit.Model{}
	for name, v := range ts {
		tn, err := tensor.NewF32(name, shapes[name], v)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, tn)
	}
	return m
}

func run(t *testing.T, mp *onnxpb.ModelProto, x []float32, shape ...int64) ([]float32, []int64) {
	t.Helper()
	sess, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	in, err := runtime.FromSlice(x, shape...)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := sess.Run(context.Background(), map[string]*runtime.Value{mp.Graph.Input[0].GetName(): in})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	y := outs[mp.Graph.Output[0].GetName()]
	return y.Float32s(), y.Shape
}

func near(got, want []float32) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			return false
		}
	}
	return true
}

// A Keras 3 Functional config (dict inbound nodes, single-ref input_layers, "vars/<i>"
// weights): hard_sigmoid must be Keras 3's relu6(x+3)/6, not Keras 2's clip(0.2x+0.5).
const keras3Config = `{"module": "keras.src.models.functional", "class_name": "Functional", "config": {
 "name": "f", "layers": [
  {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
   "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "x"}, "inbound_nodes": []},
  {"module": "keras.layers", "class_name": "Dense", "name": "d",
   "config": {"name": "d", "units": 2, "activation": "hard_sigmoid", "use_bias": true,
    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}},
   "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "dtype": "float32", "keras_history": ["x", 0, 0]}}], "kwargs": {}}]},
  {"module": "keras.layers", "class_name": "Add", "name": "add", "config": {"name": "add"},
   "inbound_nodes": [{"args": [[
     {"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "dtype": "float32", "keras_history": ["d", 0, 0]}},
     {"class_name": "__keras_tensor__", "config": {"shape": [null, 2], "dtype": "float32", "keras_history": ["x", 0, 0]}}]], "kwargs": {}}]}],
 "input_layers": ["x", 0, 0], "output_layers": ["add", 0, 0]}}`

// A Keras 2 (h5) Sequential config with batch_input_shape on its first layer; the
// Flatten must see channels-last order, or the output is permuted.
const keras2Config = `{"class_name": "Sequential", "config": {"name": "s", "layers": [
 {"class_name": "Conv2D", "config": {"name": "conv", "batch_input_shape": [null, 3, 3, 1], "filters": 2,
  "kernel_size": [2, 2], "strides": [2, 2], "padding": "same", "use_bias": false, "activation": "linear"}},
 {"class_name": "Flatten", "config": {"name": "flat"}}]}, "keras_version": "2.15.0"}`

func TestConvertHandComputed(t *testing.T) {
	t.Run("keras3", func(t *testing.T) {
		w := weights(t, map[string][]float32{"d/vars/0": {1, 2, 3, 4}, "d/vars/1": {0.5, -0.5}},
			map[string][]int64{"d/vars/0": {2, 2}, "d/vars/1": {2}})
		mp, err := Convert([]byte(keras3Config), w, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := run(t, mp, []float32{1, -1}, 1, 2)
		// d = [-1.5, -2.5]; relu6(d+3)/6 = [0.25, 1/12]; + x
		if want := []float32{1.25, -1 + 1.0/12}; !near(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("keras2", func(t *testing.T) {
		kernel := make([]float32, 8) // [2,2,1,2]: filter 0 all ones, filter 1 all twos
		for i := range kernel {
			kernel[i] = float32(1 + i%2)
		}
		w := weights(t, map[string][]float32{"conv/kernel:0": kernel}, map[string][]int64{"conv/kernel:0": {2, 2, 1, 2}})
		mp, err := Convert([]byte(keras2Config), w, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, shape := run(t, mp, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3, 1)
		// SAME with stride 2 on 3x3 pads one row and column at the end: window sums 12, 9, 15, 9.
		if want := []float32{12, 24, 9, 18, 15, 30, 9, 18}; !near(got, want) || shape[1] != 8 {
			t.Errorf("got %v %v, want %v", got, shape, want)
		}
		if n := countOps(mp, "Transpose"); n != 2 {
			t.Errorf("%d Transposes, want 2 (input, before Flatten)", n)
		}
	})
}

func TestConvertErrors(t *testing.T) {
	dense := `{"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {"name": "d", "units": 2, "batch_input_shape": [null, 2]}}]}`
	tests := []struct {
		name, config string
		want         error
	}{
		{"not json", `{"class_name": `, refit.ErrFormat},
		{"no class", `{"config": {}}`, refit.ErrFormat},
		{"subclassed", `{"class_name": "MyModel", "config": {}}`, refit.ErrUnsupported},
		{"graph model", `{"node": [{"name": "x", "op": "Placeholder"}], "library": {}, "versions": {}}`, refit.ErrUnsupported},
		{"missing weights", dense, refit.ErrFormat},
		{"no input shape", `{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"name": "d", "units": 2}}]}}`, refit.ErrFormat},
		{"bad ref", `{"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": [null, 2]}, "inbound_nodes": []},
			{"class_name": "ReLU", "name": "r", "config": {}, "inbound_nodes": [[["nowhere", 0, 0, {}]]]}], "input_layers": [["x", 0, 0]], "output_layers": [["r", 0, 0]]}}`, refit.ErrFormat},
		{"cycle", `{"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "name": "x", "config": {"batch_input_shape": [null, 2]}, "inbound_nodes": []},
			{"class_name": "Add", "name": "a", "config": {}, "inbound_nodes": [[["x", 0, 0, {}], ["b", 0, 0, {}]]]},
			{"class_name": "Add", "name": "b", "config": {}, "inbound_nodes": [[["x", 0, 0, {}], ["a", 0, 0, {}]]]}], "input_layers": [["x", 0, 0]], "output_layers": [["b", 0, 0]]}}`, refit.ErrFormat},
		{"bad padding", `{"class_name": "Sequential", "config": [{"class_name": "ZeroPadding2D", "config": {"name": "z", "padding": "x", "batch_input_shape": [null, 2, 2, 1]}}]}`, refit.ErrFormat},
		{"opset", dense, refit.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := &Options{}
			if tt.name == "opset" {
				opts.Opset = 13
			}
			_, err := Convert([]byte(tt.config), &refit.Model{}, opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("Convert = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestUnsupportedLayers(t *testing.T) {
	config := `{"class_name": "Sequential", "config": [
	 {"class_name": "Lambda", "config": {"name": "l1", "batch_input_shape": [null, 2]}},
	 {"class_name": "ConvLSTM2D", "config": {"name": "c"}},
	 {"class_name": "TimeDistributed", "config": {"name": "t", "layer": {"class_name": "Lambda", "config": {"name": "l2"}}}},
	 {"class_name": "Dense", "config": {"name": "d", "units": 1}}]}`
	_, err := Convert([]byte(config), nil, nil)
	var ue *graph.UnsupportedError
	if !errors.As(err, &ue) || !errors.Is(err, refit.ErrUnsupported) {
		t.Fatalf("Convert = %v, want *graph.UnsupportedError", err)
	}
	if len(ue.Counts) != 2 || ue.Counts["Lambda"] != 2 || ue.Counts["ConvLSTM2D"] != 1 {
		t.Errorf("Layers = %v, want Lambda: 2 (one inside TimeDistributed), ConvLSTM2D: 1", ue.Counts)
	}
	// Lambda layers are code: the error says so and names them.
	if !strings.Contains(ue.Note, `"l1"`) || !strings.Contains(ue.Note, `"l2"`) {
		t.Errorf("Note = %q, want the Lambda layers named", ue.Note)
	}
}

func TestPermuteInverse(t *testing.T) {
	data := make([]float32, 2*3*4)
	for i := range data {
		data[i] = float32(i)
	}
	p, s := permute(data, []int64{2, 3, 4}, []int{2, 0, 1})
	if s[0] != 4 || s[1] != 2 || s[2] != 3 || p[1] != 4 { // p[0][0][1] = data[0][1][0]
		t.Fatalf("permute shape %v, p[1] = %v", s, p[1])
	}
	back, _ := permute(p, s, []int{1, 2, 0})
	if !near(back, data) {
		t.Errorf("permute does not invert: %v", back)
	}
}

// FuzzConvert feeds mutated model configs (seeded from the TF.js fixtures) with their
// real weights: conversion must return a model or an error, never panic.
func FuzzConvert(f *testing.F) {
	f.Add([]byte(keras3Config))
	f.Add([]byte(keras2Config))
	dirs, _ := filepath.Glob("testdata/tfjs/*")
	for _, d := range dirs {
		if b, err := os.ReadFile(filepath.Join(d, "model.json")); err == nil {
			f.Add(b)
		}
	}
	// Weights of every fixture, so mutated configs get past the weight lookups.
	all := &refit.Model{}
	seen := map[string]bool{}
	for _, d := range dirs {
		m, err := tfjs.DecodeFS(os.DirFS(d), "model.json", nil)
		if err != nil {
			f.Fatal(err)
		}
		defer m.Close()
		for _, t := range m.Tensors {
			if !seen[t.Name] {
				seen[t.Name] = true
				all.Tensors = append(all.Tensors, t)
			}
		}
	}
	f.Fuzz(func(t *testing.T, config []byte) {
		mp, err := Convert(config, all, nil)
		if err == nil && mp.Graph == nil {
			t.Fatal("nil graph without error")
		}
	})
}
