package hostile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
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

// Graphs whose preparation was quadratic in their size: 30,000 If nodes in a chain
// or side by side (each subgraph copied every name of the main graph, and the
// topological sort re-sorted its ready list at every step), If nodes nested 3,000
// deep (every level listed the outer reads of all the levels inside it), and 20,000
// Loop nodes. Each model must run to the exact result within a generous timeout
// under a 2 GiB address-space limit (refit needs about 800 MB of it to start, the Go
// runtime's reservations and thread stacks); before the fixes the first took minutes.
func TestManySubgraphs(t *testing.T) {
	vi := func(name string) *onnxpb.ValueInfoProto { return graph.ValueInfo(name, graph.ElemFloat, nil, nil) }
	// branch returns in op x.
	branch := func(name, in, op string) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: proto.String(name),
			Node:   []*onnxpb.NodeProto{graph.NewNode(op, "", []string{in, "x"}, []string{name + "_y"})},
			Output: []*onnxpb.ValueInfoProto{vi(name + "_y")}}
	}
	ifOf := func(out, then, els string, in string) *onnxpb.NodeProto {
		return graph.NewNode("If", "", []string{"c"}, []string{out},
			graph.GraphAttr("then_branch", branch(then, in, "Add")), graph.GraphAttr("else_branch", branch(els, in, "Sub")))
	}
	const n = 30000 // If nodes: the old preparation took minutes of CPU; this takes seconds
	// Loop nodes, fewer: a Loop node and its body take about 10 KB of graph and plan.
	const loops = 20000
	cases := []struct {
		name  string
		nodes func() []*onnxpb.NodeProto
		want  float32 // every element of y, with x all ones and c true
	}{
		{"30000 If nodes in a chain", func() []*onnxpb.NodeProto {
			var nodes []*onnxpb.NodeProto
			prev := "x"
			for i := range n {
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, ifOf(out, out+"a", out+"b", prev))
				prev = out
			}
			return append(nodes, graph.NewNode("Identity", "", []string{prev}, []string{"y"}))
		}, n + 1},
		{"30000 If nodes side by side", func() []*onnxpb.NodeProto {
			var nodes []*onnxpb.NodeProto
			var outs []string
			for i := range n {
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, ifOf(out, out+"a", out+"b", "x"))
				outs = append(outs, out)
			}
			return append(nodes, graph.NewNode("Sum", "", outs, []string{"y"}))
		}, 2 * n},
		{"If nodes nested 3000 deep", func() []*onnxpb.NodeProto {
			g := branch("leaf", "x", "Add")
			for i := range 3000 {
				name := fmt.Sprintf("l%d", i)
				g = &onnxpb.GraphProto{Name: proto.String(name),
					Node: []*onnxpb.NodeProto{graph.NewNode("If", "", []string{"c"}, []string{name + "_i"},
						graph.GraphAttr("then_branch", g), graph.GraphAttr("else_branch", branch(name+"e", "x", "Sub"))),
						graph.NewNode("Add", "", []string{name + "_i", "x"}, []string{name + "_y"})},
					Output: []*onnxpb.ValueInfoProto{vi(name + "_y")}}
			}
			return []*onnxpb.NodeProto{graph.NewNode("If", "", []string{"c"}, []string{"y"},
				graph.GraphAttr("then_branch", g), graph.GraphAttr("else_branch", branch("top_e", "x", "Sub")))}
		}, 3002},
		{"20000 Loop nodes in a chain", func() []*onnxpb.NodeProto {
			two := &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemInt64), RawData: binary.LittleEndian.AppendUint64(nil, 2)}
			nodes := []*onnxpb.NodeProto{graph.NewNode("Constant", "", nil, []string{"trips"}, graph.TensorAttr("value", two))}
			prev := "x"
			for i := range loops {
				b := fmt.Sprintf("b%d", i)
				body := &onnxpb.GraphProto{Name: proto.String(b),
					Input: []*onnxpb.ValueInfoProto{graph.ValueInfo(b+"_i", graph.ElemInt64, []int64{}, nil),
						graph.ValueInfo(b+"_c", 9, []int64{}, nil), vi(b + "_v")},
					Node: []*onnxpb.NodeProto{graph.NewNode("Identity", "", []string{b + "_c"}, []string{b + "_co"}),
						graph.NewNode("Add", "", []string{b + "_v", "x"}, []string{b + "_vo"})},
					Output: []*onnxpb.ValueInfoProto{graph.ValueInfo(b+"_co", 9, nil, nil), vi(b + "_vo")}}
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, graph.NewNode("Loop", "", []string{"trips", "", prev}, []string{out}, graph.GraphAttr("body", body)))
				prev = out
			}
			return append(nodes, graph.NewNode("Identity", "", []string{prev}, []string{"y"}))
		}, 2*loops + 1},
	}
	dir := t.TempDir()
	xPath, cPath := filepath.Join(dir, "x.npy"), filepath.Join(dir, "c.npy")
	ones := make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		binary.LittleEndian.PutUint32(ones[i:], math.Float32bits(1))
	}
	writeNPY(t, xPath, "<f4", "(2, 2)", ones)
	writeNPY(t, cPath, "|b1", "(1,)", []byte{1})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: proto.String("g"), Node: tc.nodes(),
				Input: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil),
					graph.ValueInfo("c", 9, []int64{1}, nil)},
				Output: []*onnxpb.ValueInfoProto{vi("y")}}
			in := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			r := runRefit(t, limits{memKiB: 2 << 20, timeout: 90 * time.Second},
				"run", in, "--input", "x="+xPath, "--input", "c="+cPath, "--json")
			if r.code != 0 {
				t.Fatalf("refit run failed\n%v", r)
			}
			var res struct {
				Outputs []struct {
					Name   string
					Values []float32
				}
			}
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatalf("refit run --json: %v\n%v", err, r)
			}
			if len(res.Outputs) != 1 || len(res.Outputs[0].Values) != 4 {
				t.Fatalf("refit run gave %+v, want one output of 4 values", res.Outputs)
			}
			for i, v := range res.Outputs[0].Values {
				if v != tc.want {
					t.Errorf("y[%d] = %v, want %v", i, v, tc.want)
				}
			}
		})
	}
}

// TestManyOutputs runs a graph of 20,000 Identity nodes, each a graph output:
// constant folding and lifting looked every node's output up in the list of graph
// outputs (quadratic). Every output must come back, equal to the input.
func TestManyOutputs(t *testing.T) {
	const n = 20000
	g := &onnxpb.GraphProto{Name: proto.String("g"),
		Input: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil)}}
	for i := range n {
		o := fmt.Sprintf("o%d", i)
		g.Node = append(g.Node, graph.NewNode("Identity", "", []string{"x"}, []string{o}))
		g.Output = append(g.Output, graph.ValueInfo(o, graph.ElemFloat, nil, nil))
	}
	dir := t.TempDir()
	in, xPath := filepath.Join(dir, "outputs.onnx"), filepath.Join(dir, "x.npy")
	if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
		t.Fatal(err)
	}
	ones := make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		binary.LittleEndian.PutUint32(ones[i:], math.Float32bits(1))
	}
	writeNPY(t, xPath, "<f4", "(2, 2)", ones)
	r := runRefit(t, limits{memKiB: 2 << 20, timeout: 90 * time.Second}, "run", in, "--input", "x="+xPath, "--json")
	if r.code != 0 {
		t.Fatalf("refit run failed\n%v", r)
	}
	var res struct {
		Outputs []struct {
			Name     string
			Min, Max float32
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("refit run --json: %v", err)
	}
	if len(res.Outputs) != n {
		t.Fatalf("refit run gave %d outputs, want %d", len(res.Outputs), n)
	}
	for _, o := range res.Outputs {
		if o.Min != 1 || o.Max != 1 {
			t.Fatalf("output %s ranges over [%v, %v], want 1", o.Name, o.Min, o.Max)
		}
	}
}

// writeNPY writes a version 1.0 .npy file of raw little-endian data.
func writeNPY(t *testing.T, path, descr, shape string, data []byte) {
	t.Helper()
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	header += strings.Repeat(" ", 63-(10+len(header))%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(header)), byte(len(header)>>8))
	b = append(append(b, header...), data...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
