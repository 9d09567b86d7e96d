package optimize

import (
	"fmt"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// graph is the working state of Model: the main graph plus indexes that passes
// rebuild when they need them (graphs are small next to their weights).
type graph struct {
	g     *onnxpb.GraphProto
	opts  *Options
	opset int64
	names map[string]bool // every name in use, for making fresh ones
}

func newGraph(m *onnxpb.ModelProto, opts *Options) *graph {
	g := &graph{g: m.Graph, opts: opts, opset: 1, names: map[string]bool{}}
	for _, o := range m.OpsetImport {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			g.opset = o.GetVersion()
		}
	}
	for _, t := range g.g.Initializer {
		g.names[t.GetName()] = true
	}
	for _, v := range g.g.Input {
		g.names[v.GetName()] = true
	}
	for _, n := range g.g.Node {
		for _, o := range n.Output {
			g.names[o] = true
		}
	}
	return g
}

// finish drops nil entries left by removals.
func (g *graph) finish() {
	nodes := g.g.Node[:0]
	for _, n := range g.g.Node {
		if n != nil {
			nodes = append(nodes, n)
		}
	}
	g.g.Node = nodes
}

// fresh returns an unused name starting with base.
func (g *graph) fresh(base string) string {
	name := base
	for i := 1; g.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	g.names[name] = true
	return name
}

func (g *graph) producers() map[string]*onnxpb.NodeProto {
	p := make(map[string]*onnxpb.NodeProto)
	for _, n := range g.g.Node {
		if n == nil {
			continue
		}
		for _, o := range n.Output {
			if o != "" {
				p[o] = n
			}
		}
	}
	return p
}

// uses counts how often each name is read: by nodes, by subgraphs (outer-scope
// captures), and by the graph outputs.
func (g *graph) uses() map[string]int {
	u := make(map[string]int)
	for _, n := range g.g.Node {
		if n == nil {
			continue
		}
		for _, in := range n.Input {
			if in != "" {
				u[in]++
			}
		}
		for _, name := range subgraphReads(n) {
			u[name]++
		}
	}
	for _, o := range g.g.Output {
		u[o.GetName()]++
	}
	return u
}

// subgraphReads lists names a node's subgraphs read but do not define.
func subgraphReads(n *onnxpb.NodeProto) []string {
	var out []string
	for _, a := range n.Attribute {
		for _, sg := range subgraphs(a) {
			defined := map[string]bool{}
			for _, v := range sg.Input {
				defined[v.GetName()] = true
			}
			for _, t := range sg.Initializer {
				defined[t.GetName()] = true
			}
			for _, sn := range sg.Node {
				for _, o := range sn.Output {
					defined[o] = true
				}
			}
			for _, sn := range sg.Node {
				for _, in := range sn.Input {
					if in != "" && !defined[in] {
						out = append(out, in)
					}
				}
				for _, in := range subgraphReads(sn) {
					if !defined[in] {
						out = append(out, in)
					}
				}
			}
			for _, o := range sg.Output {
				if !defined[o.GetName()] {
					out = append(out, o.GetName())
				}
			}
		}
	}
	return out
}

func subgraphs(a *onnxpb.AttributeProto) []*onnxpb.GraphProto {
	var out []*onnxpb.GraphProto
	if a.G != nil {
		out = append(out, a.G)
	}
	return append(out, a.Graphs...)
}

func hasSubgraph(n *onnxpb.NodeProto) bool {
	for _, a := range n.Attribute {
		if len(subgraphs(a)) > 0 {
			return true
		}
	}
	return false
}

func (g *graph) isOutput(name string) bool {
	for _, o := range g.g.Output {
		if o.GetName() == name {
			return true
		}
	}
	return false
}

func (g *graph) isInput(name string) bool {
	for _, v := range g.g.Input {
		if v.GetName() == name {
			return true
		}
	}
	return false
}

// initializer returns the initializer called name unless a graph input of the same
// name can override it (then it is not a constant).
func (g *graph) initializer(name string) *onnxpb.TensorProto {
	if g.isInput(name) {
		return nil
	}
	for _, t := range g.g.Initializer {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}

// constant decodes the constant called name, or returns nil.
func (g *graph) constant(name string) (*tensor.Tensor, error) {
	tp := g.initializer(name)
	if tp == nil {
		return nil, nil
	}
	return onnx.TensorFromProto(tp, nil)
}

// floats decodes a float constant as float32 values; nil when name is not a constant.
func (g *graph) floats(name string) ([]float32, tensor.Shape, tensor.DType, error) {
	t, err := g.constant(name)
	if err != nil || t == nil {
		return nil, nil, 0, err
	}
	if !t.DType.Float() {
		return nil, nil, 0, nil
	}
	f, err := t.Float32s()
	return f, t.Shape, t.DType, err
}

// addInitializer stores t (renamed to name) as an initializer.
func (g *graph) addInitializer(name string, t *tensor.Tensor) error {
	t = &tensor.Tensor{Name: name, DType: t.DType, Shape: t.Shape, Data: t.Data}
	tp, err := onnx.TensorToProto(t)
	if err != nil {
		return err
	}
	g.g.Initializer = append(g.g.Initializer, tp)
	g.names[name] = true
	return nil
}

// addFloats stores float32 values as an initializer of type d (F32, F16, F64 or BF16).
func (g *graph) addFloats(name string, s tensor.Shape, d tensor.DType, v []float32) error {
	t, err := tensor.NewF32(name, s, v)
	if err != nil {
		return err
	}
	if d != tensor.F32 {
		if t, err = tensor.Cast(t, d); err != nil {
			return err
		}
		b, err := t.Bytes()
		if err != nil {
			return err
		}
		if t, err = tensor.FromBytes(name, d, s, b); err != nil {
			return err
		}
	}
	return g.addInitializer(name, t)
}

// rename makes every reader of old (nodes, subgraphs, graph outputs) read new instead.
func (g *graph) rename(old, new string) {
	for _, n := range g.g.Node {
		if n == nil {
			continue
		}
		renameIn(n, old, new)
	}
	for _, o := range g.g.Output {
		if o.GetName() == old {
			o.Name = &new
		}
	}
}

func renameIn(n *onnxpb.NodeProto, old, new string) {
	for i, in := range n.Input {
		if in == old {
			n.Input[i] = new
		}
	}
	for _, a := range n.Attribute {
		for _, sg := range subgraphs(a) {
			if definesName(sg, old) {
				continue
			}
			for _, sn := range sg.Node {
				renameIn(sn, old, new)
			}
			for _, o := range sg.Output {
				if o.GetName() == old {
					o.Name = &new
				}
			}
		}
	}
}

func definesName(sg *onnxpb.GraphProto, name string) bool {
	for _, v := range sg.Input {
		if v.GetName() == name {
			return true
		}
	}
	for _, t := range sg.Initializer {
		if t.GetName() == name {
			return true
		}
	}
	for _, n := range sg.Node {
		for _, o := range n.Output {
			if o == name {
				return true
			}
		}
	}
	return false
}

// bypass removes node n whose single output out is equivalent to its input in,
// rewiring readers. It reports false when that cannot be done without renaming a
// graph input or output.
func (g *graph) bypass(n *onnxpb.NodeProto, in, out string) bool {
	switch {
	case !g.isOutput(out):
		g.rename(out, in)
	case !g.isOutput(in) && !g.isInput(in) && g.initializer(in) == nil && g.producers()[in] != nil:
		// out is a graph output: let in's producer write out directly.
		p := g.producers()[in]
		g.remove(n)
		for i, o := range p.Output {
			if o == in {
				p.Output[i] = out
			}
		}
		g.rename(in, out)
		return true
	default:
		return false
	}
	g.remove(n)
	return true
}

func (g *graph) remove(n *onnxpb.NodeProto) {
	for i, x := range g.g.Node {
		if x == n {
			g.g.Node[i] = nil
		}
	}
}

func attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.Attribute {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

func attrFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

func isDefaultDomain(n *onnxpb.NodeProto) bool {
	d := n.GetDomain()
	return d == "" || d == "ai.onnx"
}

// staticRank returns the rank of name when the graph declares it, or -1.
func (g *graph) staticRank(name string) int {
	p := g.producers()[name]
	if p != nil && isDefaultDomain(p) {
		switch p.GetOpType() {
		case "Flatten", "Gemm":
			return 2
		}
	}
	for _, list := range [][]*onnxpb.ValueInfoProto{g.g.Input, g.g.ValueInfo, g.g.Output} {
		for _, v := range list {
			if v.GetName() == name {
				if tt := v.GetType().GetTensorType(); tt != nil && tt.Shape != nil {
					return len(tt.Shape.Dim)
				}
			}
		}
	}
	if t := g.initializer(name); t != nil {
		return len(t.Dims)
	}
	return -1
}
