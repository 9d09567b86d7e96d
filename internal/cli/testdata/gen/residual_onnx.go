//go:build ignore

// residual_onnx writes, base64-encoded on stdout, the tiny ONNX model embedded in
// ../script/prune.txtar: a residual block whose Add joins two Conv activations,
// which structured pruning cannot repair.
//
//	go run internal/cli/testdata/gen/residual_onnx.go
package main

import (
	"encoding/base64"
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

func weight(name string, shape ...int64) *onnxpb.TensorProto {
	n := tensor.Shape(shape).Elements()
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((i*7)%11)/10 - 0.5
	}
	t, err := tensor.NewF32(name, shape, v)
	if err != nil {
		panic(err)
	}
	p, err := onnx.TensorToProto(t)
	if err != nil {
		panic(err)
	}
	return p
}

func vi(name string, dims ...int64) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: s}}}}
}

func node(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}, Attribute: attrs}
}

func main() {
	transB := &onnxpb.AttributeProto{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}
	g := &onnxpb.GraphProto{
		Name: proto.String("residual"),
		Node: []*onnxpb.NodeProto{
			node("Conv", "conv_a", []string{"input", "wa"}, "a"),
			node("Relu", "relu", []string{"a"}, "r"),
			node("Conv", "conv_b", []string{"r", "wb"}, "b"),
			node("Add", "residual_add", []string{"a", "b"}, "s"),
			node("GlobalAveragePool", "pool", []string{"s"}, "p"),
			node("Flatten", "flatten", []string{"p"}, "f"),
			node("Gemm", "fc", []string{"f", "wf"}, "logits", transB),
		},
		Initializer: []*onnxpb.TensorProto{weight("wa", 4, 2, 1, 1), weight("wb", 4, 4, 1, 1), weight("wf", 3, 4)},
		Input:       []*onnxpb.ValueInfoProto{vi("input", 1, 2, 4, 4)},
		Output:      []*onnxpb.ValueInfoProto{vi("logits", 1, 3)},
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), ProducerName: proto.String("refit-testdata"),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(13)}}, Graph: g}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	enc := base64.StdEncoding.EncodeToString(b)
	for len(enc) > 76 {
		fmt.Println(enc[:76])
		enc = enc[76:]
	}
	fmt.Println(enc)
}
