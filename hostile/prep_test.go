package hostile

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// TestManyPooledBuffers runs graphs that keep tens of thousands of pooled buffers
// in play: 40,000 Scan nodes in a chain (each collects its scan output and returns
// its state through a subgraph) and 100,000 values live at once into one Sum. The
// runtime's buffer pool searched every block for each allocation and release, so
// these took time quadratic in the node count (half these sizes took 7.8 and 9.9 s
// of CPU, these about 4 times more; now about a second each). Each must run to the
// exact result within the timeout.
func TestManyPooledBuffers(t *testing.T) {
	vi := func(name string) *onnxpb.ValueInfoProto { return graph.ValueInfo(name, graph.ElemFloat, nil, nil) }
	const scans, live = 40000, 100000
	cases := []struct {
		name  string
		nodes func() []*onnxpb.NodeProto
		want  float32 // every element of y, with x all ones
	}{
		{"40000 Scan nodes in a chain", func() []*onnxpb.NodeProto {
			var nodes []*onnxpb.NodeProto
			prev := "x"
			for i := range scans {
				b := fmt.Sprintf("b%d", i)
				// state [2,2] + each row of x in turn; the rows are also collected.
				body := &onnxpb.GraphProto{Name: proto.String(b),
					Input: []*onnxpb.ValueInfoProto{vi(b + "_s"), vi(b + "_e")},
					Node: []*onnxpb.NodeProto{graph.NewNode("Add", "", []string{b + "_s", b + "_e"}, []string{b + "_so"}),
						graph.NewNode("Neg", "", []string{b + "_e"}, []string{b + "_eo"})},
					Output: []*onnxpb.ValueInfoProto{vi(b + "_so"), vi(b + "_eo")}}
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, graph.NewNode("Scan", "", []string{prev, "x"}, []string{out, out + "_rows"},
					graph.GraphAttr("body", body), graph.IntAttr("num_scan_inputs", 1)))
				prev = out
			}
			return append(nodes, graph.NewNode("Identity", "", []string{prev}, []string{"y"}))
		}, 1 + 2*scans},
		{"100000 live values into one Sum", func() []*onnxpb.NodeProto {
			var nodes []*onnxpb.NodeProto
			var outs []string
			for i := range live {
				out := fmt.Sprintf("y%d", i)
				nodes = append(nodes, graph.NewNode("Neg", "", []string{"x"}, []string{out}))
				outs = append(outs, out)
			}
			return append(nodes, graph.NewNode("Sum", "", outs, []string{"y"}))
		}, -live},
	}
	dir := t.TempDir()
	xPath := filepath.Join(dir, "x.npy")
	ones := make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		binary.LittleEndian.PutUint32(ones[i:], math.Float32bits(1))
	}
	writeNPY(t, xPath, "<f4", "(2, 2)", ones)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: proto.String("g"), Node: tc.nodes(),
				Input:  []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil)},
				Output: []*onnxpb.ValueInfoProto{vi("y")}}
			in := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			r := runRefit(t, limits{memKiB: 2 << 20, timeout: 60 * time.Second},
				"run", in, "--input", "x="+xPath, "--json")
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
