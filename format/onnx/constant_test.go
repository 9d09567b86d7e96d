package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

func constant(out string, a *onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String("Constant"), Output: []string{out}, Attribute: []*onnxpb.AttributeProto{a}}
}

func f32Raw(v ...float32) []byte {
	var b []byte
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}

func i64Raw(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func sparse(dims []int64, vals []float32, idxShape []int64, idx ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String("sparse_value"), SparseTensor: &onnxpb.SparseTensorProto{
		Dims:    dims,
		Values:  &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{int64(len(vals))}, RawData: f32Raw(vals...)},
		Indices: &onnxpb.TensorProto{DataType: proto.Int32(typeInt64), Dims: idxShape, RawData: i64Raw(idx...)},
	}}
}

func TestConstantValue(t *testing.T) {
	for _, c := range []struct {
		name  string
		attr  *onnxpb.AttributeProto
		dtype tensor.DType
		shape tensor.Shape
		want  []float32
	}{
		{"value", &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{2}, RawData: f32Raw(1, 2)}},
			tensor.F32, tensor.Shape{2}, []float32{1, 2}},
		{"value_float", &onnxpb.AttributeProto{Name: proto.String("value_float"), F: proto.Float32(2.5)}, tensor.F32, tensor.Shape{}, []float32{2.5}},
		{"value_floats", &onnxpb.AttributeProto{Name: proto.String("value_floats"), Floats: []float32{1, -1, 3}}, tensor.F32, tensor.Shape{3}, []float32{1, -1, 3}},
		{"value_int", &onnxpb.AttributeProto{Name: proto.String("value_int"), I: proto.Int64(-4)}, tensor.I64, tensor.Shape{}, []float32{-4}},
		{"value_ints", &onnxpb.AttributeProto{Name: proto.String("value_ints"), Ints: []int64{1, 2}}, tensor.I64, tensor.Shape{2}, []float32{1, 2}},
		{"sparse linear", sparse([]int64{2, 3}, []float32{5, 6}, []int64{2}, 1, 5), tensor.F32, tensor.Shape{2, 3}, []float32{0, 5, 0, 0, 0, 6}},
		{"sparse coordinates", sparse([]int64{2, 3}, []float32{5, 6}, []int64{2, 2}, 0, 1, 1, 2), tensor.F32, tensor.Shape{2, 3}, []float32{0, 5, 0, 0, 0, 6}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp, err := ConstantValue(constant("c", c.attr), 0)
			if err != nil {
				t.Fatalf("ConstantValue: %v", err)
			}
			tt, err := TensorFromProto(tp, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.Float32s()
			if err != nil || tt.Name != "c" || tt.DType != c.dtype || !tt.Shape.Equal(c.shape) || !slices.Equal(got, c.want) {
				t.Errorf("ConstantValue = %s %v %v %v (%v), want c %v %v %v", tt.Name, tt.DType, tt.Shape, got, err, c.dtype, c.shape, c.want)
			}
		})
	}
}

func TestConstantValueBad(t *testing.T) {
	for _, c := range []struct {
		name string
		node *onnxpb.NodeProto
		want error
	}{
		{"strings", constant("c", &onnxpb.AttributeProto{Name: proto.String("value_strings"), Strings: [][]byte{[]byte("a")}}), refit.ErrUnsupported},
		{"huge sparse", constant("c", sparse([]int64{1 << 20, 1 << 20}, []float32{1}, []int64{1}, 0)), refit.ErrUnsupported},
		{"sparse index out of range", constant("c", sparse([]int64{2}, []float32{1}, []int64{1}, 2)), refit.ErrFormat},
		{"sparse coordinate out of range", constant("c", sparse([]int64{2, 2}, []float32{1}, []int64{1, 2}, 0, -1)), refit.ErrFormat},
		{"sparse indices too short", constant("c", sparse([]int64{4}, []float32{1, 2}, []int64{1}, 0)), refit.ErrFormat},
		{"raw size mismatch", constant("c", &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{1 << 40}, RawData: f32Raw(1)}}), refit.ErrFormat},
		{"no value", &onnxpb.NodeProto{OpType: proto.String("Constant"), Output: []string{"c"}}, refit.ErrFormat},
		{"not a Constant", &onnxpb.NodeProto{OpType: proto.String("Relu"), Output: []string{"c"}}, refit.ErrFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := ConstantValue(c.node, 0); !errors.Is(err, c.want) {
				t.Errorf("ConstantValue = %v, want %v", err, c.want)
			}
		})
	}
}

// Decode finds weights stored in Constant nodes, and Encode writes them back as
// initializers, data unchanged; a Constant making a graph output stays a node.
func TestDecodeLiftsConstants(t *testing.T) {
	g := &onnxpb.GraphProto{Name: proto.String("g"),
		Node: []*onnxpb.NodeProto{
			constant("w", &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{2, 2}, RawData: f32Raw(1, 2, 3, 4)}}),
			constant("b", &onnxpb.AttributeProto{Name: proto.String("value_floats"), Floats: []float32{5, 6}}),
			constant("e", &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{3}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: external("w.bin", "0", "12")}}),
			constant("out", &onnxpb.AttributeProto{Name: proto.String("value_int"), I: proto.Int64(1)}),
			{OpType: proto.String("Gemm"), Input: []string{"x", "w", "b"}, Output: []string{"y"}},
		},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("init"), DataType: proto.Int32(typeFloat), Dims: []int64{1}, RawData: f32Raw(9)}},
		Input:       []*onnxpb.ValueInfoProto{{Name: proto.String("x")}},
		Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y")}, {Name: proto.String("out")}},
	}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{"m.onnx": {Data: b}, "w.bin": {Data: f32Raw(7, 8, 9)}}
	m, err := DecodeFS(fsys, "m.onnx", nil)
	if err != nil {
		t.Fatalf("DecodeFS: %v", err)
	}
	defer m.Close()
	var names []string
	for _, tt := range m.Tensors {
		names = append(names, tt.Name)
	}
	if !slices.Equal(names, []string{"init", "w", "b", "e"}) {
		t.Fatalf("tensors %v, want [init w b e]", names)
	}
	if got := floats(t, m, "e"); !slices.Equal(got, []float32{7, 8, 9}) {
		t.Errorf("external Constant e = %v, want [7 8 9]", got)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	m2, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatalf("Decode(encoded): %v", err)
	}
	defer m2.Close()
	if len(m2.Tensors) != 4 || !slices.Equal(floats(t, m2, "w"), []float32{1, 2, 3, 4}) || !slices.Equal(floats(t, m2, "b"), []float32{5, 6}) {
		t.Errorf("re-decoded %d tensors, w %v, b %v", len(m2.Tensors), floats(t, m2, "w"), floats(t, m2, "b"))
	}
	src := m2.Source.(*Source).Proto()
	if n := len(src.Graph.Node); n != 2 || src.Graph.Node[0].Output[0] != "out" {
		t.Errorf("encoded graph has %d nodes (%v first), want the graph-output Constant and Gemm", n, src.Graph.Node[0].Output)
	}
}

// Lifting Constant nodes leaves the initializers lazy: decoding a model with 32 MiB
// of initializer weights and a Constant allocates a fraction of that.
func TestDecodeLiftingKeepsWeightsLazy(t *testing.T) {
	const n = 32 << 20
	g := &onnxpb.GraphProto{Name: proto.String("g"),
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("big"), DataType: proto.Int32(typeUint8), Dims: []int64{n}, RawData: make([]byte, n)}},
		Node:        []*onnxpb.NodeProto{constant("c", &onnxpb.AttributeProto{Name: proto.String("value_floats"), Floats: []float32{1, 2}})}}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	b, g = nil, nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := refit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	defer m.Close()
	if got := after.TotalAlloc - before.TotalAlloc; got > n/8 {
		t.Errorf("decoding a model with %d bytes of weights allocated %d bytes", n, got)
	}
	if len(m.Tensors) != 2 || m.Tensor("big").Size() != n || m.Tensor("c") == nil {
		t.Errorf("tensors %d, want big (%d bytes) and the lifted c", len(m.Tensors), n)
	}
}
