package hostile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Symbolic inputs sized from hostile windows, and hostile --shape values: the sizes
// Refit chooses for open dimensions come from kernel, stride, dilation and pad
// attributes and from Transpose permutations that the model controls; a --shape can
// ask for anything. Each run must end in a result or an error, never a crash or an
// allocation beyond the memory budget.
func TestShapeHostileWindows(t *testing.T) {
	const big = int64(1) << 62
	win := func(op string, attrs ...*onnxpb.AttributeProto) []*onnxpb.NodeProto {
		return []*onnxpb.NodeProto{graph.NewNode(op, "w", []string{"x"}, []string{"y"}, attrs...)}
	}
	cases := map[string][]*onnxpb.NodeProto{
		"huge kernel":        win("MaxPool", graph.IntsAttr("kernel_shape", []int64{big, big})),
		"huge stride":        win("AveragePool", graph.IntsAttr("kernel_shape", []int64{3, 3}), graph.IntsAttr("strides", []int64{big, big})),
		"huge dilation":      win("MaxPool", graph.IntsAttr("kernel_shape", []int64{3, 3}), graph.IntsAttr("dilations", []int64{big, big})),
		"negative pads":      win("AveragePool", graph.IntsAttr("kernel_shape", []int64{2, 2}), graph.IntsAttr("pads", []int64{-big, -big, -big, -big})),
		"negative kernel":    win("MaxPool", graph.IntsAttr("kernel_shape", []int64{-5, -5})),
		"kernel of rank 7":   win("MaxPool", graph.IntsAttr("kernel_shape", []int64{2, 2, 2, 2, 2, 2, 2})),
		"window of 2^20":     win("MaxPool", graph.IntsAttr("kernel_shape", []int64{1 << 20, 1 << 20})),
		"transpose bad perm": {graph.NewNode("Transpose", "t", []string{"x"}, []string{"t"}, graph.IntsAttr("perm", []int64{9, -1, 0, 0})), graph.NewNode("MaxPool", "p", []string{"t"}, []string{"y"}, graph.IntsAttr("kernel_shape", []int64{2, 2}))},
	}
	dir := t.TempDir()
	for name, nodes := range cases {
		t.Run(name, func(t *testing.T) {
			var b graph.Builder
			b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{-1, 1, -1, -1}, func(axis int) string { return []string{"N", "", "H", "W"}[axis] }))
			for _, n := range nodes {
				b.Node(n.GetOpType(), n.GetName(), n.GetInput(), n.GetOutput(), n.GetAttribute()...)
			}
			b.Output(graph.ValueInfo("y", graph.ElemFloat, nil, nil))
			in := filepath.Join(dir, name+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(b.Graph("g"), "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			runRefit(t, limits{}, "run", in)
			out := filepath.Join(dir, name+".opt.onnx")
			if r := runRefit(t, limits{}, "optimize", in, out); r.code != 0 {
				if _, err := os.Stat(out); err == nil {
					t.Fatalf("optimize failed but wrote %s\n%v", out, r)
				}
			}
		})
	}
}

// TestShapeHostileFlag: --shape values that overflow, are huge or malformed are
// refused (usage error or the memory budget), never allocated.
func TestShapeHostileFlag(t *testing.T) {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{-1, -1}, func(int) string { return "" }))
	b.Node("Relu", "r", []string{"x"}, []string{"y"})
	b.Output(graph.ValueInfo("y", graph.ElemFloat, nil, nil))
	in := filepath.Join(t.TempDir(), "relu.onnx")
	if err := onnx.WriteModelFile(in, graph.Model(b.Graph("g"), "hostile", 17), nil); err != nil {
		t.Fatal(err)
	}
	for _, shape := range []string{
		"9223372036854775807x9223372036854775807", // element count overflows
		"4294967296x4294967296",                   // 2^64 elements
		"1000000x1000000",                         // 4 TB of float32
		"99999999999999999999x1",                  // not an int64
		"0x5", "-1x5", "1x", "x", "1xx2", "=1x2", "x=", "1x2x3",
	} {
		r := runRefit(t, limits{memKiB: 1 << 20}, "run", in, "--shape", shape)
		if r.code == 0 {
			t.Errorf("refit run --shape %s exited 0\n%v", shape, r)
		}
	}
}
