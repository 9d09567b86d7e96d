package runtime

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// TestArity checks that nodes missing a required input or output are refused at load
// (a kernel would otherwise index a value that is not there), while optional inputs
// left empty, as Loop's trip count and condition may be, are accepted.
func TestArity(t *testing.T) {
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 2}}}}}}}}
	}
	model := func(op string, inputs, outputs []string) *onnxpb.ModelProto {
		graphOut := "y"
		if len(outputs) == 0 {
			graphOut = "x" // the node's missing output alone is what is wrong
		}
		return &onnxpb.ModelProto{
			IrVersion:   proto.Int64(8),
			OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
			Graph: &onnxpb.GraphProto{
				Name:   proto.String("g"),
				Node:   []*onnxpb.NodeProto{{Name: proto.String("n"), OpType: proto.String(op), Input: inputs, Output: outputs}},
				Input:  []*onnxpb.ValueInfoProto{vi("x")},
				Output: []*onnxpb.ValueInfoProto{vi(graphOut)},
			},
		}
	}
	for _, tc := range []struct {
		op              string
		inputs, outputs []string
		ok              bool
	}{
		{"Transpose", nil, []string{"y"}, false},
		{"Transpose", []string{""}, []string{"y"}, false},
		{"Add", []string{"x"}, []string{"y"}, false},
		{"Relu", []string{"x"}, nil, false},
		{"Transpose", []string{"x"}, []string{"y"}, true},
		{"Clip", []string{"x", "", ""}, []string{"y"}, true},
	} {
		_, err := Load(model(tc.op, tc.inputs, tc.outputs), nil, nil)
		if tc.ok && err != nil {
			t.Errorf("%s%q -> %q: Load = %v, want success", tc.op, tc.inputs, tc.outputs, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidGraph) {
			t.Errorf("%s%q -> %q: Load = %v, want ErrInvalidGraph", tc.op, tc.inputs, tc.outputs, err)
		}
	}
}
