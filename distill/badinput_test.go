package distill

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// valueInfo declares a float tensor [N, dims...] with a symbolic batch dimension.
func valueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{
		{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}

func model(nodes []*onnxpb.NodeProto, inits []*onnxpb.TensorProto, in, out *onnxpb.ValueInfoProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("g"), Node: nodes, Initializer: inits,
			Input: []*onnxpb.ValueInfoProto{in}, Output: []*onnxpb.ValueInfoProto{out}}}
}

// linear is a one-layer classifier: [N, in] -> Gemm -> [N, classes] "logits".
func linear(t *testing.T, in, classes int64) *onnxpb.ModelProto {
	t.Helper()
	w := make([]float32, in*classes)
	for i := range w {
		w[i] = float32(i%7)*0.1 - 0.3
	}
	wt, err := tensor.NewF32("w", tensor.Shape{classes, in}, w)
	if err != nil {
		t.Fatal(err)
	}
	bt, err := tensor.NewF32("b", tensor.Shape{classes}, make([]float32, classes))
	if err != nil {
		t.Fatal(err)
	}
	var inits []*onnxpb.TensorProto
	for _, tn := range []*tensor.Tensor{wt, bt} {
		p, err := onnx.TensorToProto(tn)
		if err != nil {
			t.Fatal(err)
		}
		inits = append(inits, p)
	}
	gemm := &onnxpb.NodeProto{OpType: proto.String("Gemm"), Name: proto.String("fc"), Input: []string{"input", "w", "b"}, Output: []string{"logits"},
		Attribute: []*onnxpb.AttributeProto{{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}}}
	return model([]*onnxpb.NodeProto{gemm}, inits, valueInfo("input", in), valueInfo("logits", classes))
}

func session(t *testing.T, mp *onnxpb.ModelProto) *runtime.Session {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func data(n int, dims []int64, labels []int64) *Data {
	shape := append([]int64{int64(n)}, dims...)
	x := make([]float32, tensor.Shape(shape).Elements())
	for i := range x {
		x[i] = float32(i%5) * 0.2
	}
	return &Data{X: x, Shape: shape, Labels: labels}
}

// TestTrainBadInput: teachers and students that do not fit, and data of the wrong
// shape, are ErrIncompatible (or ErrUnsupportedOp for an untrainable graph) before
// any training; nothing panics.
func TestTrainBadInput(t *testing.T) {
	student := linear(t, 4, 3)
	teacher3 := session(t, linear(t, 4, 3))
	teacher5 := session(t, linear(t, 4, 5))
	rank3 := model([]*onnxpb.NodeProto{{OpType: proto.String("Relu"), Input: []string{"input"}, Output: []string{"y"}}}, nil,
		valueInfo("input", 2, 2), valueInfo("y", 2, 2))
	erf := model([]*onnxpb.NodeProto{{OpType: proto.String("Erf"), Name: proto.String("erf"), Input: []string{"input"}, Output: []string{"y"}}}, nil,
		valueInfo("input", 4), valueInfo("y", 4))
	ok := data(8, []int64{4}, []int64{0, 1, 2, 0, 1, 2, 0, 1})
	for _, tc := range []struct {
		name    string
		teacher *runtime.Session
		student *onnxpb.ModelProto
		train   *Data
		val     *Data
		opts    Options
		want    error
	}{
		{"teacher has more classes", teacher5, student, ok, nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"student output not logits", teacher3, rank3, data(4, []int64{2, 2}, nil), nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"data feature size", teacher3, student, data(8, []int64{5}, nil), nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"data rank", teacher3, student, data(8, []int64{2, 2}, nil), nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"data values short", teacher3, student, &Data{X: make([]float32, 7), Shape: []int64{2, 4}}, nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"data without batch", teacher3, student, &Data{X: make([]float32, 4), Shape: []int64{4}}, nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"labels count", nil, student, data(8, []int64{4}, []int64{0, 1}), nil, Options{}, ErrIncompatible},
		{"label beyond classes", nil, student, data(2, []int64{4}, []int64{0, 3}), nil, Options{}, ErrIncompatible},
		{"held-out shape", teacher3, student, ok, &Data{X: make([]float32, 3), Shape: []int64{1, 4}}, Options{Alpha: 0.5}, ErrIncompatible},
		{"held-out feature size", teacher3, student, ok, data(2, []int64{5}, []int64{0, 1}), Options{Alpha: 0.5}, ErrIncompatible},
		{"held-out label beyond classes", teacher3, student, ok, data(2, []int64{4}, []int64{0, 7}), Options{Alpha: 0.5}, ErrIncompatible},
		{"alpha without teacher", nil, student, ok, nil, Options{Alpha: 0.5}, ErrIncompatible},
		{"alpha out of range", teacher3, student, ok, nil, Options{Alpha: 1.5}, ErrIncompatible},
		{"no labels no teacher", nil, student, data(8, []int64{4}, nil), nil, Options{}, ErrIncompatible},
		{"untrainable operator", nil, erf, ok, nil, Options{}, ErrUnsupportedOp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Epochs = 1
			out, res, err := Train(context.Background(), tc.teacher, tc.student, nil, tc.train, tc.val, &tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Train = %v, want %v", err, tc.want)
			}
			if out != nil || res != nil {
				t.Errorf("Train returned a model or result with error %v", err)
			}
		})
	}
	// The same setup with a fitting teacher trains: the cases above fail for their
	// stated reason, not for a broken fixture.
	if _, _, err := Train(context.Background(), teacher3, student, nil, ok, nil, &Options{Alpha: 0.5, Epochs: 1}); err != nil {
		t.Errorf("Train(fitting teacher and data) = %v", err)
	}
}

// TestFromModelBadInput: data files without the input array, with the wrong dtype,
// or with labels that do not match are ErrIncompatible.
func TestFromModelBadInput(t *testing.T) {
	x, _ := tensor.NewF32("input", tensor.Shape{2, 4}, make([]float32, 8))
	x1, _ := tensor.NewF32("input", tensor.Shape{8}, make([]float32, 8))
	other, _ := tensor.NewF32("other", tensor.Shape{2, 4}, make([]float32, 8))
	ints, _ := tensor.FromBytes("input", tensor.I32, tensor.Shape{2, 4}, make([]byte, 32))
	labF, _ := tensor.NewF32("label", tensor.Shape{2}, []float32{0, 1})
	lab3, _ := tensor.FromBytes("label", tensor.I64, tensor.Shape{3}, make([]byte, 24))
	for _, tc := range []struct {
		name    string
		tensors []*tensor.Tensor
	}{
		{"no input", []*tensor.Tensor{other, other}},
		{"integer input", []*tensor.Tensor{ints}},
		{"rank 1 input", []*tensor.Tensor{x1}},
		{"float labels", []*tensor.Tensor{x, labF}},
		{"label count", []*tensor.Tensor{x, lab3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromModel(&refit.Model{Tensors: tc.tensors}, "input"); !errors.Is(err, ErrIncompatible) {
				t.Errorf("FromModel = %v, want ErrIncompatible", err)
			}
		})
	}
}
