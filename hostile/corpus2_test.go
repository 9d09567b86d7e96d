package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Quantization walks If branches and traces LSTM weights back through reshaping nodes
// into enclosing graphs: a Slice/Concat fan-out bomb (eight levels of 64 Slices of
// the previous level: 64^8 paths to one weight), Ifs nested 200 deep around a MatMul, an LSTM
// weight produced by a cycle, and a branch Constant shadowing an outer initializer.
// Each gets quantize (dynamic with LSTM, and static) and optimize under a 1 GiB
// limit: an error or a result within the timeout, never a crash or a hang.
func TestQuantizeHostileSubgraphs(t *testing.T) {
	f := func(name string, dims ...int64) *onnxpb.TensorProto {
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		return graph.FloatTensor(name, dims, make([]float32, n))
	}
	vi := func(name string, dims ...int64) *onnxpb.ValueInfoProto {
		return graph.ValueInfo(name, graph.ElemFloat, dims, nil)
	}
	lstm := func(w string) *onnxpb.NodeProto {
		return graph.NewNode("LSTM", "lstm", []string{"x", w, "r"}, []string{"y"}, graph.IntAttr("hidden_size", 2))
	}
	cases := map[string]func() *onnxpb.GraphProto{
		"concat fan-out bomb": func() *onnxpb.GraphProto {
			// Each level cuts the weight into 64 Slices and concatenates them back:
			// the size stays [1, 512, 3], the paths to w0 multiply by 64.
			g := &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{f("w0", 1, 512, 3), f("r", 1, 512, 128),
				graph.Int64Tensor("axis1", []int64{1}, []int64{1})}}
			for k := range 64 {
				g.Initializer = append(g.Initializer, graph.Int64Tensor(fmt.Sprintf("s%d", k), []int64{1}, []int64{int64(8 * k)}),
					graph.Int64Tensor(fmt.Sprintf("e%d", k), []int64{1}, []int64{int64(8*k + 8)}))
			}
			prev := "w0"
			for level := range 8 {
				out := fmt.Sprintf("c%d", level)
				in := make([]string, 64)
				for k := range in {
					in[k] = fmt.Sprintf("%s_%d", out, k)
					g.Node = append(g.Node, graph.NewNode("Slice", in[k], []string{prev, fmt.Sprintf("s%d", k), fmt.Sprintf("e%d", k), "axis1"}, []string{in[k]}))
				}
				g.Node = append(g.Node, graph.NewNode("Concat", out, in, []string{out}, graph.IntAttr("axis", 1)))
				prev = out
			}
			g.Node = append(g.Node, graph.NewNode("LSTM", "lstm", []string{"x", prev, "r"}, []string{"y"}, graph.IntAttr("hidden_size", 128)))
			return g
		},
		"ifs nested 200 deep": func() *onnxpb.GraphProto {
			inner := &onnxpb.GraphProto{Name: proto.String("b199"),
				Node:   []*onnxpb.NodeProto{graph.NewNode("MatMul", "mm", []string{"x2", "w"}, []string{"y199"})},
				Output: []*onnxpb.ValueInfoProto{vi("y199")}}
			for d := 198; d >= 0; d-- {
				out := fmt.Sprintf("y%d", d)
				// The else branch is a plain MatMul: sharing inner there would make the
				// serialized tree 2^200 graphs.
				els := &onnxpb.GraphProto{Name: proto.String(fmt.Sprintf("e%d", d)),
					Node:   []*onnxpb.NodeProto{graph.NewNode("MatMul", fmt.Sprintf("mm%d", d), []string{"x2", "w"}, []string{out + "e"})},
					Output: []*onnxpb.ValueInfoProto{vi(out + "e")}}
				inner = &onnxpb.GraphProto{Name: proto.String(fmt.Sprintf("b%d", d)),
					Node: []*onnxpb.NodeProto{graph.NewNode("If", fmt.Sprintf("if%d", d), []string{"c"}, []string{out},
						graph.GraphAttr("then_branch", inner), graph.GraphAttr("else_branch", els))},
					Output: []*onnxpb.ValueInfoProto{vi(out)}}
			}
			return &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{f("w", 3, 2), f("r", 1, 8, 2)},
				Node: []*onnxpb.NodeProto{graph.NewNode("Reshape", "rs", []string{"x", "shape"}, []string{"x2"}),
					graph.NewNode("If", "top", []string{"c"}, []string{"y"}, graph.GraphAttr("then_branch", inner),
						graph.GraphAttr("else_branch", &onnxpb.GraphProto{Name: proto.String("top_else"),
							Node:   []*onnxpb.NodeProto{graph.NewNode("MatMul", "mmtop", []string{"x2", "w"}, []string{"ytop"})},
							Output: []*onnxpb.ValueInfoProto{vi("ytop")}}))}}
		},
		"lstm weight from a cycle": func() *onnxpb.GraphProto {
			return &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{f("r", 1, 8, 2)},
				Node: []*onnxpb.NodeProto{graph.NewNode("Identity", "a", []string{"b"}, []string{"a"}),
					graph.NewNode("Identity", "b", []string{"a"}, []string{"b"}), lstm("a")}}
		},
		"branch constant shadowing an outer weight": func() *onnxpb.GraphProto {
			branch := &onnxpb.GraphProto{Name: proto.String("then"),
				Node: []*onnxpb.NodeProto{graph.NewNode("Constant", "k", nil, []string{"w"}, graph.TensorAttr("value", f("", 1, 8, 3))),
					graph.NewNode("LSTM", "l2", []string{"x", "w", "r"}, []string{"yb"}, graph.IntAttr("hidden_size", 2))},
				Output: []*onnxpb.ValueInfoProto{vi("yb")}}
			return &onnxpb.GraphProto{Initializer: []*onnxpb.TensorProto{f("w", 1, 8, 3), f("r", 1, 8, 2)},
				Node: []*onnxpb.NodeProto{graph.NewNode("If", "if", []string{"c"}, []string{"y"}, graph.GraphAttr("then_branch", branch), graph.GraphAttr("else_branch", branch))}}
		},
	}
	dir := t.TempDir()
	calib := filepath.Join(dir, "calib")
	if err := os.MkdirAll(calib, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			g := build()
			g.Name = proto.String("g")
			g.Input = []*onnxpb.ValueInfoProto{vi("x", 1, 1, 3), graph.ValueInfo("c", 9, []int64{}, nil)}
			g.Output = []*onnxpb.ValueInfoProto{vi("y")}
			if strings.HasPrefix(name, "ifs") {
				g.Initializer = append(g.Initializer, graph.Int64Tensor("shape", []int64{2}, []int64{1, 3}))
			}
			in := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".onnx")
			for _, args := range [][]string{
				{"quantize", in, base + ".q.onnx", "--per-layer=false", "--op-types", "MatMul,LSTM"},
				{"optimize", in, base + ".opt.onnx"},
			} {
				r := runRefit(t, limits{memKiB: 1 << 20, timeout: 60 * time.Second}, args...)
				first, _, _ := strings.Cut(r.stderr, "\n")
				t.Logf("%s: exit %d %s", args[0], r.code, first)
				if r.code != 0 {
					if _, err := os.Stat(args[2]); err == nil {
						t.Fatalf("refit %v failed but wrote %s\n%v", args, args[2], r)
					}
				}
			}
		})
	}
}
