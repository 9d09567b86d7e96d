package graph

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Editor rewrites one graph in place. Indexes (producers, uses) are computed on
// demand, so they always see the current graph.
type Editor struct {
	G     *onnxpb.GraphProto
	Names Names // every name in G, so fresh names never collide

	inits    map[string]*onnxpb.TensorProto            // initializers by name
	before   map[*onnxpb.NodeProto][]*onnxpb.NodeProto // inserted before a node at Commit
	replaced map[*onnxpb.NodeProto][]*onnxpb.NodeProto // node -> its replacement at Commit
}

// NewEditor returns an editor of g, reserving every name g uses: initializers,
// inputs, outputs, nodes and node outputs. Once it exists, change g's initializers
// only through the editor (it indexes them).
func NewEditor(g *onnxpb.GraphProto) *Editor {
	e := &Editor{G: g, inits: map[string]*onnxpb.TensorProto{}}
	for _, t := range g.Initializer {
		e.Names.Reserve(t.GetName())
		e.inits[t.GetName()] = t
	}
	for _, v := range g.Input {
		e.Names.Reserve(v.GetName())
	}
	for _, v := range g.Output {
		e.Names.Reserve(v.GetName())
	}
	for _, n := range g.Node {
		e.Names.Reserve(n.GetName())
		for _, o := range n.Output {
			e.Names.Reserve(o)
		}
	}
	return e
}

// Producers maps every node output name to its node.
func (e *Editor) Producers() map[string]*onnxpb.NodeProto {
	p := make(map[string]*onnxpb.NodeProto)
	for _, n := range e.G.Node {
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

// Uses counts how often each name is read: by node inputs, by subgraphs (outer-scope
// captures) and by the graph outputs.
func (e *Editor) Uses() map[string]int {
	u := make(map[string]int)
	for _, n := range e.G.Node {
		if n == nil {
			continue
		}
		for _, in := range n.Input {
			if in != "" {
				u[in]++
			}
		}
		for _, name := range SubgraphReads(n) {
			u[name]++
		}
	}
	for _, o := range e.G.Output {
		u[o.GetName()]++
	}
	return u
}

// Use is one read of a value: input slot Input of Node.
type Use struct {
	Node  *onnxpb.NodeProto
	Input int
}

// Consumers lists the node inputs that read name, in graph order (a node reading
// name twice appears twice). Subgraph captures and graph outputs are not listed;
// Uses counts them.
func (e *Editor) Consumers(name string) []Use {
	var out []Use
	for _, n := range e.G.Node {
		if n == nil {
			continue
		}
		for i, in := range n.Input {
			if in == name {
				out = append(out, Use{n, i})
			}
		}
	}
	return out
}

// ConsumerIndex maps every name read by a node input to its readers, in graph order:
// Consumers for all names at once.
func (e *Editor) ConsumerIndex() map[string][]Use {
	idx := map[string][]Use{}
	for _, n := range e.G.Node {
		if n == nil {
			continue
		}
		for i, in := range n.Input {
			idx[in] = append(idx[in], Use{n, i})
		}
	}
	return idx
}

// SubgraphReads lists the names n's subgraphs read but do not define, once per
// subgraph that reads them, in the order first read. Listing a name once per read
// would make If nodes nested d deep, each reading the same outer value, cost O(d^2)
// (every level would repeat the reads of all the levels inside it).
func SubgraphReads(n *onnxpb.NodeProto) []string {
	var out []string
	for _, sg := range Subgraphs(n) {
		seen := map[string]bool{}
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
		add := func(name string) {
			if name != "" && !defined[name] && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
		for _, sn := range sg.Node {
			for _, in := range sn.Input {
				add(in)
			}
			for _, in := range SubgraphReads(sn) {
				add(in)
			}
		}
		for _, o := range sg.Output {
			add(o.GetName())
		}
	}
	return out
}

// IsOutput reports whether name is a graph output.
func (e *Editor) IsOutput(name string) bool {
	for _, o := range e.G.Output {
		if o.GetName() == name {
			return true
		}
	}
	return false
}

// IsInput reports whether name is a graph input.
func (e *Editor) IsInput(name string) bool {
	for _, v := range e.G.Input {
		if v.GetName() == name {
			return true
		}
	}
	return false
}

// Initializer returns the initializer called name, or nil.
func (e *Editor) Initializer(name string) *onnxpb.TensorProto { return e.inits[name] }

// ConstantInitializer returns the initializer called name unless a graph input of
// the same name can override it (then it is not a constant).
func (e *Editor) ConstantInitializer(name string) *onnxpb.TensorProto {
	if e.IsInput(name) {
		return nil
	}
	return e.inits[name]
}

// Constant decodes the initializer called name (see ConstantInitializer), or
// returns nil.
func (e *Editor) Constant(name string) (*tensor.Tensor, error) {
	tp := e.ConstantInitializer(name)
	if tp == nil {
		return nil, nil
	}
	return onnx.TensorFromProto(tp, nil)
}

// AddInitializer appends tp and reserves its name.
func (e *Editor) AddInitializer(tp *onnxpb.TensorProto) string {
	e.G.Initializer = append(e.G.Initializer, tp)
	e.Names.Reserve(tp.GetName())
	e.inits[tp.GetName()] = tp
	return tp.GetName()
}

// RemoveInitializer drops the initializer called name (its name stays reserved), so
// that a node can write that name instead.
func (e *Editor) RemoveInitializer(name string) {
	if e.inits[name] == nil {
		return
	}
	delete(e.inits, name)
	kept := e.G.Initializer[:0]
	for _, t := range e.G.Initializer {
		if t.GetName() != name {
			kept = append(kept, t)
		}
	}
	e.G.Initializer = kept
}

// Float adds a float32 initializer named Fresh(base) and returns its name.
func (e *Editor) Float(base string, dims []int64, v []float32) string {
	return e.AddInitializer(FloatTensor(e.Names.Fresh(base), dims, v))
}

// Int32 adds an int32 initializer named Fresh(base) and returns its name.
func (e *Editor) Int32(base string, dims []int64, v []int32) string {
	return e.AddInitializer(Int32Tensor(e.Names.Fresh(base), dims, v))
}

// Raw adds an initializer of element type elem holding raw bytes, named Fresh(base),
// and returns its name.
func (e *Editor) Raw(base string, elem int32, dims []int64, raw []byte) string {
	return e.AddInitializer(RawTensor(e.Names.Fresh(base), elem, dims, raw))
}

// SetInitializer replaces the initializer named like tp, in place, or appends tp
// when there is none.
func (e *Editor) SetInitializer(tp *onnxpb.TensorProto) {
	for i, t := range e.G.Initializer {
		if t.GetName() == tp.GetName() {
			e.G.Initializer[i] = tp
			e.inits[tp.GetName()] = tp
			return
		}
	}
	e.AddInitializer(tp)
}

// AddTensor stores t under name as an initializer (raw data).
func (e *Editor) AddTensor(name string, t *tensor.Tensor) error {
	t = &tensor.Tensor{Name: name, DType: t.DType, Shape: t.Shape, Data: t.Data}
	tp, err := onnx.TensorToProto(t)
	if err != nil {
		return err
	}
	e.AddInitializer(tp)
	return nil
}

// NewNode makes a node named Fresh(base) (not yet in the graph; see InsertBefore,
// Replace, Append) and reserves its outputs.
func (e *Editor) NewNode(opType, base string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := NewNode(opType, e.Names.Fresh(base), inputs, outputs, attrs...)
	for _, o := range outputs {
		e.Names.Reserve(o)
	}
	return n
}

// Append adds nodes at the end of the graph.
func (e *Editor) Append(nodes ...*onnxpb.NodeProto) {
	e.G.Node = append(e.G.Node, nodes...)
}

// InsertBefore queues nodes to go right before anchor at Commit.
func (e *Editor) InsertBefore(anchor *onnxpb.NodeProto, nodes ...*onnxpb.NodeProto) {
	if e.before == nil {
		e.before = map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}
	}
	e.before[anchor] = append(e.before[anchor], nodes...)
}

// InsertedBefore returns the nodes queued so far to go before anchor.
func (e *Editor) InsertedBefore(anchor *onnxpb.NodeProto) []*onnxpb.NodeProto {
	return e.before[anchor]
}

// Replace queues n to be swapped for nodes at Commit; calling it again for n adds
// more nodes to its replacement.
func (e *Editor) Replace(n *onnxpb.NodeProto, nodes ...*onnxpb.NodeProto) {
	if e.replaced == nil {
		e.replaced = map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}
	}
	e.replaced[n] = append(e.replaced[n], nodes...)
}

// Commit applies queued insertions and replacements and drops removed nodes. The
// graph stays topologically ordered when inserted nodes read only values defined
// before their anchor.
func (e *Editor) Commit() {
	nodes := make([]*onnxpb.NodeProto, 0, len(e.G.Node))
	for _, n := range e.G.Node {
		if n == nil {
			continue
		}
		nodes = append(nodes, e.before[n]...)
		if r, ok := e.replaced[n]; ok {
			nodes = append(nodes, r...)
			continue
		}
		nodes = append(nodes, n)
	}
	e.G.Node = nodes
	e.before, e.replaced = nil, nil
}

// Remove takes n out of the graph. It leaves a nil in its place so that a loop over
// G.Node can go on; Commit (or Compact) drops it.
func (e *Editor) Remove(n *onnxpb.NodeProto) {
	for i, x := range e.G.Node {
		if x == n {
			e.G.Node[i] = nil
		}
	}
}

// Compact drops the nils Remove left.
func (e *Editor) Compact() {
	nodes := e.G.Node[:0]
	for _, n := range e.G.Node {
		if n != nil {
			nodes = append(nodes, n)
		}
	}
	e.G.Node = nodes
}

// ReplaceUses makes every reader of old (nodes, subgraphs that do not define old
// themselves, graph outputs) read new instead.
func (e *Editor) ReplaceUses(old, new string) {
	for _, n := range e.G.Node {
		if n == nil {
			continue
		}
		replaceIn(n, old, new)
	}
	for _, o := range e.G.Output {
		if o.GetName() == old {
			o.Name = proto.String(new)
		}
	}
}

func replaceIn(n *onnxpb.NodeProto, old, new string) {
	for i, in := range n.Input {
		if in == old {
			n.Input[i] = new
		}
	}
	for _, sg := range Subgraphs(n) {
		if defines(sg, old) {
			continue
		}
		for _, sn := range sg.Node {
			replaceIn(sn, old, new)
		}
		for _, o := range sg.Output {
			if o.GetName() == old {
				o.Name = proto.String(new)
			}
		}
	}
}

func defines(sg *onnxpb.GraphProto, name string) bool {
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

// Bypass removes node n whose output out equals its input in, rewiring readers. It
// reports false (and changes nothing) when that would rename a graph input or output.
func (e *Editor) Bypass(n *onnxpb.NodeProto, in, out string) bool {
	switch {
	case !e.IsOutput(out):
		e.ReplaceUses(out, in)
	case !e.IsOutput(in) && !e.IsInput(in) && e.ConstantInitializer(in) == nil && e.Producers()[in] != nil:
		// out is a graph output: let in's producer write out directly.
		p := e.Producers()[in]
		e.Remove(n)
		for i, o := range p.Output {
			if o == in {
				p.Output[i] = out
			}
		}
		e.ReplaceUses(in, out)
		return true
	default:
		return false
	}
	e.Remove(n)
	return true
}

// RemoveDead removes nodes none of whose outputs reach a graph output (directly or
// through subgraph captures) and returns how many it removed.
func (e *Editor) RemoveDead() int {
	prod := e.Producers()
	live := map[*onnxpb.NodeProto]bool{}
	var stack []string
	for _, o := range e.G.Output {
		stack = append(stack, o.GetName())
	}
	seen := map[string]bool{}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		n := prod[name]
		if n == nil || live[n] {
			continue
		}
		live[n] = true
		for _, in := range n.Input {
			if in != "" {
				stack = append(stack, in)
			}
		}
		stack = append(stack, SubgraphReads(n)...)
	}
	removed := 0
	for _, n := range e.G.Node {
		if n != nil && !live[n] {
			e.Remove(n)
			removed++
		}
	}
	return removed
}

// RemoveUnusedInitializers drops initializers nothing reads, and their graph-input
// entries (older models list initializers as inputs too). It returns how many it
// dropped.
func (e *Editor) RemoveUnusedInitializers() int {
	uses := e.Uses()
	kept := e.G.Initializer[:0]
	removed := map[string]bool{}
	for _, t := range e.G.Initializer {
		if uses[t.GetName()] > 0 {
			kept = append(kept, t)
		} else {
			removed[t.GetName()] = true
			delete(e.inits, t.GetName())
		}
	}
	e.G.Initializer = kept
	if len(removed) > 0 {
		inputs := e.G.Input[:0]
		for _, v := range e.G.Input {
			if !removed[v.GetName()] {
				inputs = append(inputs, v)
			}
		}
		e.G.Input = inputs
	}
	return len(removed)
}

// TopoSort orders the nodes so that each comes after the producers of its inputs
// (and of the outer names its subgraphs read), keeping the current order where it
// already holds. It fails on a cycle.
func (e *Editor) TopoSort() error {
	e.Compact()
	prod := map[string]int{}
	for i, n := range e.G.Node {
		for _, o := range n.Output {
			if o != "" {
				prod[o] = i
			}
		}
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(e.G.Node))
	order := make([]*onnxpb.NodeProto, 0, len(e.G.Node))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("graph: cycle through node %q", e.G.Node[i].GetName())
		}
		state[i] = visiting
		n := e.G.Node[i]
		for _, in := range append(append([]string{}, n.Input...), SubgraphReads(n)...) {
			if p, ok := prod[in]; ok && in != "" {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		state[i] = done
		order = append(order, n)
		return nil
	}
	for i := range e.G.Node {
		if err := visit(i); err != nil {
			return err
		}
	}
	e.G.Node = order
	return nil
}

// DropValueInfo forgets the declared shapes of intermediate values, for edits that
// change them (runtimes infer them again).
func (e *Editor) DropValueInfo() { e.G.ValueInfo = nil }

// WithOutputs returns a copy of mp in which every name in names is also a graph
// output (untyped), so that running it yields those intermediate values. mp is not
// modified.
func WithOutputs(mp *onnxpb.ModelProto, names []string) *onnxpb.ModelProto {
	m := proto.Clone(mp).(*onnxpb.ModelProto)
	if m.Graph == nil {
		m.Graph = &onnxpb.GraphProto{}
	}
	have := map[string]bool{}
	for _, o := range m.Graph.Output {
		have[o.GetName()] = true
	}
	for _, n := range names {
		if !have[n] {
			have[n] = true
			m.Graph.Output = append(m.Graph.Output, &onnxpb.ValueInfoProto{Name: proto.String(n)})
		}
	}
	return m
}

// Opset returns the version of domain ("" is the default domain, also spelled
// "ai.onnx") that mp imports, or 0.
func Opset(mp *onnxpb.ModelProto, domain string) int64 {
	for _, o := range mp.GetOpsetImport() {
		if sameDomain(o.GetDomain(), domain) {
			return o.GetVersion()
		}
	}
	return 0
}

// EnsureOpset makes mp import domain at version v or later.
func EnsureOpset(mp *onnxpb.ModelProto, domain string, v int64) {
	for _, o := range mp.GetOpsetImport() {
		if sameDomain(o.GetDomain(), domain) {
			if o.GetVersion() < v {
				o.Version = proto.Int64(v)
			}
			return
		}
	}
	mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)})
}

func sameDomain(a, b string) bool {
	if a == "ai.onnx" {
		a = ""
	}
	if b == "ai.onnx" {
		b = ""
	}
	return a == b
}

// Evaluator runs one node on constant inputs (nil for omitted optional inputs) and
// returns its outputs (nil where it has none). opset is the model's default-domain
// opset. Package graph/eval provides one backed by the runtime.
type Evaluator func(node *onnxpb.NodeProto, inputs []*tensor.Tensor, opset int64) ([]*tensor.Tensor, error)
