package cli

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
)

// fixedBatchModel is y = x * 2 declared with x [1, 3] (a batch of one, as many exporters
// write it), plus a scalar input s added to every element.
func fixedBatchModel() *onnxpb.ModelProto {
	dims := func(ds ...int64) *onnxpb.TypeProto {
		var d []*onnxpb.TensorShapeProto_Dimension
		for _, x := range ds {
			d = append(d, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: x}})
		}
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: d}}}}
	}
	two := &onnxpb.TensorProto{Name: proto.String("two"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{2}}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("g"),
			Input:       []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: dims(1, 3)}, {Name: proto.String("s"), Type: dims()}},
			Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y"), Type: dims(1, 3)}},
			Initializer: []*onnxpb.TensorProto{two},
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("Mul"), Input: []string{"x", "two"}, Output: []string{"m"}},
				{OpType: proto.String("Add"), Input: []string{"m", "s"}, Output: []string{"y"}},
			}}}
}

// Held-out data of several rows evaluates a model that fixes its batch at 1: one row at
// a time, outputs stacked in order, the scalar input given to every row.
func TestRunRowsFixedBatch(t *testing.T) {
	s, err := runtime.Load(fixedBatchModel(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := runtime.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := runtime.FromSlice([]float32{0.5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), map[string]*runtime.Value{"x": x, "s": sc}); err == nil {
		t.Fatal("the runtime ran 3 rows through a model declaring a batch of 1; the test needs it to refuse")
	}
	out, err := runRows(context.Background(), s, map[string]*runtime.Value{"x": x, "s": sc})
	if err != nil {
		t.Fatal(err)
	}
	y := out["y"]
	if !slices.Equal(y.Shape, []int64{3, 3}) {
		t.Fatalf("y shape %v, want [3 3]", y.Shape)
	}
	want := []float32{2.5, 4.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 18.5}
	if got := y.Float32s(); !slices.Equal(got, want) {
		t.Errorf("y = %v, want %v", got, want)
	}

	// One row runs as it is.
	one, err := runtime.FromSlice([]float32{1, 1, 1}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runRows(context.Background(), s, map[string]*runtime.Value{"x": one, "s": sc}); err != nil || !slices.Equal(out["y"].Float32s(), []float32{2.5, 2.5, 2.5}) {
		t.Errorf("one row: %v, %v", out, err)
	}
}
