package eval

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

func TestNode(t *testing.T) {
	a, _ := tensor.NewF32("ignored", tensor.Shape{2}, []float32{1, 2})
	b, _ := tensor.NewF32("", tensor.Shape{2}, []float32{10, 20})
	n := &onnxpb.NodeProto{OpType: proto.String("Add"), Input: []string{"a", "b"}, Output: []string{"c"}}
	out, err := Node(n, []*tensor.Tensor{a, b}, 17)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] == nil || out[0].Name != "c" {
		t.Fatalf("Node = %v, want one tensor c", out)
	}
	got, err := out[0].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 11 || got[1] != 22 {
		t.Fatalf("Add = %v, want [11 22]", got)
	}
	if len(n.Input) != 2 || n.GetName() != "" {
		t.Fatalf("node modified: %v", n)
	}
}

func TestNodeUnknownOperator(t *testing.T) {
	n := &onnxpb.NodeProto{OpType: proto.String("Frobnicate"), Input: []string{"a"}, Output: []string{"c"}}
	a, _ := tensor.NewF32("a", tensor.Shape{1}, []float32{1})
	if _, err := Node(n, []*tensor.Tensor{a}, 17); err == nil {
		t.Fatal("Node ran an unknown operator")
	}
}
