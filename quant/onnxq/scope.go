package onnxq

import (
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// scope is one graph of a model: the main graph (index 0) or a subgraph of an If,
// Loop or Scan node (silero VAD keeps its LSTM and, in v6, every weight there).
type scope struct {
	e      *graph.Editor
	parent int             // index of the enclosing scope; -1 for the main graph
	vars   map[string]bool // inputs and node outputs: names that are not constants here
}

// scopesOf lists mp's graphs in a fixed depth-first order (main graph first, then each
// node's subgraphs in attribute order, nested ones right after their parent), so a
// clone of mp lists the same graphs at the same indexes. All editors share one set of
// names: ONNX names are unique across scopes, and fresh names must stay so.
func scopesOf(mp *onnxpb.ModelProto) []*scope {
	main := graph.NewEditor(mp.GetGraph())
	main.Names.Reserve(mp.GetGraph().GetName() + "\x00") // the name set exists before it is shared
	out := []*scope{{e: main, parent: -1}}
	var walk func(g *onnxpb.GraphProto, idx int)
	walk = func(g *onnxpb.GraphProto, idx int) {
		for _, n := range g.GetNode() {
			for _, sg := range graph.Subgraphs(n) {
				reserveNames(&main.Names, sg)
				out = append(out, &scope{e: graph.NewEditor(sg), parent: idx})
				walk(sg, len(out)-1)
			}
		}
	}
	walk(mp.GetGraph(), 0)
	for _, s := range out {
		if s.parent >= 0 {
			s.e.Names = main.Names // shares the map: Fresh in any scope reserves for all
		}
		s.vars = map[string]bool{}
		for _, v := range s.e.G.GetInput() {
			if s.e.Initializer(v.GetName()) == nil {
				s.vars[v.GetName()] = true
			}
		}
		for _, n := range s.e.G.GetNode() {
			for _, o := range n.GetOutput() {
				s.vars[o] = true
			}
		}
	}
	return out
}

func reserveNames(names *graph.Names, g *onnxpb.GraphProto) {
	for _, t := range g.GetInitializer() {
		names.Reserve(t.GetName())
	}
	for _, v := range g.GetInput() {
		names.Reserve(v.GetName())
	}
	for _, v := range g.GetOutput() {
		names.Reserve(v.GetName())
	}
	for _, n := range g.GetNode() {
		names.Reserve(n.GetName())
		for _, o := range n.GetOutput() {
			names.Reserve(o)
		}
	}
}

// initializerIn finds the initializer a node of scope sc reads as name: its own, or
// an enclosing graph's (an outer-scope capture), unless a graph in between defines
// name as a value.
func initializerIn(scopes []*scope, sc int, name string) (*onnxpb.TensorProto, int) {
	for i := sc; i >= 0; i = scopes[i].parent {
		if scopes[i].vars[name] {
			return nil, -1
		}
		if tp := scopes[i].e.Initializer(name); tp != nil {
			return tp, i
		}
	}
	return nil, -1
}

// constantIn is the float32 value of initializerIn, or nil.
func constantIn(scopes []*scope, sc int, name string) *runtime.Value {
	tp, _ := initializerIn(scopes, sc, name)
	if tp == nil {
		return nil
	}
	v, err := runtime.ValueFromProto(tp, nil)
	if err != nil || v.DType != tensor.F32 {
		return nil
	}
	return v
}

// commitScopes commits every scope, innermost first, so that an outer graph drops
// the initializers its subgraphs no longer read.
func commitScopes(scopes []*scope) {
	for i := len(scopes) - 1; i >= 0; i-- {
		commit(scopes[i].e)
	}
}
