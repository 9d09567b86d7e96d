package eval

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/optimize"
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

// TestFoldWithOptimize folds a constant subgraph through optimize.Model with Node as
// the evaluator: the Add of two initializers becomes one initializer.
func TestFoldWithOptimize(t *testing.T) {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{2}, nil))
	c1 := b.Float("c1", []int64{2}, []float32{1, 2})
	c2 := b.Float("c2", []int64{2}, []float32{3, 4})
	sum := b.Op("Add", "sum", []string{c1, c2})
	y := b.Op("Mul", "y", []string{"x", sum})
	b.Output(graph.ValueInfo(y, graph.ElemFloat, []int64{2}, nil))
	out, rep, err := optimize.Model(context.Background(), graph.Model(b.Graph("g"), "", 17), &optimize.Options{Fold: Node})
	if err != nil {
		t.Fatal(err)
	}
	if rep.NodesAfter != 1 || out.Graph.Node[0].GetOpType() != "Mul" {
		t.Fatalf("nodes after folding: %v, want [Mul]", out.Graph.Node)
	}
	tp := graph.NewEditor(out.Graph).Initializer(sum)
	if tp == nil {
		t.Fatalf("folded %q missing from %v", sum, out.Graph.Initializer)
	}
	v, err := onnx.TensorFromProto(tp, nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := v.Float32s(); len(f) != 2 || f[0] != 4 || f[1] != 6 {
		t.Fatalf("folded sum = %v, want [4 6]", f)
	}
}
