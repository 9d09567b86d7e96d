package graph

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

func TestNamesFresh(t *testing.T) {
	n := Names{Clean: func(s string) string { return strings.ReplaceAll(s, ":", "_") }}
	n.Reserve("x")
	if got := n.Fresh("a:0"); got != "a_0" {
		t.Fatalf("Fresh(a:0) = %q, want a_0 (cleaned)", got)
	}
	got := []string{n.Fresh("x"), n.Fresh("x"), n.Fresh("y"), n.Fresh("y")}
	want := []string{"x_1", "x_2", "y", "y_1"}
	if !slices.Equal(got, want) {
		t.Fatalf("Fresh = %q, want %q", got, want)
	}
	if !n.Used("x_2") || n.Used("z") {
		t.Fatalf("Used wrong: x_2 %v z %v", n.Used("x_2"), n.Used("z"))
	}
}

func TestAttributes(t *testing.T) {
	n := &onnxpb.NodeProto{OpType: proto.String("Conv")}
	if Int(n, "group", 1) != 1 || Float(n, "alpha", 0.5) != 0.5 || String(n, "auto_pad", "NOTSET") != "NOTSET" {
		t.Fatal("defaults not returned for missing attributes")
	}
	if Ints(n, "pads", []int64{9})[0] != 9 || Floats(n, "scales", nil) != nil || Tensor(n, "value") != nil || Graph(n, "body") != nil {
		t.Fatal("list defaults not returned")
	}
	SetInt(n, "group", 4)
	SetInt(n, "group", 2) // replaces, does not append
	SetFloat(n, "alpha", 0.25)
	SetInts(n, "pads", []int64{1, 2})
	SetFloats(n, "scales", []float32{3})
	SetString(n, "auto_pad", "SAME_UPPER")
	tp := FloatTensor("v", []int64{1}, []float32{7})
	SetTensor(n, "value", tp)
	body := &onnxpb.GraphProto{Name: proto.String("body")}
	SetGraph(n, "body", body)
	if len(n.Attribute) != 7 {
		t.Fatalf("%d attributes, want 7", len(n.Attribute))
	}
	if Int(n, "group", 1) != 2 || Float(n, "alpha", 0) != 0.25 || String(n, "auto_pad", "") != "SAME_UPPER" {
		t.Fatalf("scalar attributes read back wrong: %v", n.Attribute)
	}
	if !slices.Equal(Ints(n, "pads", nil), []int64{1, 2}) || !slices.Equal(Floats(n, "scales", nil), []float32{3}) {
		t.Fatalf("list attributes read back wrong: %v", n.Attribute)
	}
	if Tensor(n, "value") != tp || Graph(n, "body") != body || len(Subgraphs(n)) != 1 {
		t.Fatal("tensor/graph attributes read back wrong")
	}
	if a := Attr(n, "pads"); a.GetType() != onnxpb.AttributeProto_INTS {
		t.Fatalf("pads type %v, want INTS", a.GetType())
	}
	src := []int64{5}
	a := IntsAttr("x", src)
	src[0] = 6
	if a.Ints[0] != 5 {
		t.Fatal("IntsAttr aliases its argument")
	}
	if s := StringsAttr("s", []string{"a", "b"}); len(s.Strings) != 2 || string(s.Strings[1]) != "b" {
		t.Fatalf("StringsAttr = %v", s)
	}
}

func TestUnsupportedError(t *testing.T) {
	var err error = &UnsupportedError{Converter: "tf2onnx", Kind: "tflite operators", Counts: map[string]int{"B": 2, "A": 1}}
	if !errors.Is(err, refit.ErrUnsupported) {
		t.Fatal("UnsupportedError does not wrap refit.ErrUnsupported")
	}
	if got, want := err.Error(), "tf2onnx: unsupported tflite operators: A (1), B (2)"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestBuilder(t *testing.T) {
	var b Builder
	b.Input(ValueInfo("x", ElemFloat, []int64{-1, 3}, func(int) string { return "N" }))
	w := b.Float("w", []int64{3}, []float32{1, 2, 3})
	y := b.Op("Mul", "x", []string{"x", w}) // "x" is taken by the input
	outs := b.OpN("Split", "s", []string{y}, []bool{true, false, false})
	b.Output(ValueInfo(outs[0], ElemFloat, nil, nil))
	if y != "x_1" || w != "w" {
		t.Fatalf("names %q %q, want x_1 w", y, w)
	}
	if len(outs) != 3 || outs[0] != "s_out0" || outs[1] != "" {
		t.Fatalf("OpN outputs %q", outs)
	}
	if n := b.Nodes[1]; len(n.Output) != 1 || n.GetName() != "s" {
		t.Fatalf("OpN node %v: trailing omitted outputs must be left off", n)
	}
	mp := Model(b.Graph("g"), "test", 17)
	if Opset(mp, "") != 17 || Opset(mp, "ai.onnx") != 17 || Opset(mp, "com.microsoft") != 0 {
		t.Fatalf("Opset wrong: %v", mp.OpsetImport)
	}
	EnsureOpset(mp, "", 13) // lower: unchanged
	EnsureOpset(mp, "com.microsoft", 1)
	if Opset(mp, "") != 17 || Opset(mp, "com.microsoft") != 1 {
		t.Fatalf("EnsureOpset wrong: %v", mp.OpsetImport)
	}
	if dims := mp.Graph.Input[0].GetType().GetTensorType().GetShape().GetDim(); dims[0].GetDimParam() != "N" || dims[1].GetDimValue() != 3 {
		t.Fatalf("ValueInfo dims %v", dims)
	}
}

func node(op, name string, in, out []string) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: out}
}

func vi(name string) *onnxpb.ValueInfoProto { return &onnxpb.ValueInfoProto{Name: proto.String(name)} }

// chain: x -> A -> a -> B -> b (output); C reads a, writes c (dead); If reads b2 in a subgraph.
func testGraph() *onnxpb.GraphProto {
	body := &onnxpb.GraphProto{Node: []*onnxpb.NodeProto{node("Identity", "inner", []string{"a"}, []string{"r"})}, Output: []*onnxpb.ValueInfoProto{vi("r")}}
	ifNode := node("If", "if", []string{"cond"}, []string{"o2"})
	ifNode.Attribute = []*onnxpb.AttributeProto{GraphAttr("then_branch", body)}
	return &onnxpb.GraphProto{
		Input:       []*onnxpb.ValueInfoProto{vi("x"), vi("cond")},
		Output:      []*onnxpb.ValueInfoProto{vi("b"), vi("o2")},
		Initializer: []*onnxpb.TensorProto{FloatTensor("w", nil, []float32{1}), FloatTensor("unused", nil, []float32{2})},
		Node: []*onnxpb.NodeProto{
			node("B", "nb", []string{"a", "w"}, []string{"b"}),
			node("A", "na", []string{"x"}, []string{"a"}),
			node("C", "nc", []string{"a"}, []string{"c"}),
			ifNode,
		},
	}
}

func TestEditorIndexes(t *testing.T) {
	e := NewEditor(testGraph())
	if p := e.Producers()["a"]; p.GetName() != "na" {
		t.Fatalf("producer of a = %v", p)
	}
	if u := e.Uses(); u["a"] != 3 || u["b"] != 1 || u["unused"] != 0 {
		t.Fatalf("uses = %v, want a:3 (B, C, If body) b:1", u)
	}
	if c := e.Consumers("a"); len(c) != 2 || c[0].Node.GetName() != "nb" || c[1].Node.GetName() != "nc" || c[0].Input != 0 {
		t.Fatalf("consumers of a = %v", c)
	}
	if idx := e.ConsumerIndex(); len(idx["w"]) != 1 || idx["w"][0].Input != 1 {
		t.Fatalf("ConsumerIndex[w] = %v", idx["w"])
	}
	e.SetInitializer(FloatTensor("w", nil, []float32{5}))
	e.SetInitializer(FloatTensor("new", nil, []float32{6}))
	if len(e.G.Initializer) != 3 || e.G.Initializer[0].GetRawData()[3] != 0x40 || !e.Names.Used("new") {
		t.Fatalf("SetInitializer: %v", e.G.Initializer)
	}
	if e.Initializer("w") == nil || e.Initializer("x") != nil {
		t.Fatal("Initializer lookup wrong")
	}
	if got := e.Names.Fresh("na"); got != "na_1" {
		t.Fatalf("Fresh(na) = %q: node names must be reserved", got)
	}
}

func TestEditorTopoSortAndDead(t *testing.T) {
	e := NewEditor(testGraph())
	if err := e.TopoSort(); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, n := range e.G.Node {
		order = append(order, n.GetName())
	}
	if want := []string{"na", "nb", "nc", "if"}; !slices.Equal(order, want) {
		t.Fatalf("TopoSort order %q, want %q", order, want)
	}
	if removed := e.RemoveDead(); removed != 1 {
		t.Fatalf("RemoveDead removed %d, want 1 (C)", removed)
	}
	e.Compact()
	if len(e.G.Node) != 3 {
		t.Fatalf("%d nodes after RemoveDead, want 3", len(e.G.Node))
	}
	if removed := e.RemoveUnusedInitializers(); removed != 1 || len(e.G.Initializer) != 1 || e.G.Initializer[0].GetName() != "w" {
		t.Fatalf("RemoveUnusedInitializers removed %d, left %v", removed, e.G.Initializer)
	}
	e.G.Node = append(e.G.Node, node("D", "nd", []string{"d2"}, []string{"d1"}), node("E", "ne", []string{"d1"}, []string{"d2"}))
	if err := e.TopoSort(); err == nil {
		t.Fatal("TopoSort accepted a cycle")
	}
}

func TestEditorReplaceUsesAndBypass(t *testing.T) {
	e := NewEditor(testGraph())
	e.ReplaceUses("a", "x")
	if e.G.Node[0].Input[0] != "x" || e.G.Node[2].Input[0] != "x" {
		t.Fatalf("node inputs not replaced: %v", e.G.Node)
	}
	if in := Graph(e.G.Node[3], "then_branch").Node[0].Input[0]; in != "x" {
		t.Fatalf("subgraph capture not replaced: %q", in)
	}
	// Bypassing an identity whose output is a graph output moves the output name to
	// the producer.
	e = NewEditor(testGraph())
	id := node("Identity", "id", []string{"b"}, []string{"out"})
	e.G.Node = append(e.G.Node, id)
	e.G.Output[0].Name = proto.String("out")
	if !e.Bypass(id, "b", "out") {
		t.Fatal("Bypass refused")
	}
	e.Compact()
	if e.G.Node[0].Output[0] != "out" || len(e.G.Node) != 4 {
		t.Fatalf("after Bypass nodes %v", e.G.Node)
	}
	// A graph input feeding a graph output cannot be bypassed.
	id = node("Identity", "id2", []string{"x"}, []string{"o2"})
	e.G.Node = append(e.G.Node, id)
	if e.Bypass(id, "x", "o2") {
		t.Fatal("Bypass renamed a graph input")
	}
}

func TestEditorCommit(t *testing.T) {
	e := NewEditor(testGraph())
	nb := e.G.Node[0]
	pre := e.NewNode("Neg", "nb", []string{"w"}, []string{e.Names.Fresh("w_neg")})
	e.InsertBefore(nb, pre)
	rep := e.NewNode("C2", "nc", []string{"a"}, []string{"c"})
	e.Replace(e.G.Node[2], rep)
	e.Remove(e.G.Node[3])
	e.Commit()
	var order []string
	for _, n := range e.G.Node {
		order = append(order, n.GetName())
	}
	if want := []string{"nb_1", "nb", "na", "nc_1"}; !slices.Equal(order, want) {
		t.Fatalf("after Commit %q, want %q", order, want)
	}
	if pre.Output[0] != "w_neg" {
		t.Fatalf("fresh output %q", pre.Output[0])
	}
}

func TestWithOutputs(t *testing.T) {
	mp := Model(testGraph(), "", 17)
	m := WithOutputs(mp, []string{"a", "b", "a"})
	if len(mp.Graph.Output) != 2 {
		t.Fatal("WithOutputs modified its argument")
	}
	var got []string
	for _, o := range m.Graph.Output {
		got = append(got, o.GetName())
	}
	if want := []string{"b", "o2", "a"}; !slices.Equal(got, want) {
		t.Fatalf("outputs %q, want %q", got, want)
	}
	if tp := RawTensor("", ElemInt64, []int64{1}, make([]byte, 8)); tp.Name != nil {
		t.Fatal("RawTensor named an unnamed tensor")
	}
}

func TestIntTensor(t *testing.T) {
	var b Builder
	i64 := b.IntData("a", ElemInt64, []int64{2}, []int64{1, -2})
	i8 := b.IntData("b", ElemInt8, []int64{2}, []int64{-3, 4})
	tp64, tp8 := b.Initializers[0], b.Initializers[1]
	if i64 != "a" || i8 != "b" || !slices.Equal(tp64.Int64Data, []int64{1, -2}) || tp64.Int32Data != nil {
		t.Fatalf("int64: %v", tp64)
	}
	if !slices.Equal(tp8.Int32Data, []int32{-3, 4}) || tp8.GetDataType() != ElemInt8 || tp8.RawData != nil {
		t.Fatalf("int8: %v", tp8)
	}
}
