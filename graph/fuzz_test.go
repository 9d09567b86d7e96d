package graph

import (
	"fmt"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// graphFromBytes makes a graph of up to 16 nodes whose inputs and outputs are drawn
// from a small pool of names, so cycles, unused values, repeated producers and
// graph-output collisions all occur.
func graphFromBytes(data []byte) *onnxpb.GraphProto {
	name := func(b byte) string { return fmt.Sprintf("v%d", b%12) }
	g := &onnxpb.GraphProto{Input: []*onnxpb.ValueInfoProto{vi("v0")}}
	if len(data) > 0 {
		g.Output = append(g.Output, vi(name(data[0])))
		data = data[1:]
	}
	for i := 0; len(data) >= 3 && i < 16; i++ {
		ins := []string{name(data[0])}
		if data[1]&1 == 1 {
			ins = append(ins, name(data[1]>>1))
		}
		g.Node = append(g.Node, node("Op", fmt.Sprintf("n%d", i), ins, []string{name(data[2])}))
		data = data[3:]
	}
	return g
}

// FuzzEditor checks that editing never panics and keeps its promises: TopoSort
// either fails or orders every node after the producers of its inputs, RemoveDead
// keeps every producer of a graph output, and ReplaceUses leaves no reader of the
// old name.
func FuzzEditor(f *testing.F) {
	f.Add([]byte{1, 0, 0, 1, 1, 2, 2})
	f.Add([]byte{3, 1, 0, 2, 2, 0, 1, 4, 4, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		e := NewEditor(graphFromBytes(data))
		if err := e.TopoSort(); err == nil {
			seen := map[string]bool{"v0": true}
			produced := map[string]bool{}
			for _, n := range e.G.Node {
				produced[n.Output[0]] = true
			}
			for _, n := range e.G.Node {
				for _, in := range n.Input {
					if produced[in] && !seen[in] {
						t.Fatalf("node %s reads %s before its producer", n.GetName(), in)
					}
				}
				seen[n.Output[0]] = true
			}
		}
		e.RemoveDead()
		e.Compact()
		prod := e.Producers()
		for _, o := range e.G.Output {
			for _, n := range graphFromBytes(data).Node {
				if n.Output[0] == o.GetName() && prod[o.GetName()] == nil {
					t.Fatalf("RemoveDead removed the producer of output %s", o.GetName())
				}
			}
		}
		e.ReplaceUses("v1", "v2")
		if e.Uses()["v1"] != 0 {
			t.Fatal("v1 still read after ReplaceUses")
		}
		fresh := e.Names.Fresh("v1")
		if fresh == "v1" && prod["v1"] != nil {
			t.Fatalf("Fresh returned %s, which a node writes", fresh)
		}
	})
}
