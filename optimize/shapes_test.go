package optimize

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// shapeString renders a value_info's shape as "N,8,?,4".
func shapeString(v *onnxpb.ValueInfoProto) string {
	var parts []string
	for _, d := range v.GetType().GetTensorType().GetShape().GetDim() {
		switch {
		case d.GetDimParam() != "":
			parts = append(parts, d.GetDimParam())
		case isDimValue(d):
			parts = append(parts, fmt.Sprint(d.GetDimValue()))
		default:
			parts = append(parts, "?")
		}
	}
	return strings.Join(parts, ",")
}

func TestInferShapes(t *testing.T) {
	b := newBuilder()
	b.g.Input = []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{-1, 3, 8, 8}, func(int) string { return "N" })}
	b.init(t, "w", []int64{8, 3, 3, 3}, make([]float32, 8*27))
	b.init(t, "fc", []int64{10, 128}, make([]float32, 1280))
	b.init(t, "bias", []int64{10}, make([]float32, 10))
	b.g.Initializer = append(b.g.Initializer, graph.Int64Tensor("shape", []int64{2}, []int64{0, -1}))
	b.node("Conv", []string{"x", "w"}, []string{"c"}, graph.IntsAttr("pads", []int64{1, 1, 1, 1}))
	b.node("Relu", []string{"c"}, []string{"r"})
	b.node("MaxPool", []string{"r"}, []string{"p"}, graph.IntsAttr("kernel_shape", []int64{2, 2}), graph.IntsAttr("strides", []int64{2, 2}))
	b.node("Flatten", []string{"p"}, []string{"f"})
	b.node("Reshape", []string{"p", "shape"}, []string{"rs"})
	b.node("Gemm", []string{"f", "fc"}, []string{"g"}, graph.IntAttr("transB", 1))
	b.node("Add", []string{"g", "bias"}, []string{"a"})
	b.node("Cast", []string{"a"}, []string{"y"}, graph.IntAttr("to", graph.ElemInt64))
	b.node("NonZero", []string{"a"}, []string{"nz"}) // not inferred
	b.node("Transpose", []string{"rs"}, []string{"rt"})
	m := b.model("y")
	m.Graph.Output[0] = graph.ValueInfo("y", graph.ElemInt64, nil, nil)
	m.Graph.Output = append(m.Graph.Output, graph.ValueInfo("nz", graph.ElemInt64, nil, nil), graph.ValueInfo("rt", graph.ElemFloat, nil, nil))
	out, _ := run(t, m, "infer-shapes")
	got := map[string]string{}
	for _, v := range out.Graph.ValueInfo {
		got[v.GetName()] = fmt.Sprintf("%d:%s", v.GetType().GetTensorType().GetElemType(), shapeString(v))
	}
	want := map[string]string{
		"c": "1:N,8,8,8", "r": "1:N,8,8,8", "p": "1:N,8,4,4", "f": "1:N,128", "rs": "1:N,?",
		"g": "1:N,10", "a": "1:N,10",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	for _, name := range []string{"y", "nz", "rt", "x"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s described again in value_info (a graph input or output already is)", name)
		}
	}
	if len(got) != len(want) {
		t.Errorf("value_info has %d entries %v, want %d", len(got), got, len(want))
	}
}

// A broadcast of incompatible known dims is not described; a second run adds nothing.
func TestInferShapesConservative(t *testing.T) {
	b := newBuilder()
	b.g.Input = []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 3}, nil)}
	b.init(t, "w", []int64{4}, make([]float32, 4))
	b.node("Add", []string{"x", "w"}, []string{"bad"})
	b.node("Relu", []string{"x"}, []string{"ok"})
	b.node("Add", []string{"bad", "ok"}, []string{"y"})
	out, _ := run(t, b.model("y"), "infer-shapes")
	if len(out.Graph.ValueInfo) != 1 || out.Graph.ValueInfo[0].GetName() != "ok" {
		var names []string
		for _, v := range out.Graph.ValueInfo {
			names = append(names, v.GetName())
		}
		t.Errorf("described %v, want [ok]", names)
	}
	again, rep := run(t, out, "infer-shapes")
	if rep.Passes[0].Changes != 0 || !proto.Equal(again, out) {
		t.Errorf("second run changed %d values", rep.Passes[0].Changes)
	}
}
