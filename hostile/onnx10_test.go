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

// Weights inside If branches, which every weight listing now enters (global prune,
// inspect, convert): a Constant declaring 2^60 elements over 16 bytes, one whose data
// points outside the model's folder, 20000 branches naming their weight alike (inspect
// and convert only: the listing), and branches nested 200 deep. inspect, convert,
// run, prune and quantize each end in an error or a result under a 1 GiB
// address-space limit and a timeout, never a crash or a hang, and leave no output
// after an error.
func TestSubgraphWeights(t *testing.T) {
	weight := func(name string, tp *onnxpb.TensorProto) *onnxpb.NodeProto {
		return graph.NewNode("Constant", "", nil, []string{name}, graph.TensorAttr("value", tp))
	}
	// branchOf wraps nodes making "w" into a branch that returns x·w.
	branchOf := func(name string, nodes ...*onnxpb.NodeProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: proto.String(name),
			Node:   append(nodes, graph.NewNode("MatMul", "", []string{"x", "w"}, []string{name + "_y"})),
			Output: []*onnxpb.ValueInfoProto{graph.ValueInfo(name+"_y", graph.ElemFloat, nil, nil)}}
	}
	ifOf := func(out string, then, els *onnxpb.GraphProto) *onnxpb.NodeProto {
		return graph.NewNode("If", "", []string{"c"}, []string{out}, graph.GraphAttr("then_branch", then), graph.GraphAttr("else_branch", els))
	}
	ok := graph.FloatTensor("", []int64{2, 2}, []float32{1, 2, 3, 4})
	cases := map[string]func() []*onnxpb.NodeProto{
		"branch constant of 2^60 elements": func() []*onnxpb.NodeProto {
			huge := &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemFloat), Dims: []int64{1 << 30, 1 << 30}, RawData: make([]byte, 16)}
			return []*onnxpb.NodeProto{ifOf("y", branchOf("a", weight("w", huge)), branchOf("b", weight("w", ok)))}
		},
		"branch constant with external data outside the folder": func() []*onnxpb.NodeProto {
			ext := &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemFloat), Dims: []int64{2, 2}, DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("../../etc/passwd")}}}
			return []*onnxpb.NodeProto{ifOf("y", branchOf("a", weight("w", ext)), branchOf("b", weight("w", ok)))}
		},
		"20000 branches naming their weight alike": func() []*onnxpb.NodeProto {
			var nodes []*onnxpb.NodeProto
			var outs []string
			for i := range 10000 {
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, ifOf(out, branchOf(out+"a", weight("w", ok)), branchOf(out+"b", weight("w", ok))))
				outs = append(outs, out)
			}
			return append(nodes, graph.NewNode("Sum", "", outs, []string{"y"}))
		},
		"branches nested 200 deep": func() []*onnxpb.NodeProto {
			g := branchOf("leaf", weight("w", ok))
			for i := range 200 {
				name := fmt.Sprintf("level%d", i)
				g = &onnxpb.GraphProto{Name: proto.String(name),
					Node:   []*onnxpb.NodeProto{ifOf(name+"_y", g, branchOf(name+"_else", weight("w", ok)))},
					Output: []*onnxpb.ValueInfoProto{graph.ValueInfo(name+"_y", graph.ElemFloat, nil, nil)}}
			}
			return []*onnxpb.NodeProto{ifOf("y", g, branchOf("top_else", weight("w", ok)))}
		},
	}
	dir := t.TempDir()
	for name, nodes := range cases {
		t.Run(name, func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: proto.String("g"), Node: nodes(),
				Input: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil),
					graph.ValueInfo("c", 9, []int64{1}, nil)},
				Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, nil, nil)}}
			in := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".onnx")
			commands := [][]string{
				{"inspect", in},
				{"convert", in, base + ".safetensors"},
				{"run", in},
				{"prune", in, base + ".pruned.onnx", "--method", "global", "--sparsity", "0.5"},
				{"quantize", in, base + ".q.onnx", "--per-layer=false", "--target-cosine", "0.99"},
			}
			if strings.HasPrefix(name, "20000") {
				commands = commands[:2] // the weight listing; running 10000 If nodes is the runtime's own cost
			}
			for _, args := range commands {
				r := runRefit(t, limits{memKiB: 1 << 20, timeout: 120 * time.Second}, args...)
				first, _, _ := strings.Cut(r.stderr, "\n")
				t.Logf("%s: exit %d %s", args[0], r.code, first)
				if len(args) > 2 && r.code != 0 {
					if _, err := os.Stat(args[2]); err == nil {
						t.Fatalf("refit %v failed but wrote %s\n%v", args, args[2], r)
					}
				}
				if strings.Contains(name, "outside the folder") {
					// inspect and convert list the weights, not reading unlisted
					// external ones; the rest need the data.
					out, _ := os.ReadFile(args[len(args)-1])
					if args[0] == "convert" && strings.Contains(string(out), "root:") || args[0] != "inspect" && args[0] != "convert" && r.code == 0 {
						t.Errorf("refit %v read external data outside the model's folder\n%v", args, r)
					}
				}
			}
		})
	}
}
