package runtime

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

var errUnsupported = refit.ErrUnsupported

// ErrInvalidGraph reports a graph that cannot run: a cycle, a missing input, a value
// produced twice. errors.Is(err, ErrInvalidGraph) holds for those errors.
var ErrInvalidGraph = errors.New("runtime: invalid graph")

// ErrUnknownOp reports an operator with no kernel at the model's opset version; it
// also matches refit.ErrUnsupported.
var ErrUnknownOp = fmt.Errorf("runtime: unknown operator: %w", refit.ErrUnsupported)

// NodeError names the node where loading or running failed.
type NodeError struct {
	Node   string // node name, or "output X" for unnamed nodes
	OpType string
	Err    error
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("runtime: node %q (%s): %v", e.Node, e.OpType, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

func nodeError(n *Node, err error) error {
	name := n.Name
	if name == "" && len(n.Outputs) > 0 {
		name = "output " + n.Outputs[0]
	}
	return &NodeError{Node: name, OpType: n.OpType, Err: err}
}

// Options tune a Session. The zero value means defaults.
type Options struct {
	// NoFolding turns off running constant nodes (all inputs initializers) at Load.
	NoFolding bool
	// MaxElements caps the element count of any one tensor a kernel allocates, so a
	// hostile model cannot ask for unbounded memory; 0 means DefaultMaxElements.
	MaxElements int64
	// IntArith is the arithmetic of 8-bit integer products; the zero value is exact
	// (ONNX semantics). SaturatingPairsArith reproduces ONNX Runtime on x86 CPUs
	// without VNNI, including in QDQ models (see IntArith).
	IntArith IntArith
	// MaxMemory caps, in bytes, the memory held by the session's tensors at any time:
	// initializers, packed weights, live values, pooled buffers and kernel scratch. An allocation that
	// would pass it fails with a *MemoryError before anything is allocated; 0 means
	// DefaultMaxMemory().
	MaxMemory int64
	// MaxIterations caps the Loop and Scan iterations of one Run, summed over every
	// nesting level (ErrIterationBudget); 0 means DefaultMaxIterations.
	MaxIterations int64
	// Threads caps the goroutines one Run uses inside a kernel (matrix products and
	// the kernels' parallel loops); 0 means GOMAXPROCS. Outputs are identical for
	// every thread count.
	Threads int
	// Profile records the wall time of every node's kernel over all Runs, for
	// Session.Profile (a few hundred nanoseconds per node and Run).
	Profile bool
	// NoWinograd computes 3 x 3 stride-1 convolutions directly, never with the
	// Winograd transforms (conv_winograd.go), which are faster where channels are
	// many but round differently (relative differences near 1e-6). The environment
	// variable REFIT_CONV_WINOGRAD=0 does the same for every session.
	NoWinograd bool
	// WinogradMemory caps, in bytes, the extra weight memory the Winograd
	// transforms may take over the direct path (their weights take 4x the memory of
	// the 3 x 3 kernels in F(4x4), 1.8x in F(2x2)): convolutions take it in the
	// order they first run, falling back to F(2x2), then to the direct path, when
	// it runs out. 0 means the environment's REFIT_CONV_WINOGRAD_MIB (mebibytes)
	// when set, else DefaultWinogradMemory; negative means unlimited.
	WinogradMemory int64
}

// DefaultMaxIterations is the default Options.MaxIterations.
const DefaultMaxIterations = 10_000_000

// DefaultMaxElements is the default Options.MaxElements: 2^31 elements (8 GiB of float32).
const DefaultMaxElements = 1 << 31

// ErrTooLarge reports a tensor larger than Options.MaxElements.
var ErrTooLarge = errors.New("runtime: tensor too large")

// Session is a loaded graph ready to run. Run may be called from several goroutines.
type Session struct {
	graph         *Graph
	opsets        map[string]int64
	pool          *pool
	budget        *memBudget
	maxElements   int64
	maxIterations int64
	intArith      IntArith
	threads       int       // Options.Threads as given; 0 means GOMAXPROCS
	prof          *profiler // nil unless Options.Profile
	noWinograd    bool      // Options.NoWinograd or REFIT_CONV_WINOGRAD=0
	winograd      *winogradAllowance
}

// NewSession prepares g, whose nodes use the given opset versions (domain "" is ONNX),
// for running: it resolves every kernel, sorts the nodes, checks that every input is
// defined, and computes value lifetimes. All unknown operators are reported together.
func NewSession(g *Graph, opsets map[string]int64, opts *Options) (*Session, error) {
	return newSession(g, opsets, opts, nil)
}

// newSession is NewSession with the budget that Load already charged the
// initializers to (nil: a new one).
func newSession(g *Graph, opsets map[string]int64, opts *Options, budget *memBudget) (*Session, error) {
	if opts == nil {
		opts = &Options{}
	}
	if g == nil {
		return nil, fmt.Errorf("%w: no graph", ErrInvalidGraph)
	}
	if budget == nil {
		budget = newMemBudget(opts.MaxMemory, nil)
	}
	s := &Session{graph: g, opsets: maps.Clone(opsets), pool: newPool(budget), budget: budget,
		maxElements: opts.MaxElements, maxIterations: opts.MaxIterations, intArith: opts.IntArith,
		threads: max(opts.Threads, 0), noWinograd: opts.NoWinograd || winogradDisabledByEnv(),
		winograd: newWinogradAllowance(opts.WinogradMemory)}
	if opts.Profile {
		s.prof = &profiler{nodes: map[*Node]*NodeProfile{}}
	}
	budget.pool = s.pool
	if s.maxElements <= 0 {
		s.maxElements = DefaultMaxElements
	}
	if s.maxIterations <= 0 {
		s.maxIterations = DefaultMaxIterations
	}
	if _, ok := s.opsets[""]; !ok {
		if v, ok := s.opsets["ai.onnx"]; ok {
			s.opsets[""] = v
		}
	}
	if emulateQDQ(g) {
		s.opsets[emulateDomain] = 1
	}
	if fuseIntegerScale(g) {
		s.opsets[emulateDomain] = 1
	}
	if err := s.compile(g, nil); err != nil {
		return nil, err
	}
	if !opts.NoFolding {
		if err := s.fold(g); err != nil {
			return nil, err
		}
	}
	if err := s.fuseActivations(g); err != nil {
		return nil, err
	}
	return s, nil
}

// Inputs lists the graph inputs the caller must feed (initializers excluded).
func (s *Session) Inputs() []ValueInfo {
	var out []ValueInfo
	for _, in := range s.graph.Inputs {
		if _, ok := s.graph.Initializers[in.Name]; !ok {
			out = append(out, in)
		}
	}
	return out
}

// Outputs lists the graph outputs.
func (s *Session) Outputs() []ValueInfo { return slices.Clone(s.graph.Outputs) }

// Graph returns the session's graph; callers must not modify it.
func (s *Session) Graph() *Graph { return s.graph }

// plan is a graph's execution order and value lifetimes.
type plan struct {
	order    []*Node
	uses     map[string]int      // consumers in this graph (incl. implicit uses by subgraphs)
	implicit map[*Node][]string  // outer names read by a node's subgraphs
	pinned   map[string]bool     // graph outputs: never released
	defined  map[string]struct{} // names defined in this graph (inputs, initializers, node outputs)
}

// checkArity refuses a default-domain node with fewer inputs or outputs than its
// operator takes in any opset, or with a required input left empty, so that no kernel
// reads a value that is not there.
func checkArity(n *Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil
	}
	a, ok := minArity[n.OpType]
	if !ok {
		return nil
	}
	if len(n.Inputs) < a.inputs || len(n.Outputs) < a.outputs {
		return fmt.Errorf("%w: %s takes at least %d inputs and %d outputs, the node has %d and %d",
			ErrInvalidGraph, n.OpType, a.inputs, a.outputs, len(n.Inputs), len(n.Outputs))
	}
	for i, in := range n.Inputs {
		if in == "" && i < 32 && a.required&(1<<i) != 0 {
			return fmt.Errorf("%w: required input %d of %s is empty", ErrInvalidGraph, i, n.OpType)
		}
	}
	return nil
}

// arity is what minArity records of an operator.
type arity struct {
	inputs, outputs int
	required        uint32 // bit i: input i may not be empty
}

// compile resolves kernels and orders the nodes of g and of its subgraphs. scope
// (nil at the top) counts, per name, the enclosing graphs that define it: g adds its
// own names for its subgraphs and its checks and takes them out again before it
// returns, so that each graph costs its own size, never a copy of what encloses it
// (10,000 If nodes would otherwise copy the main graph's names 20,000 times).
func (s *Session) compile(g *Graph, scope map[string]int) error {
	var errs []error
	p := &plan{uses: map[string]int{}, implicit: map[*Node][]string{}, pinned: map[string]bool{}, defined: map[string]struct{}{}}
	for _, in := range g.Inputs {
		p.defined[in.Name] = struct{}{}
	}
	for name := range g.Initializers {
		p.defined[name] = struct{}{}
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		version := s.opsets[n.Domain]
		if n.Domain == "ai.onnx" {
			version = s.opsets[""]
		}
		op, ok := lookupOp(n.Domain, n.OpType, version)
		if !ok {
			errs = append(errs, nodeError(n, fmt.Errorf("%w %q in domain %q at opset %d", ErrUnknownOp, n.OpType, n.Domain, version)))
		}
		if err := checkArity(n); err != nil {
			errs = append(errs, nodeError(n, err))
		}
		n.kernel, n.opset, n.noFold, n.owner = op.Kernel, version, op.Nondeterministic, g
		if op.ViaFloat32 {
			n.kernel = viaFloat32(op.Kernel)
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if _, dup := p.defined[o]; dup {
				errs = append(errs, nodeError(n, fmt.Errorf("%w: value %q is defined twice", ErrInvalidGraph, o)))
				continue
			}
			p.defined[o] = struct{}{}
			producer[o] = i
		}
	}
	if scope == nil {
		scope = map[string]int{}
	}
	for name := range p.defined {
		scope[name]++
	}
	defer func() {
		for name := range p.defined {
			if scope[name]--; scope[name] == 0 {
				delete(scope, name)
			}
		}
	}()
	// Subgraphs see everything defined here and outside.
	for _, n := range g.Nodes {
		free := map[string]struct{}{}
		for _, a := range n.Attrs {
			subs := a.Graphs
			if a.Graph != nil {
				subs = append([]*Graph{a.Graph}, subs...)
			}
			for _, sg := range subs {
				if err := s.compile(sg, scope); err != nil {
					errs = append(errs, nodeError(n, err))
					continue
				}
				for name := range freeNames(sg) {
					free[name] = struct{}{}
				}
			}
		}
		p.implicit[n] = slices.Sorted(maps.Keys(free))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Kahn's algorithm, stable in the file's node order.
	deps := make([][]int, len(g.Nodes))
	indeg := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		names := append(slices.Clone(n.Inputs), p.implicit[n]...)
		for _, in := range names {
			if in == "" {
				continue
			}
			p.uses[in]++
			if j, ok := producer[in]; ok {
				deps[i] = append(deps[i], j)
				users[j] = append(users[j], i)
				indeg[i]++
				continue
			}
			if _, ok := scope[in]; !ok {
				errs = append(errs, nodeError(n, fmt.Errorf("%w: input %q is not a graph input, initializer or node output", ErrInvalidGraph, in)))
			}
		}
	}
	for _, o := range g.Outputs {
		p.pinned[o.Name] = true
		if _, ok := scope[o.Name]; !ok {
			errs = append(errs, fmt.Errorf("%w: graph output %q is never defined", ErrInvalidGraph, o.Name))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// The ready nodes are a min-heap of node indices: sorting them at every step
	// would make a graph of many independent nodes quadratic.
	ready := &nodeHeap{}
	for i := range g.Nodes {
		if indeg[i] == 0 {
			ready.ints = append(ready.ints, i)
		}
	}
	for len(ready.ints) > 0 {
		i := heap.Pop(ready).(int)
		p.order = append(p.order, g.Nodes[i])
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(p.order) < len(g.Nodes) {
		for i, n := range g.Nodes {
			if indeg[i] > 0 {
				return nodeError(n, fmt.Errorf("%w: the node is part of a cycle or depends on one", ErrInvalidGraph))
			}
		}
	}
	g.plan = p
	return nil
}

// nodeHeap is a min-heap of node indices (container/heap).
type nodeHeap struct{ ints []int }

func (h *nodeHeap) Len() int           { return len(h.ints) }
func (h *nodeHeap) Less(i, j int) bool { return h.ints[i] < h.ints[j] }
func (h *nodeHeap) Swap(i, j int)      { h.ints[i], h.ints[j] = h.ints[j], h.ints[i] }
func (h *nodeHeap) Push(x any)         { h.ints = append(h.ints, x.(int)) }
func (h *nodeHeap) Pop() any {
	x := h.ints[len(h.ints)-1]
	h.ints = h.ints[:len(h.ints)-1]
	return x
}

// freeNames lists the names a compiled graph reads from enclosing scopes.
func freeNames(g *Graph) map[string]struct{} {
	free := map[string]struct{}{}
	for _, n := range g.Nodes {
		for _, in := range append(slices.Clone(n.Inputs), g.plan.implicit[n]...) {
			if _, ok := g.plan.defined[in]; !ok && in != "" {
				free[in] = struct{}{}
			}
		}
	}
	for _, o := range g.Outputs {
		if _, ok := g.plan.defined[o.Name]; !ok {
			free[o.Name] = struct{}{}
		}
	}
	return free
}

// fold runs, once at load, nodes whose inputs are all initializers, and keeps their
// outputs as initializers: Constant nodes and shape arithmetic on weights.
func (s *Session) fold(g *Graph) error {
	if g.Initializers == nil {
		g.Initializers = map[string]*Value{}
	}
	declared := map[string]bool{}
	for _, in := range g.Inputs {
		declared[in.Name] = true // initializers that are also inputs can be overridden
	}
	folded := false
	e := &env{vals: map[string]*Value{}, run: &runState{}}
	// Inputs whose declared shape is fully static: Run rejects any other shape, so
	// Shape of them is a constant. The stand-in values carry a shape and no data.
	static := map[string]*Value{}
	for _, in := range g.Inputs {
		if _, init := g.Initializers[in.Name]; init || !in.HasShape || !supported(in.DType) {
			continue
		}
		shape := make([]int64, len(in.Dims))
		ok := true
		for i, d := range in.Dims {
			ok = ok && d.Param == "" && d.Size >= 0
			shape[i] = d.Size
		}
		if ok {
			static[in.Name] = &Value{DType: in.DType, Shape: shape}
		}
	}
	for _, n := range g.plan.order {
		if n.OpType == "Shape" && n.Domain == "" && len(n.Inputs) == 1 && static[n.Inputs[0]] != nil {
			e.vals[n.Inputs[0]] = static[n.Inputs[0]]
			outs, err := s.callNode(context.Background(), n, e)
			if err != nil {
				return err
			}
			g.Initializers[n.Outputs[0]] = outs[0]
			folded = true
			continue
		}
		if n.noFold || len(g.plan.implicit[n]) > 0 || n.OpType == "If" || n.OpType == "Loop" || n.OpType == "Scan" || n.Domain != "" {
			continue
		}
		ok := true
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			if _, init := g.Initializers[in]; !init || declared[in] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for _, in := range n.Inputs {
			if in != "" {
				e.vals[in] = g.Initializers[in]
			}
		}
		outs, err := s.callNode(context.Background(), n, e)
		if err != nil {
			return err
		}
		for i, o := range n.Outputs {
			if o != "" && i < len(outs) && outs[i] != nil {
				outs[i].pin()
				outs[i].buf = nil
				g.Initializers[o] = outs[i]
			}
		}
		folded = true
	}
	if !folded {
		return nil
	}
	var kept []*Node
	for _, n := range g.Nodes {
		done := len(n.Outputs) > 0
		for _, o := range n.Outputs {
			if _, ok := g.Initializers[o]; !ok && o != "" {
				done = false
			}
		}
		if !done {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	if err := s.compile(g, nil); err != nil {
		return err
	}
	// Initializers nobody reads any more (inputs of folded nodes) are dropped.
	for name := range g.Initializers {
		if g.plan.uses[name] == 0 && !g.plan.pinned[name] && !declared[name] {
			delete(g.Initializers, name)
		}
	}
	return nil
}

// env holds the live values of one graph execution; lookups fall back to the
// enclosing graph's env (outer scope of If/Loop/Scan bodies).
type env struct {
	vals   map[string]*Value
	parent *env
	run    *runState
}

func (e *env) lookup(name string) (*Value, bool) {
	for ; e != nil; e = e.parent {
		if v, ok := e.vals[name]; ok {
			return v, true
		}
	}
	return nil, false
}

// Run executes the graph. inputs must hold every graph input that has no initializer;
// returned values belong to the caller. Weights left in a model file that another
// process truncates during the run give an error wrapping refit.ErrFormat.
func (s *Session) Run(ctx context.Context, inputs map[string]*Value) (map[string]*Value, error) {
	var res map[string]*Value
	err := refit.GuardMapped(func() (err error) {
		res, err = s.run(ctx, inputs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Session) run(ctx context.Context, inputs map[string]*Value) (map[string]*Value, error) {
	g := s.graph
	if s.prof != nil {
		start := time.Now()
		defer func() { s.prof.run(time.Since(start)) }()
	}
	e := &env{vals: map[string]*Value{}, run: &runState{}}
	s.pool.begin()
	failed := true
	defer func() {
		s.pool.end(failed)
		collectGarbage()
	}()
	for _, in := range g.Inputs {
		v, ok := inputs[in.Name]
		if !ok {
			if init, ok := g.Initializers[in.Name]; ok {
				e.vals[in.Name] = init
				continue
			}
			return nil, fmt.Errorf("runtime: missing input %q", in.Name)
		}
		if err := checkInput(in, v); err != nil {
			return nil, err
		}
		e.vals[in.Name] = v
	}
	for name := range inputs {
		if _, ok := e.vals[name]; !ok {
			return nil, fmt.Errorf("runtime: %q is not a graph input", name)
		}
	}
	outs, err := s.runGraph(ctx, g, e)
	if err != nil {
		return nil, err
	}
	res := make(map[string]*Value, len(outs))
	owned, err := s.unpoolOutputs(outs)
	if err != nil {
		return nil, err
	}
	for i, o := range g.Outputs {
		v := outs[i]
		if v.buf == nil && !owned[i] {
			// Not from the pool: it may be (a view of) an initializer or constant the
			// session keeps, which the caller must not be able to modify.
			if v, err = s.clone(v, o.Name); err != nil {
				return nil, err
			}
		}
		res[o.Name] = v
	}
	failed = false
	return res, nil
}

// unpoolOutputs copies the graph outputs that lie in the head of a larger pooled
// buffer into buffers of their own size and returns that buffer to the pool: an
// output leaves the session with its buffer, and a small output (a classifier's
// logits) would otherwise take a feature map's buffer with it, which the next Run
// then allocates afresh. owned[i] is true where outs[i] was replaced by such a copy.
func (s *Session) unpoolOutputs(outs []*Value) (owned []bool, err error) {
	owned = make([]bool, len(outs))
	for i, v := range outs {
		b := v.buf
		if b == nil || owned[i] {
			continue
		}
		if v.Kind != KindTensor {
			b.pinned = false
			v.pin()
			continue
		}
		// Every value over b is an output here (the rest were released): copy them
		// all only if none needs the whole buffer.
		largest := 0
		for _, w := range outs {
			if w.buf == b {
				largest = max(largest, w.Len())
			}
		}
		if largest >= sliceLen(b.data) && b.blk != nil && b.off == 0 && largest == b.blk.n {
			// The output is its block: it leaves with it.
			s.pool.retire(b.blk)
			continue
		}
		for j, w := range outs {
			if w.buf != b {
				continue
			}
			c, err := s.clone(w, "")
			if err != nil {
				return nil, err
			}
			outs[j], owned[j] = c, true
		}
		b.pinned, b.refs = false, 0
		s.pool.put(b)
	}
	return owned, nil
}

// clone is Value.Clone with a tensor's copy charged to the budget.
func (s *Session) clone(v *Value, name string) (*Value, error) {
	if v.Kind != KindTensor {
		return v.Clone(), nil
	}
	data, err := s.budget.newSlice(v.DType, int64(v.Len()), func() string { return fmt.Sprintf("copy of output %q %v", name, v) })
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	copyAt(data, 0, v.Data, 0, v.Len())
	return &Value{DType: v.DType, Shape: slices.Clone(v.Shape), Data: data}, nil
}

func checkInput(in ValueInfo, v *Value) error {
	if v == nil {
		return fmt.Errorf("runtime: input %q is nil", in.Name)
	}
	if err := v.Validate(); err != nil {
		return fmt.Errorf("runtime: input %q: %w", in.Name, err)
	}
	if in.DType != tensor.Invalid && v.DType != in.DType {
		return fmt.Errorf("runtime: input %q is %v, the graph declares %v", in.Name, v.DType, in.DType)
	}
	if in.HasShape {
		if len(in.Dims) != len(v.Shape) {
			return fmt.Errorf("runtime: input %q has shape %v, the graph declares rank %d", in.Name, tensor.Shape(v.Shape), len(in.Dims))
		}
		for i, d := range in.Dims {
			if d.Param == "" && d.Size >= 0 && d.Size != v.Shape[i] {
				return fmt.Errorf("runtime: input %q has shape %v; dimension %d must be %d", in.Name, tensor.Shape(v.Shape), i, d.Size)
			}
		}
	}
	return nil
}

// runGraph executes a compiled graph in env e (inputs already bound) and returns its
// outputs in declaration order.
func (s *Session) runGraph(ctx context.Context, g *Graph, e *env) ([]*Value, error) {
	p := g.plan
	for name, v := range g.Initializers {
		if _, ok := e.vals[name]; !ok {
			e.vals[name] = v
		}
	}
	uses := make(map[string]int, len(p.uses))
	maps.Copy(uses, p.uses)
	for name, v := range e.vals {
		v.retain()
		if uses[name] == 0 && !p.pinned[name] {
			s.release(e, name)
		}
	}
	for _, n := range p.order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var t0 time.Time
		if s.prof != nil {
			t0 = time.Now()
		}
		outs, err := s.callNode(ctx, n, e)
		if err != nil {
			return nil, err
		}
		if s.prof != nil {
			s.prof.node(n, time.Since(t0))
		}
		for i, o := range n.Outputs {
			if o == "" {
				continue
			}
			if i >= len(outs) || outs[i] == nil {
				return nil, nodeError(n, fmt.Errorf("output %q was not produced", o))
			}
			outs[i].retain()
			e.vals[o] = outs[i]
			if uses[o] == 0 && !p.pinned[o] {
				s.release(e, o)
			}
		}
		for _, in := range append(slices.Clone(n.Inputs), p.implicit[n]...) {
			if in == "" {
				continue
			}
			if _, local := e.vals[in]; !local {
				continue // outer scope: released by the enclosing graph
			}
			uses[in]--
			if uses[in] == 0 && !p.pinned[in] {
				s.release(e, in)
			}
		}
	}
	outs := make([]*Value, len(g.Outputs))
	for i, o := range g.Outputs {
		v, ok := e.lookup(o.Name)
		if !ok {
			return nil, fmt.Errorf("runtime: graph output %q was not computed", o.Name)
		}
		if v.buf != nil {
			v.buf.pinned = true // the caller decides: Run's unpoolOutputs, RunGraph's pin
		}
		outs[i] = v
	}
	return outs, nil
}

func (s *Session) release(e *env, name string) {
	v := e.vals[name]
	delete(e.vals, name)
	if v != nil && v.buf != nil {
		v.buf.refs--
		if v.buf.refs == 0 {
			s.pool.put(v.buf)
		}
	}
}

// KernelPanicError reports a kernel that panicked. That is a bug in the runtime: model
// data that a kernel cannot handle is an error it returns. Stack is where the panic
// happened, for a bug report; Error does not print it.
type KernelPanicError struct {
	Value any
	Stack []byte
}

func (e *KernelPanicError) Error() string {
	return fmt.Sprintf("internal error (a kernel panicked: %v); please report it", e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *KernelPanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// callNode runs one node's kernel, turning panics into errors that name the node.
func (s *Session) callNode(ctx context.Context, n *Node, e *env) (outs []*Value, err error) {
	c := &Call{Node: n, Opset: n.opset, Inputs: make([]*Value, len(n.Inputs)), ctx: ctx, sess: s, env: e}
	for i, in := range n.Inputs {
		if in == "" {
			continue
		}
		v, ok := e.lookup(in)
		if !ok {
			return nil, nodeError(n, fmt.Errorf("input %q is not available", in))
		}
		c.Inputs[i] = v
	}
	defer func() {
		s.budget.release(c.reserved)
		if r := recover(); r != nil {
			if ferr := refit.MappingFault(r); ferr != nil {
				err = nodeError(n, ferr) // the file changed under the run: not a bug
				return
			}
			wp, _ := r.(*parallel.Panic)
			if wp != nil {
				r = wp.Value // the same handling as a panic on this goroutine
			}
			// A last resort for a bug in a kernel: the node fails, the process does not.
			// The stack goes into the error value for a bug report, not into its message.
			kp := &KernelPanicError{Value: r, Stack: debug.Stack()}
			if wp != nil {
				kp.Stack = wp.Stack
			}
			err = nodeError(n, kp)
		}
	}()
	if err := checkContainerInputs(n, c.Inputs); err != nil {
		return nil, nodeError(n, err)
	}
	outs, err = n.kernel(c)
	if err != nil {
		var ne *NodeError
		if errors.As(err, &ne) {
			return nil, fmt.Errorf("runtime: in %s: %w", n.label(), err)
		}
		return nil, nodeError(n, err)
	}
	for i, v := range outs {
		if v == nil {
			continue
		}
		if err := v.Validate(); err != nil {
			return nil, nodeError(n, fmt.Errorf("output %d: %w", i, err))
		}
	}
	return outs, nil
}

// Call is one kernel invocation.
type Call struct {
	Node   *Node
	Opset  int64    // the model's opset version for the node's domain
	Inputs []*Value // nil where an optional input is omitted

	ctx      context.Context
	sess     *Session
	env      *env
	reserved int64 // budget bytes held until the kernel returns (Call.reserve)
}

// Threads reports how many goroutines the kernel may use (the session's
// Options.Threads, or GOMAXPROCS when that is 0).
func (c *Call) Threads() int {
	if c.sess == nil {
		return parallel.Threads(0)
	}
	return parallel.Threads(c.sess.threads)
}

// Input returns input i, or nil when it is omitted or out of range.
func (c *Call) Input(i int) *Value {
	if i < len(c.Inputs) {
		return c.Inputs[i]
	}
	return nil
}

// Context is the context Run was called with.
func (c *Call) Context() context.Context { return c.ctx }

// Alloc returns a zero-filled value, reusing a pooled buffer when one fits. A fresh
// buffer is charged to the session's memory budget first; a shape that is invalid,
// too large or over the budget is an error (wrapping ErrTooLarge or the budget's error).
func (c *Call) Alloc(dt tensor.DType, shape []int64) (*Value, error) {
	return c.alloc(dt, shape, true)
}

// alloc is Alloc; zero false skips clearing a reused buffer (allocRaw).
func (c *Call) alloc(dt tensor.DType, shape []int64, zero bool) (*Value, error) {
	n, err := tensor.Shape(shape).NumElements()
	if err != nil {
		return nil, fmt.Errorf("output shape %v: %w", tensor.Shape(shape), err)
	}
	if n > c.sess.maxElements {
		return nil, fmt.Errorf("output %v%v: %w (%d elements, limit %d)", dt, tensor.Shape(shape), ErrTooLarge, n, c.sess.maxElements)
	}
	return c.sess.pool.get(dt, slices.Clone(shape), n, zero)
}

// View returns a value sharing v's data with another shape of the same size
// (Reshape, Squeeze, Identity...). The data stays alive while either is in use.
func View(v *Value, shape []int64) *Value {
	if v.Kind != KindTensor {
		return viewContainer(v, shape)
	}
	return &Value{DType: v.DType, Shape: slices.Clone(shape), Data: v.Data, buf: v.buf}
}

// RunGraph runs subgraph g (a node attribute) with its inputs bound positionally;
// names not defined in g resolve in the calling graph's scope.
func (c *Call) RunGraph(g *Graph, inputs []*Value) ([]*Value, error) {
	if g.plan == nil {
		return nil, fmt.Errorf("subgraph %q was not compiled", g.Name)
	}
	if len(inputs) != len(g.Inputs) {
		return nil, fmt.Errorf("subgraph %q takes %d inputs, given %d", g.Name, len(g.Inputs), len(inputs))
	}
	e := &env{vals: map[string]*Value{}, parent: c.env}
	if c.env != nil {
		e.run = c.env.run
	}
	for i, in := range g.Inputs {
		// The caller keeps ownership of what it passes: the subgraph must not pool it.
		v := *inputs[i]
		v.buf = nil
		e.vals[in.Name] = &v
	}
	outs, err := c.sess.runGraph(c.ctx, g, e)
	for _, v := range outs {
		if v.buf != nil {
			v.buf.pinned = false
			v.pin()
		}
	}
	return outs, err
}

// buffer is pooled storage, a range of a block; refs counts the live values
// (including views) over it.
type buffer struct {
	data   any // the range [off, off+len) of blk.data
	dtype  tensor.DType
	refs   int32
	pinned bool
	blk    *block
	off    int
}

func (v *Value) retain() {
	if v.buf != nil {
		v.buf.refs++
	}
}

// pin keeps a value's buffer out of the pool for good (it leaves the session).
func (v *Value) pin() {
	if b := v.buf; b != nil && !b.pinned {
		b.pinned = true
		if b.blk != nil {
			b.blk.pool.retire(b.blk)
		}
	}
}

// block is one allocation the pool carves buffers from. starts and ends map its
// unused ranges (offset -> length, end -> offset), neighbours merged, so that
// buffers freed side by side make room for a larger one again; the pool's size
// index holds the same ranges for best-fit search.
type block struct {
	data    any
	kind    tensor.DType // storage kind: F16, BF16 and U16 share []uint16
	n       int
	seq     uint64 // creation order: best fit prefers the earliest block on ties
	idx     int    // position in pool.blocks
	starts  map[int]int
	ends    map[int]int
	freeN   int  // elements in unused ranges
	retired bool // a range left the session: the pool forgets the block
	pool    *pool
}

// unused reports whether no range of b is in use.
func (b *block) unused() bool { return b.freeN == b.n }

// pool hands out ranges of blocks, best fit first, and takes them back when their
// last value is released: what it holds stays near the largest set of values live
// at once (a network's shrinking feature maps fit in the space of a larger one that
// died), where whole-buffer reuse keeps one buffer per size. The budget charges its
// blocks until they are garbage, and drops the free ones (evict) when it runs short.
// Its free ranges are indexed by size per storage kind (pool_index.go), and a block
// knows its place in blocks, so get, put and retire cost O(log n) in the number of
// ranges, not a scan of every block.
type pool struct {
	mu     sync.Mutex
	blocks []*block
	free   map[tensor.DType]*rangeTree
	seq    uint64 // blocks made
	active int    // Runs under way
	budget *memBudget
}

func newPool(b *memBudget) *pool {
	return &pool{budget: b, free: map[tensor.DType]*rangeTree{}}
}

// addFree records [off, off+n) of blk as unused. The caller holds p.mu.
func (p *pool) addFree(blk *block, off, n int) {
	if blk.starts == nil {
		blk.starts, blk.ends = map[int]int{}, map[int]int{}
	}
	blk.starts[off], blk.ends[off+n] = n, off
	blk.freeN += n
	t := p.free[blk.kind]
	if t == nil {
		t = &rangeTree{}
		p.free[blk.kind] = t
	}
	t.insert(freeRange{blk, off, n})
}

// takeFree removes the unused range [off, off+n) of blk. The caller holds p.mu.
func (p *pool) takeFree(blk *block, off, n int) {
	delete(blk.starts, off)
	delete(blk.ends, off+n)
	blk.freeN -= n
	p.free[blk.kind].remove(freeRange{blk, off, n})
}

// drop takes blk out of the pool for good. The caller holds p.mu.
func (p *pool) drop(blk *block) {
	blk.retired = true
	for off, n := range blk.starts {
		p.free[blk.kind].remove(freeRange{blk, off, n})
	}
	blk.starts, blk.ends = nil, nil
	last := len(p.blocks) - 1
	moved := p.blocks[last]
	p.blocks[blk.idx], moved.idx = moved, blk.idx
	p.blocks[last] = nil
	p.blocks = p.blocks[:last]
}

// evict drops every block nothing uses, for the garbage collector to take.
func (p *pool) evict() {
	p.mu.Lock()
	for i := len(p.blocks) - 1; i >= 0; i-- { // drop moves the last block to i
		if k := p.blocks[i]; k.unused() {
			p.drop(k)
		}
	}
	p.mu.Unlock()
}

// retire removes blk from the pool: one of its ranges left the session (a graph
// output, a value a container keeps), so the pool can never know when that range is
// free. The block's other live values keep working; it is garbage once they are.
func (p *pool) retire(blk *block) {
	p.mu.Lock()
	if !blk.retired {
		p.drop(blk)
	}
	p.mu.Unlock()
}

// begin notes a Run starting.
func (p *pool) begin() {
	p.mu.Lock()
	p.active++
	p.mu.Unlock()
}

// end notes a Run ending. A failed Run leaves values it never released, and a
// kernel may drop a value it allocated without returning it: their ranges would
// stay used for good. So after a failure, or when no Run is active (every range in
// use then is such a one), the pool retires each block with a range in use; the
// garbage collector takes it once nothing refers to it.
func (p *pool) end(failed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.active--
	if !failed && p.active > 0 {
		return
	}
	for i := len(p.blocks) - 1; i >= 0; i-- {
		if k := p.blocks[i]; !k.unused() {
			p.drop(k)
		}
	}
}

// held returns the bytes of the blocks the pool holds, used or free.
func (p *pool) held() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, k := range p.blocks {
		n += int64(k.n) * int64(elemBytes(k.kind))
	}
	return n
}

func storageKind(dt tensor.DType) tensor.DType {
	if dt == tensor.BF16 || dt == tensor.U16 {
		return tensor.F16
	}
	return dt
}

// get returns a value of n elements over a pooled range, or over a fresh block
// charged to the budget; zero clears a reused range (a fresh one is always zero).
func (p *pool) get(dt tensor.DType, shape []int64, n int64, zero bool) (*Value, error) {
	if n == 0 {
		return &Value{DType: dt, Shape: shape, Data: makeSlice(dt, 0)}, nil
	}
	kind := storageKind(dt)
	p.mu.Lock()
	var blk *block
	var off int
	if t := p.free[kind]; t != nil {
		if r, ok := t.bestFit(int(n)); ok {
			blk, off = r.blk, r.off
			p.takeFree(blk, r.off, r.n)
			if r.n > int(n) {
				p.addFree(blk, r.off+int(n), r.n-int(n))
			}
		}
	}
	p.mu.Unlock()
	if blk == nil {
		data, err := p.budget.newSlice(dt, n, func() string { return fmt.Sprintf("output %v%v", dt, tensor.Shape(shape)) })
		if err != nil {
			return nil, err
		}
		blk = &block{data: data, kind: kind, n: int(n), pool: p}
		p.mu.Lock()
		p.seq++
		blk.seq, blk.idx = p.seq, len(p.blocks)
		p.blocks = append(p.blocks, blk)
		p.mu.Unlock()
		return &Value{DType: dt, Shape: shape, Data: data, buf: &buffer{data: data, dtype: dt, blk: blk}}, nil
	}
	data := blockRange(blk.data, off, int(n))
	if zero {
		clearSlice(data)
	}
	return &Value{DType: dt, Shape: shape, Data: data, buf: &buffer{data: data, dtype: dt, blk: blk, off: off}}, nil
}

// put returns b's range to its block, merged with free neighbours.
func (p *pool) put(b *buffer) {
	if b.pinned || b.data == nil || b.blk == nil {
		return
	}
	blk, off, n := b.blk, b.off, sliceLen(b.data)
	b.blk, b.data = nil, nil // a second put of the same buffer does nothing
	p.mu.Lock()
	defer p.mu.Unlock()
	if blk.retired {
		return
	}
	if m, ok := blk.starts[off+n]; ok {
		p.takeFree(blk, off+n, m)
		n += m
	}
	if start, ok := blk.ends[off]; ok {
		m := blk.starts[start]
		p.takeFree(blk, start, m)
		off, n = start, n+m
	}
	p.addFree(blk, off, n)
}

func clearSlice(data any) {
	switch d := data.(type) {
	case []float32:
		clear(d)
	case []float64:
		clear(d)
	case []uint16:
		clear(d)
	case []int8:
		clear(d)
	case []int16:
		clear(d)
	case []int32:
		clear(d)
	case []int64:
		clear(d)
	case []uint8:
		clear(d)
	case []uint32:
		clear(d)
	case []uint64:
		clear(d)
	case []bool:
		clear(d)
	}
}

// blockRange returns data[off:off+n:off+n] for any slice type a block holds.
func blockRange(data any, off, n int) any {
	switch d := data.(type) {
	case []float32:
		return d[off : off+n : off+n]
	case []float64:
		return d[off : off+n : off+n]
	case []uint16:
		return d[off : off+n : off+n]
	case []int8:
		return d[off : off+n : off+n]
	case []int16:
		return d[off : off+n : off+n]
	case []int32:
		return d[off : off+n : off+n]
	case []int64:
		return d[off : off+n : off+n]
	case []uint8:
		return d[off : off+n : off+n]
	case []uint32:
		return d[off : off+n : off+n]
	case []uint64:
		return d[off : off+n : off+n]
	case []bool:
		return d[off : off+n : off+n]
	}
	panic(fmt.Sprintf("runtime: unsupported buffer %T", data))
}
