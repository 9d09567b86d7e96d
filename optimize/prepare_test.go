package optimize

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

func constNode(out string, attr *onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String("Constant"), Output: []string{out}, Name: proto.String(out + "_node"),
		Attribute: []*onnxpb.AttributeProto{attr}}
}

func TestLiftConstants(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "w0", []int64{2, 2}, []float32{1, 2, 3, 4})
	b.g.Node = append(b.g.Node,
		constNode("w", graph.TensorAttr("value", graph.FloatTensor("", []int64{2, 2}, []float32{1, 0, 0, 1}))),
		constNode("bias", graph.FloatsAttr("value_floats", []float32{0.5, -0.5})),
		constNode("k", graph.IntAttr("value_int", 3)),
		constNode("out_c", graph.FloatAttr("value_float", 7)), // a graph output: stays
		constNode("s", &onnxpb.AttributeProto{Name: proto.String("value_string"), S: []byte("x")}),
	)
	b.node("Identity", []string{"w0"}, []string{"w0_copy"})
	b.node("Identity", []string{"w0_copy"}, []string{"w0_copy2"}) // a chain
	b.node("MatMul", []string{"x", "w"}, []string{"m"})
	b.node("Add", []string{"m", "bias"}, []string{"a"})
	b.node("MatMul", []string{"a", "w0_copy2"}, []string{"y"})
	b.node("Identity", []string{"w0"}, []string{"y2"}) // a graph output: stays
	// An If whose branch reads w from the outer scope.
	branch := &onnxpb.GraphProto{Name: proto.String("then"),
		Node:   []*onnxpb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"w"}, Output: []string{"t"}}},
		Output: []*onnxpb.ValueInfoProto{valueInfo("t", 2)}}
	b.node("If", []string{"cond"}, []string{"z"}, graph.GraphAttr("then_branch", branch), graph.GraphAttr("else_branch", branch))
	b.g.Input = append(b.g.Input, valueInfo("cond", 0))
	m := b.model("y", "y2", "out_c", "z")
	out, rep := run(t, m, "lift-constants")
	if rep.Passes[0].Changes != 5 { // w, bias, k, and the two chained Identities
		t.Errorf("lift-constants made %d changes, want 5", rep.Passes[0].Changes)
	}
	e := graph.NewEditor(out.Graph)
	for _, name := range []string{"w", "bias", "k"} {
		if e.Initializer(name) == nil {
			t.Errorf("Constant %q was not lifted into an initializer", name)
		}
		if e.Producers()[name] != nil {
			t.Errorf("Constant %q still has a producer node", name)
		}
	}
	if tp := e.Initializer("k"); tp != nil && (tp.GetDataType() != graph.ElemInt64 || len(tp.Dims) != 0) {
		t.Errorf("value_int lifted as type %d dims %v, want a scalar int64", tp.GetDataType(), tp.Dims)
	}
	if e.Producers()["out_c"] == nil || e.Producers()["s"] == nil || e.Producers()["y2"] == nil {
		t.Error("a Constant or Identity making a graph output, or a string Constant, was removed")
	}
	for _, n := range out.Graph.Node {
		if n.GetOpType() == "MatMul" && n.Output[0] == "y" && n.Input[1] != "w0" {
			t.Errorf("MatMul reads %q, want the initializer w0 behind the Identity chain", n.Input[1])
		}
	}
	// Graph outputs keep their names; the If branch still reads w (now an initializer).
	for i, want := range []string{"y", "y2", "out_c", "z"} {
		if got := out.Graph.Output[i].GetName(); got != want {
			t.Errorf("output %d = %q, want %q", i, got, want)
		}
	}
	if got := graph.SubgraphReads(e.Producers()["z"]); len(got) != 2 || got[0] != "w" {
		t.Errorf("If reads %v from the outer scope, want [w w]", got)
	}
}

// A Constant shadowing an initializer or graph input, or an Identity cycle, is left
// alone: there is nothing to lift.
func TestLiftConstantsLeavesConflicts(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "w", []int64{1}, []float32{1})
	b.g.Node = append(b.g.Node,
		constNode("w", graph.FloatAttr("value_float", 2)),
		constNode("x", graph.FloatAttr("value_float", 3)),
	)
	b.node("Identity", []string{"c2"}, []string{"c1"})
	b.node("Identity", []string{"c1"}, []string{"c2"})
	b.node("Add", []string{"x", "w"}, []string{"y"})
	out, rep := run(t, b.model("y"), "lift-constants")
	if rep.Passes[0].Changes != 0 || len(out.Graph.Node) != 5 {
		t.Errorf("changes %d, nodes %v; want nothing changed", rep.Passes[0].Changes, ops(out))
	}
}

func TestPrepareKeepsInput(t *testing.T) {
	b := newBuilder("x")
	b.g.Node = append(b.g.Node, constNode("w", graph.FloatsAttr("value_floats", []float32{1, 2})))
	b.node("Add", []string{"x", "w"}, []string{"y"})
	m := b.model("y")
	before := proto.Clone(m)
	out, rep, err := Prepare(context.Background(), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(before, m) {
		t.Error("Prepare modified its input")
	}
	if len(out.Graph.Initializer) != 1 || len(out.Graph.Node) != 1 || rep.NodesAfter != 1 {
		t.Errorf("prepared graph: %d initializers, ops %v; want w lifted", len(out.Graph.Initializer), ops(out))
	}
	for _, p := range rep.Passes {
		if p.Name == "fold-constants" {
			t.Error("Prepare folded without an evaluator")
		}
	}
	if tp, err := onnx.TensorFromProto(out.Graph.Initializer[0], nil); err != nil || tp.NumElements() != 2 {
		t.Errorf("lifted w: %v, %v", tp, err)
	}
}
