package onnx

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Weights inside If branches (Constant values and branch initializers, as Silero VAD
// v6 stores them) are listed as tensors and written back in place when replaced.
func TestNestedWeightsRoundTrip(t *testing.T) {
	wv := func(v ...float32) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{2, 2}, RawData: f32Raw(v...)}}
	}
	then := &onnxpb.GraphProto{Name: proto.String("then"),
		Node: []*onnxpb.NodeProto{
			constant("w", wv(1, 2, 3, 4)),
			constant("shape", &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeInt64), Dims: []int64{1}, RawData: i64Raw(4)}}),
			{OpType: proto.String("MatMul"), Input: []string{"x", "w"}, Output: []string{"y_then"}},
		},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y_then")}}}
	els := &onnxpb.GraphProto{Name: proto.String("else"),
		Node:        []*onnxpb.NodeProto{{OpType: proto.String("MatMul"), Input: []string{"x", "w"}, Output: []string{"y_else"}}},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(typeFloat), Dims: []int64{2, 2}, RawData: f32Raw(5, 6, 7, 8)}},
		Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y_else")}}}
	g := &onnxpb.GraphProto{Name: proto.String("g"),
		Node: []*onnxpb.NodeProto{{OpType: proto.String("If"), Input: []string{"c"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: then},
			{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: els}}}},
		Initializer: []*onnxpb.TensorProto{{Name: proto.String("main"), DataType: proto.Int32(typeFloat), Dims: []int64{1}, RawData: f32Raw(9)}},
		Input:       []*onnxpb.ValueInfoProto{{Name: proto.String("x")}, {Name: proto.String("c")}},
		Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
	}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var names []string
	for _, tt := range m.Tensors {
		names = append(names, tt.Name)
	}
	// The int64 shape constant is no weight; the else branch's w shadows the then
	// branch's name and gets a suffix.
	if !slices.Equal(names, []string{"main", "w", "w#2"}) {
		t.Fatalf("tensors %v, want [main w w#2]", names)
	}
	if got := floats(t, m, "w#2"); !slices.Equal(got, []float32{5, 6, 7, 8}) {
		t.Errorf("w#2 = %v", got)
	}
	// Unchanged, the model encodes to the same graph.
	var same bytes.Buffer
	if err := Encode(&same, m, nil); err != nil {
		t.Fatal(err)
	}
	for i, tt := range m.Tensors {
		if tt.Name == "main" {
			continue
		}
		v, _ := tt.Float32s()
		for j := range v {
			v[j] *= -1
		}
		if m.Tensors[i], err = tensor.NewF32(tt.Name, tt.Shape, v); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	m2, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := floats(t, m2, "w"); !slices.Equal(got, []float32{-1, -2, -3, -4}) {
		t.Errorf("then branch's w after the round trip = %v", got)
	}
	if got := floats(t, m2, "w#2"); !slices.Equal(got, []float32{-5, -6, -7, -8}) {
		t.Errorf("else branch's w after the round trip = %v", got)
	}
	if got := floats(t, m2, "main"); !slices.Equal(got, []float32{9}) {
		t.Errorf("main = %v", got)
	}
	// The decoded source still holds the original values (the encoder copied the graph).
	m3, err := Decode(bytes.NewReader(same.Bytes()), int64(same.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m3.Close()
	if got := floats(t, m3, "w"); !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("unchanged encode: w = %v", got)
	}
}

// A malformed weight inside a subgraph is left unlisted (as a malformed Constant of
// the main graph is), and the model still decodes and encodes.
func TestNestedMalformedWeightUnlisted(t *testing.T) {
	bad := &onnxpb.AttributeProto{Name: proto.String("value"), T: &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{2, 2}, RawData: []byte{1, 2, 3}}}
	body := &onnxpb.GraphProto{Name: proto.String("then"), Node: []*onnxpb.NodeProto{constant("w", bad)},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("w")}}}
	g := &onnxpb.GraphProto{Name: proto.String("g"),
		Node: []*onnxpb.NodeProto{{OpType: proto.String("If"), Input: []string{"c"}, Output: []string{"y"}, Attribute: []*onnxpb.AttributeProto{
			{Name: proto.String("then_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: body},
			{Name: proto.String("else_branch"), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: body}}}},
		Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("c")}},
		Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
	}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	defer m.Close()
	if len(m.Tensors) != 0 {
		t.Errorf("listed %d tensors, want none", len(m.Tensors))
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		t.Errorf("Encode: %v", err)
	}
}
