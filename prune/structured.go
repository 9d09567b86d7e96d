package prune

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// ErrUnrepairable reports an operator whose tensors structured pruning cannot repair
// after removing channels that flow into it; the error names the node.
var ErrUnrepairable = errors.New("prune: cannot repair")

// errReachesOutput marks a producer whose channels are a graph output: kept, not an error.
var errReachesOutput = errors.New("channels reach a graph output")

// StructuredOptions configure Structured. The zero value removes nothing.
type StructuredOptions struct {
	Sparsity float64 // fraction of output channels removed from each pruned layer, [0, 1)
	Score    Score   // channel norm: L1 or L2 of the filter
	// Include and Exclude select producer layers by node name or weight name.
	Include, Exclude *regexp.Regexp
	// Calib, when set, ranks channels by mean |activation| on these inputs instead of
	// by filter norm.
	Calib map[string]*runtime.Value
	// InputShapes shapes the random inputs that the model runs on to learn the
	// shape of every value (runtime.RandomOptions.Shapes); nil: chosen from the
	// declaration (runtime.InputShapes).
	InputShapes map[string][]int64
}

// Structured removes output channels (Conv filters, Gemm/MatMul hidden units) from
// an ONNX model and repairs every tensor that depends on them, returning a new,
// smaller model; mp is not modified. fsys resolves external data (may be nil).
func Structured(ctx context.Context, mp *onnxpb.ModelProto, fsys fs.FS, opts *StructuredOptions) (*onnxpb.ModelProto, *Report, error) {
	o := StructuredOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Sparsity < 0 || o.Sparsity >= 1 || math.IsNaN(o.Sparsity) {
		return nil, nil, fmt.Errorf("%w: sparsity %g is outside [0, 1)", ErrOptions, o.Sparsity)
	}
	p := &pruner{ctx: ctx, mp: proto.Clone(mp).(*onnxpb.ModelProto), fsys: fsys, shapesIn: o.InputShapes}
	g := p.mp.GetGraph()
	if g == nil {
		return nil, nil, fmt.Errorf("%w: model has no graph", refit.ErrFormat)
	}
	p.e = graph.NewEditor(g)
	p.e.DropValueInfo() // shapes change
	p.index()
	rep := &Report{Method: Structure.String(), Skipped: []Skipped{}}
	before, err := p.countParams()
	if err != nil {
		return nil, nil, err
	}
	// A layer's report compares its original tensor with its final one: cutting a
	// layer also cuts the input dimension of the layers after it.
	origShapes := p.initShapes()
	var layerWeights []string
	var calib map[string]*runtime.Value
	if o.Calib != nil {
		if calib, err = p.run(o.Calib, p.producerOutputs()); err != nil {
			return nil, nil, fmt.Errorf("prune: calibration: %w", err)
		}
	}
	stale := true
	for _, n := range slices.Clone(g.Node) {
		skip := func(why string) {
			rep.Skipped = append(rep.Skipped, Skipped{Name: graph.NodeName(n), OpType: n.GetOpType(), Reason: why})
		}
		w, outAxis, ok := p.producer(n)
		if !ok {
			if why := p.notProducer(n); why != "" {
				skip(why)
			}
			continue
		}
		if why := o.skipReason(n, w); why != "" {
			skip(why)
			continue
		}
		if stale {
			if err := p.refreshShapes(); err != nil {
				return nil, nil, err
			}
			stale = false
		}
		if err := p.propagate(n.Output[0], nil, true); err != nil {
			if errors.Is(err, errReachesOutput) {
				skip("its channels reach a graph output")
				continue
			}
			return nil, nil, err
		}
		wt, err := p.weight(w)
		if err != nil {
			return nil, nil, err
		}
		c := int(wt.shape[outAxis])
		drop := int(math.Floor(o.Sparsity * float64(c)))
		if drop >= c {
			drop = c - 1
		}
		if drop <= 0 {
			skip(fmt.Sprintf("sparsity %g of %d channels removes none", o.Sparsity, c))
			continue
		}
		var scores []float64
		if calib != nil {
			scores = activationScores(calib[n.Output[0]], c)
		}
		if scores == nil {
			scores = channelNorms(wt, outAxis, o.Score)
		}
		keep := lowestDropped(scores, drop)
		if err := p.cut(w, outAxis, keep); err != nil {
			return nil, nil, err
		}
		if len(n.Input) > 2 && n.Input[2] != "" {
			if err := p.cutBias(n, n.Input[2], keep, c); err != nil {
				return nil, nil, err
			}
		}
		if err := p.propagate(n.Output[0], keep, false); err != nil {
			return nil, nil, err
		}
		stale = true
		lr := LayerReport{Name: graph.NodeName(n) + " (" + w + ")", Shape: origShapes[w]}
		lr.Params = lr.Shape.Elements()
		lr.SparsityAfter = 1 - float64(len(keep))/float64(c) // of the output channels
		rep.Layers = append(rep.Layers, lr)
		layerWeights = append(layerWeights, w)
	}
	finalShapes := p.initShapes()
	for i, w := range layerWeights {
		l := &rep.Layers[i]
		l.NewShape = finalShapes[w]
		l.NewParams = l.NewShape.Elements()
	}
	after, err := p.countParams()
	if err != nil {
		return nil, nil, err
	}
	rep.ParamsBefore, rep.ParamsAfter = before, after
	rep.NonzeroBefore, rep.NonzeroAfter = before, after
	return p.mp, rep, nil
}

// skipReason says why the options leave producer n (weight w) alone; "" selects it.
func (o *StructuredOptions) skipReason(n *onnxpb.NodeProto, w string) string {
	name := n.GetName()
	if o.Include != nil && !o.Include.MatchString(name) && !o.Include.MatchString(w) {
		return "not matched by --include"
	}
	if o.Exclude != nil && (o.Exclude.MatchString(name) || o.Exclude.MatchString(w)) {
		return "matched by --exclude"
	}
	return ""
}

// notProducer says why a Conv, Gemm or MatMul node is no producer whose output
// channels can be cut; "" for other operators, which are no candidates.
func (p *pruner) notProducer(n *onnxpb.NodeProto) string {
	switch n.GetOpType() {
	case "Conv", "Gemm", "MatMul":
	default:
		return ""
	}
	if len(n.Input) < 2 || len(n.Output) < 1 {
		return "too few inputs"
	}
	w := n.Input[1]
	if _, ok := p.inits[w]; !ok {
		if _, isConst := p.consts[w]; isConst {
			return "weight is a Constant node, not an initializer"
		}
		return "weight is not an initializer"
	}
	if k := len(p.consumers[w]); k != 1 {
		return fmt.Sprintf("weight is shared by %d nodes", k)
	}
	switch n.GetOpType() {
	case "Conv":
		if g := graph.Int(n, "group", 1); g != 1 {
			return fmt.Sprintf("grouped Conv (group %d)", g)
		}
	case "Gemm":
		return "transA is set"
	}
	return ""
}

type weightT struct {
	shape []int64
	data  []float32
}

type pruner struct {
	ctx       context.Context
	mp        *onnxpb.ModelProto
	fsys      fs.FS
	inits     map[string]int // initializer name -> index in graph
	e         *graph.Editor
	consumers map[string][]graph.Use
	consts    map[string]*onnxpb.NodeProto // Constant node outputs
	shapes    map[string][]int64
	shapesIn  map[string][]int64 // StructuredOptions.InputShapes
}

func (p *pruner) index() {
	g := p.mp.Graph
	p.inits = map[string]int{}
	for i, t := range g.Initializer {
		p.inits[t.GetName()] = i
	}
	p.consumers = p.e.ConsumerIndex()
	p.consts = map[string]*onnxpb.NodeProto{}
	for _, n := range g.Node {
		if n.GetOpType() == "Constant" && len(n.Output) == 1 {
			p.consts[n.Output[0]] = n
		}
	}
}

func unrepairable(n *onnxpb.NodeProto, why string, args ...any) error {
	return fmt.Errorf("%w: node %q (%s): %s", ErrUnrepairable, graph.NodeName(n), n.GetOpType(), fmt.Sprintf(why, args...))
}

// producer reports whether n makes channels Structured can remove: its weight and
// the weight axis that holds output channels.
func (p *pruner) producer(n *onnxpb.NodeProto) (string, int, bool) {
	if len(n.Input) < 2 || len(n.Output) < 1 {
		return "", 0, false
	}
	w := n.Input[1]
	if _, ok := p.inits[w]; !ok || len(p.consumers[w]) != 1 {
		return "", 0, false
	}
	switch n.GetOpType() {
	case "Conv":
		if graph.Int(n, "group", 1) != 1 {
			return "", 0, false
		}
		return w, 0, true
	case "Gemm":
		if graph.Int(n, "transA", 0) != 0 {
			return "", 0, false
		}
		if graph.Int(n, "transB", 0) != 0 {
			return w, 0, true
		}
		return w, 1, true
	case "MatMul":
		return w, 1, true
	}
	return "", 0, false
}

func (p *pruner) producerOutputs() []string {
	var out []string
	for _, n := range p.mp.Graph.Node {
		if _, _, ok := p.producer(n); ok {
			out = append(out, n.Output[0])
		}
	}
	return out
}

func (p *pruner) weight(name string) (*weightT, error) {
	i, ok := p.inits[name]
	if !ok {
		return nil, fmt.Errorf("prune: %q is not an initializer", name)
	}
	t, err := onnx.TensorFromProto(p.mp.Graph.Initializer[i], p.fsys)
	if err != nil {
		return nil, err
	}
	if t.DType != tensor.F32 {
		return nil, fmt.Errorf("%w: prune: structured pruning of %s tensor %q", refit.ErrUnsupported, t.DType, name)
	}
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return &weightT{shape: slices.Clone([]int64(t.Shape)), data: f}, nil
}

func (p *pruner) setWeight(name string, w *weightT) error {
	t, err := tensor.NewF32(name, w.shape, w.data)
	if err != nil {
		return err
	}
	tp, err := onnx.TensorToProto(t)
	if err != nil {
		return err
	}
	p.e.SetInitializer(tp)
	return nil
}

// cut keeps only the given indices of axis in initializer name.
func (p *pruner) cut(name string, axis int, keep []int) error {
	w, err := p.weight(name)
	if err != nil {
		return err
	}
	if axis >= len(w.shape) {
		return fmt.Errorf("prune: %s: axis %d out of range for shape %v", name, axis, w.shape)
	}
	return p.setWeight(name, take(w, axis, keep))
}

// take returns w with only the keep indices along axis.
func take(w *weightT, axis int, keep []int) *weightT {
	outer, inner := int64(1), int64(1)
	for _, d := range w.shape[:axis] {
		outer *= d
	}
	for _, d := range w.shape[axis+1:] {
		inner *= d
	}
	dim := w.shape[axis]
	out := make([]float32, 0, outer*int64(len(keep))*inner)
	for o := int64(0); o < outer; o++ {
		for _, k := range keep {
			base := (o*dim + int64(k)) * inner
			out = append(out, w.data[base:base+inner]...)
		}
	}
	shape := slices.Clone(w.shape)
	shape[axis] = int64(len(keep))
	return &weightT{shape: shape, data: out}
}

// cutBias prunes a 1-D (or [1, C]) bias of n along its channel axis.
func (p *pruner) cutBias(n *onnxpb.NodeProto, name string, keep []int, c int) error {
	if _, ok := p.inits[name]; !ok {
		return unrepairable(n, "bias %q is not an initializer", name)
	}
	if len(p.consumers[name]) != 1 {
		return unrepairable(n, "bias %q is shared with other nodes", name)
	}
	w, err := p.weight(name)
	if err != nil {
		return err
	}
	switch {
	case len(w.shape) == 0 || tensor.Shape(w.shape).Elements() == 1:
		return nil // broadcast scalar
	case w.shape[len(w.shape)-1] == int64(c):
		return p.setWeight(name, take(w, len(w.shape)-1, keep))
	}
	return unrepairable(n, "bias %q has shape %v, want [%d]", name, w.shape, c)
}

// propagate repairs every consumer of value v, whose axis-1 channels were reduced to
// keep (indices into the old channels). With dry set it only checks that it can.
func (p *pruner) propagate(v string, keep []int, dry bool) error {
	if p.e.IsOutput(v) {
		return errReachesOutput
	}
	for _, u := range p.consumers[v] {
		if err := p.repair(u, keep, dry); err != nil {
			return err
		}
	}
	return nil
}

var channelwise = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Selu": true,
	"HardSigmoid": true, "HardSwish": true, "Softplus": true, "Gelu": true, "Identity": true,
	"MaxPool": true, "AveragePool": true, "GlobalAveragePool": true, "GlobalMaxPool": true,
	"Dropout": true, "Abs": true, "Neg": true,
}

func (p *pruner) repair(u graph.Use, keep []int, dry bool) error {
	n := u.Node
	op := n.GetOpType()
	if n.GetDomain() != "" && n.GetDomain() != "ai.onnx" {
		return unrepairable(n, "operator of domain %q", n.GetDomain())
	}
	switch {
	case channelwise[op] && u.Input == 0:
		return p.propagate(n.Output[0], keep, dry)
	case op == "Clip" && u.Input == 0:
		return p.propagate(n.Output[0], keep, dry)
	case op == "BatchNormalization" && u.Input == 0:
		for _, in := range n.Input[1:] {
			if _, ok := p.inits[in]; !ok || len(p.consumers[in]) != 1 {
				return unrepairable(n, "parameter %q is not an unshared initializer", in)
			}
			if !dry {
				if err := p.cut(in, 0, keep); err != nil {
					return err
				}
			}
		}
		return p.propagate(n.Output[0], keep, dry)
	case op == "Add" || op == "Sub" || op == "Mul" || op == "Div":
		other := n.Input[1-u.Input]
		if _, ok := p.inits[other]; !ok {
			return unrepairable(n, "joins two activations (%q and %q); pruning would need the same channels removed from both branches — exclude one producer", n.Input[0], n.Input[1])
		}
		if len(p.consumers[other]) != 1 {
			return unrepairable(n, "constant %q is shared with other nodes", other)
		}
		if err := p.cutBroadcast(n, other, n.Input[u.Input], keep, dry); err != nil {
			return err
		}
		return p.propagate(n.Output[0], keep, dry)
	case op == "Concat":
		return p.repairConcat(u, keep, dry)
	case op == "Flatten" || op == "Reshape":
		return p.repairFlatten(u, keep, dry)
	case op == "Conv" && u.Input == 0:
		group := graph.Int(n, "group", 1)
		if _, ok := p.inits[n.Input[1]]; !ok || len(p.consumers[n.Input[1]]) != 1 {
			return unrepairable(n, "weight %q is not an unshared initializer", n.Input[1])
		}
		if group == 1 {
			if !dry {
				return p.cut(n.Input[1], 1, keep)
			}
			return nil
		}
		w, err := p.weight(n.Input[1])
		if err != nil {
			return err
		}
		if w.shape[1] != 1 || w.shape[0] != group {
			return unrepairable(n, "grouped convolution (group %d) other than depthwise", group)
		}
		if !dry {
			if err := p.cut(n.Input[1], 0, keep); err != nil {
				return err
			}
			if len(n.Input) > 2 && n.Input[2] != "" {
				if err := p.cutBias(n, n.Input[2], keep, int(group)); err != nil {
					return err
				}
			}
			graph.SetInt(n, "group", int64(len(keep)))
		}
		return p.propagate(n.Output[0], keep, dry)
	case op == "Gemm" && u.Input == 0:
		if graph.Int(n, "transA", 0) != 0 {
			return unrepairable(n, "transA=1")
		}
		if _, ok := p.inits[n.Input[1]]; !ok || len(p.consumers[n.Input[1]]) != 1 {
			return unrepairable(n, "weight %q is not an unshared initializer", n.Input[1])
		}
		if !dry {
			axis := 0
			if graph.Int(n, "transB", 0) != 0 {
				axis = 1
			}
			return p.cut(n.Input[1], axis, keep)
		}
		return nil
	case op == "MatMul" && u.Input == 0:
		if _, ok := p.inits[n.Input[1]]; !ok || len(p.consumers[n.Input[1]]) != 1 {
			return unrepairable(n, "right operand %q is not an unshared initializer", n.Input[1])
		}
		if !dry {
			return p.cut(n.Input[1], 0, keep)
		}
		return nil
	}
	return unrepairable(n, "input %d carries pruned channels and this operator is not supported", u.Input)
}

// cutBroadcast prunes a constant operand of an elementwise op that broadcasts against
// activation act along its channel axis (axis 1).
func (p *pruner) cutBroadcast(n *onnxpb.NodeProto, name, act string, keep []int, dry bool) error {
	w, err := p.weight(name)
	if err != nil {
		return err
	}
	if tensor.Shape(w.shape).Elements() == 1 {
		return nil
	}
	rank := len(p.shapes[act])
	if rank == 0 {
		return unrepairable(n, "unknown rank of %q", act)
	}
	axis := len(w.shape) - (rank - 1)
	if axis < 0 || axis >= len(w.shape) || w.shape[axis] != p.shapes[act][1] {
		// no channel axis in the constant: fine when every axis broadcasts
		for i, d := range w.shape {
			if d != 1 && i == axis {
				return unrepairable(n, "constant %q of shape %v does not broadcast along channels", name, w.shape)
			}
		}
		if axis >= 0 && axis < len(w.shape) && w.shape[axis] != 1 {
			return unrepairable(n, "constant %q of shape %v does not match channels", name, w.shape)
		}
		return nil
	}
	if dry {
		return nil
	}
	return p.setWeight(name, take(w, axis, keep))
}

func (p *pruner) repairConcat(u graph.Use, keep []int, dry bool) error {
	n := u.Node
	shape := p.shapes[n.Input[u.Input]]
	axis := graph.Int(n, "axis", 0)
	if axis < 0 {
		axis += int64(len(shape))
	}
	if axis != 1 {
		return unrepairable(n, "concatenates along axis %d, not channels", axis)
	}
	off, total := 0, 0
	for i, in := range n.Input {
		s := p.shapes[in]
		if len(s) < 2 {
			return unrepairable(n, "unknown shape of input %q", in)
		}
		if i < u.Input {
			off += int(s[1])
		}
		total += int(s[1])
	}
	c := int(shape[1])
	var out []int
	if !dry {
		for i := 0; i < off; i++ {
			out = append(out, i)
		}
		for _, k := range keep {
			out = append(out, off+k)
		}
		for i := off + c; i < total; i++ {
			out = append(out, i)
		}
	}
	return p.propagate(n.Output[0], out, dry)
}

// repairFlatten follows channels through Flatten(axis 1) or an equivalent Reshape
// to [N, C*S]: channel c becomes columns c*S .. c*S+S-1.
func (p *pruner) repairFlatten(u graph.Use, keep []int, dry bool) error {
	n := u.Node
	if u.Input != 0 {
		return unrepairable(n, "pruned channels reach the shape input")
	}
	in, out := p.shapes[n.Input[0]], p.shapes[n.Output[0]]
	if len(in) < 2 || len(out) != 2 || out[0] != in[0] {
		return unrepairable(n, "reshapes %v to %v; only [N, C, ...] -> [N, C*S] is supported", in, out)
	}
	if n.GetOpType() == "Flatten" && graph.Int(n, "axis", 1) != 1 {
		return unrepairable(n, "axis %d", graph.Int(n, "axis", 1))
	}
	s := int(tensor.Shape(in[2:]).Elements())
	if out[1] != in[1]*int64(s) {
		return unrepairable(n, "reshapes %v to %v; only [N, C, ...] -> [N, C*S] is supported", in, out)
	}
	var cols []int
	if !dry {
		for _, k := range keep {
			for j := 0; j < s; j++ {
				cols = append(cols, k*s+j)
			}
		}
		if n.GetOpType() == "Reshape" {
			if err := p.fixReshape(n, int64(len(cols))); err != nil {
				return err
			}
		}
	} else if n.GetOpType() == "Reshape" {
		if _, ok := p.inits[n.Input[1]]; !ok && p.consts[n.Input[1]] == nil {
			return unrepairable(n, "shape %q is computed, not a constant", n.Input[1])
		}
	}
	return p.propagate(n.Output[0], cols, dry)
}

// fixReshape rewrites an explicit second dimension of a Reshape's constant shape.
func (p *pruner) fixReshape(n *onnxpb.NodeProto, cols int64) error {
	var tp *onnxpb.TensorProto
	c := p.consts[n.Input[1]]
	if i, ok := p.inits[n.Input[1]]; ok {
		if len(p.consumers[n.Input[1]]) != 1 {
			return unrepairable(n, "shape %q is shared", n.Input[1])
		}
		tp, c = p.mp.Graph.Initializer[i], nil
	} else if c != nil {
		tp = graph.Tensor(c, "value")
	}
	if tp == nil {
		return unrepairable(n, "shape %q is not a constant", n.Input[1])
	}
	t, err := onnx.TensorFromProto(tp, p.fsys)
	if err != nil {
		return err
	}
	b, err := t.Bytes()
	if err != nil || t.DType != tensor.I64 || len(b) != 16 {
		return unrepairable(n, "shape constant is not a 2-element int64")
	}
	vals := []int64{int64(leU64(b[:8])), int64(leU64(b[8:]))}
	if vals[1] > 0 {
		vals[1] = cols
	}
	shape := graph.Int64Tensor(tp.GetName(), tp.GetDims(), vals)
	if c != nil {
		graph.SetTensor(c, "value", shape)
	} else {
		p.e.SetInitializer(shape)
	}
	return nil
}

func leU64(b []byte) uint64 {
	var x uint64
	for i := 7; i >= 0; i-- {
		x = x<<8 | uint64(b[i])
	}
	return x
}

// refreshShapes runs the model once on random inputs (batch 1) to learn the shape
// of every value.
func (p *pruner) refreshShapes() error {
	var names []string
	for _, n := range p.mp.Graph.Node {
		for _, o := range n.Output {
			if o != "" {
				names = append(names, o)
			}
		}
	}
	vals, err := p.run(nil, names)
	if err != nil {
		return fmt.Errorf("prune: running the model to infer shapes: %w", err)
	}
	p.shapes = map[string][]int64{}
	for k, v := range vals {
		p.shapes[k] = v.Shape
	}
	return nil
}

// initShapes returns the shape of every initializer by name.
func (p *pruner) initShapes() map[string]tensor.Shape {
	m := make(map[string]tensor.Shape, len(p.mp.Graph.Initializer))
	for _, t := range p.mp.Graph.Initializer {
		m[t.GetName()] = tensor.Shape(slices.Clone(t.GetDims()))
	}
	return m
}

// countParams sums the elements of every initializer.
func (p *pruner) countParams() (int64, error) {
	var n int64
	for _, t := range p.mp.Graph.Initializer {
		n += tensor.Shape(t.Dims).Elements()
	}
	return n, nil
}

// run executes the current model on inputs and returns the named values.
func (p *pruner) run(inputs map[string]*runtime.Value, names []string) (map[string]*runtime.Value, error) {
	mp := graph.WithOutputs(p.mp, names)
	s, err := runtime.Load(mp, p.fsys, nil)
	if err != nil {
		return nil, err
	}
	if inputs == nil {
		if inputs, err = runtime.RandomInputs(s, 1, &runtime.RandomOptions{Shapes: p.shapesIn}); err != nil {
			return nil, err
		}
	}
	return s.Run(p.ctx, inputs)
}

// channelNorms scores each index of axis by the L1 or L2 norm of its slice.
func channelNorms(w *weightT, axis int, score Score) []float64 {
	outer, inner := int64(1), int64(1)
	for _, d := range w.shape[:axis] {
		outer *= d
	}
	for _, d := range w.shape[axis+1:] {
		inner *= d
	}
	dim := w.shape[axis]
	s := make([]float64, dim)
	for o := int64(0); o < outer; o++ {
		for c := int64(0); c < dim; c++ {
			for _, x := range w.data[(o*dim+c)*inner : (o*dim+c+1)*inner] {
				if score == L2 {
					s[c] += float64(x) * float64(x)
				} else {
					s[c] += math.Abs(float64(x))
				}
			}
		}
	}
	return s
}

// activationScores is the mean |x| per channel (axis 1) of an activation.
func activationScores(v *runtime.Value, c int) []float64 {
	if v == nil || len(v.Shape) < 2 || v.Shape[1] != int64(c) {
		return nil
	}
	f := v.Float32s()
	if f == nil {
		return nil
	}
	inner := int(tensor.Shape(v.Shape[2:]).Elements())
	s := make([]float64, c)
	for i, x := range f {
		s[(i/inner)%c] += math.Abs(float64(x))
	}
	return s
}

// lowestDropped returns the indices to keep, in order, after dropping the drop
// lowest scores (ties: higher index dropped first is avoided; lower index first).
func lowestDropped(scores []float64, drop int) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	keep := slices.Clone(idx[drop:])
	slices.Sort(keep)
	return keep
}
