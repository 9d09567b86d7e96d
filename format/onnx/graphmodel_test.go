package onnx_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// TestNewModel writes a built graph whose weight is computed when written, and one
// whose weight is inline, and reads both back.
func TestNewModel(t *testing.T) {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{2}, nil))
	name, elem := "w", int32(graph.ElemFloat)
	b.Initializer(&onnxpb.TensorProto{Name: &name, Dims: []int64{2}, DataType: &elem})
	bias := b.Float("b", []int64{2}, []float32{10, 20})
	b.Output(graph.ValueInfo(b.Op("Add", "y", []string{b.Op("Mul", "xw", []string{"x", "w"}), bias}), graph.ElemFloat, []int64{2}, nil))
	mp := graph.Model(b.Graph("g"), "test", 17)
	computed := 0
	lazy, err := tensor.New("w", tensor.F32, tensor.Shape{2}, tensor.NewLazy(8, func() ([]byte, error) {
		computed++
		out := make([]byte, 8)
		binary.LittleEndian.PutUint32(out, math.Float32bits(3))
		binary.LittleEndian.PutUint32(out[4:], math.Float32bits(4))
		return out, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.NewModel(mp, []*tensor.Tensor{lazy})
	if err != nil {
		t.Fatalf("NewModel = %v", err)
	}
	if computed != 0 {
		t.Fatalf("NewModel computed the lazy weight")
	}
	var buf bytes.Buffer
	if err := onnx.Encode(&buf, m, nil); err != nil {
		t.Fatalf("Encode = %v", err)
	}
	back, err := onnx.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	want := map[string][]float32{"w": {3, 4}, bias: {10, 20}}
	for _, x := range back.Tensors {
		v, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if w := want[x.Name]; len(v) != 2 || v[0] != w[0] || v[1] != w[1] {
			t.Errorf("tensor %s = %v, want %v", x.Name, v, w)
		}
		delete(want, x.Name)
	}
	if len(want) != 0 {
		t.Errorf("missing tensors %v", want)
	}
	if len(mp.Graph.Initializer[1].RawData) != 8 {
		t.Errorf("NewModel changed its input's initializers")
	}

	wrong, _ := tensor.FromBytes("w", tensor.F32, tensor.Shape{3}, make([]byte, 12))
	if _, err := onnx.NewModel(mp, []*tensor.Tensor{wrong}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("NewModel(wrong shape) = %v, want ErrUnsupported", err)
	}
	extra, _ := tensor.FromBytes("nope", tensor.F32, tensor.Shape{1}, make([]byte, 4))
	if _, err := onnx.NewModel(mp, []*tensor.Tensor{lazy, extra}); err == nil {
		t.Errorf("NewModel(extra tensor) succeeded")
	}
	if _, err := onnx.NewModel(mp, nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("NewModel(no data for w) = %v, want ErrUnsupported", err)
	}
}
