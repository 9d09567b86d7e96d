package onnxq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

// ErrNeedCalibration is returned when a method needs calibration data and got none.
var ErrNeedCalibration = errors.New("onnxq: this method needs calibration data")

// NodeReport describes what happened to one candidate node.
type NodeReport struct {
	Name   string  `json:"name"`
	OpType string  `json:"op_type"`
	Action string  `json:"action"`              // e.g. "MatMulInteger int8 per-channel"; empty when skipped
	Skip   string  `json:"skip,omitempty"`      // why the node stayed float
	Error  float64 `json:"weight_rel_error"`    // ||W_q - W|| / ||W|| of the dequantized weight
	Alpha  float64 `json:"awq_alpha,omitempty"` // AWQ's chosen exponent
	Note   string  `json:"note,omitempty"`      // where AWQ's scales went
	// Fallback says why the node computes in float on int8 stored weights instead
	// of being quantized fully (see Quantizer.Fit).
	Fallback string `json:"fallback,omitempty"`
	Before   int64  `json:"weight_bytes_before"` // float weight bytes
	After    int64  `json:"weight_bytes_after"`  // quantized weight + parameter bytes
}

// Report summarizes a quantization.
type Report struct {
	Method     string       `json:"method"`
	Format     string       `json:"format"`
	Nodes      []NodeReport `json:"nodes"`
	SizeBefore int64        `json:"model_bytes_before"`
	SizeAfter  int64        `json:"model_bytes_after"`
}

// target is a node that can be quantized.
type target struct {
	label string
	sc    int // scope: 0 for the main graph, else a subgraph (see scopesOf)
	node  *onnxpb.NodeProto
	x     string // activation input
	w     string // weight initializer
	bias  string // Conv bias or Gemm C initializer, or ""
	// MatMul and Gemm: the weight as [N, K] rows (alpha folded in), bias*beta.
	wNK  []float32
	n, k int
	c    []float32 // Gemm's beta*C broadcast to [N], or nil
}

// Quantizer holds a model, its candidate nodes and calibration statistics, so that
// several selections of nodes (one at a time for sensitivity tables, all but the
// worst) can be quantized without calibrating again.
type Quantizer struct {
	mp       *onnxpb.ModelProto
	opts     Options
	scopes   []*scope // q.mp's graphs
	targets  []*target
	stores   []*storeTarget // recurrent nodes whose weights are stored in int8
	skipped  []NodeReport
	ranges   map[string][2]float64
	alias    map[string]string // a node output read only by a Relu -> the Relu's output
	grams    map[string]*gramStats
	cache    map[string]*woResult
	searched int // layers through GPTQ or AWQ, for LayerProgress
}

// woResult caches a weight-only quantization of one node.
type woResult struct {
	b     *blocked
	s     []float64 // AWQ input scales, or nil
	alpha float64
	err   float64
}

// NewQuantizer prepares mp (with all tensor data in memory, as onnx.Load returns
// it) for quantization and runs calibration on calib when the method needs it:
// activation ranges (Static) or input Gram matrices (WeightOnly with GPTQ or AWQ).
// mp is not modified.
func NewQuantizer(ctx context.Context, mp *onnxpb.ModelProto, opts *Options, calib Feed) (*Quantizer, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("onnxq: model has no graph: %w", refit.ErrFormat)
	}
	q := &Quantizer{mp: proto.Clone(mp).(*onnxpb.ModelProto), opts: o, cache: map[string]*woResult{}}
	if o.Method == Static && o.Format == FormatQOperator {
		splitGemms(q.mp)
	}
	if err := q.findTargets(); err != nil {
		return nil, err
	}
	needs := o.Method == Static || (o.Method == WeightOnly && o.Algo != RTN)
	if needs && calib == nil {
		return nil, ErrNeedCalibration
	}
	switch {
	case o.Method == Static:
		q.reluAlias()
		names := map[string]bool{}
		for _, t := range q.targets {
			if t.sc > 0 {
				continue // quantized dynamically: calibration observes main-graph values
			}
			names[q.rangeOf(t.x)] = true
			names[q.rangeOf(t.node.GetOutput()[0])] = true
		}
		var list []string
		for n := range names {
			list = append(list, n)
		}
		slices.Sort(list)
		o.Progress(fmt.Sprintf("calibrating %d activations (%s)", len(list), o.Calibration))
		if q.ranges, err = calibrateRanges(ctx, q.mp, list, calib, &q.opts); err != nil {
			return nil, err
		}
	case needs:
		dims := map[string]int{}
		for _, t := range q.targets {
			dims[t.x] = t.k
		}
		o.Progress(fmt.Sprintf("collecting input statistics of %d layers", len(dims)))
		if q.grams, err = calibrateGram(ctx, q.opts.Threads, q.mp, dims, calib); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// reluAlias records outputs whose only reader is a Relu: their range is the Relu's
// output range, so the quantized node saturates negatives to zero itself (the Relu
// becomes a no-op, as in ONNX Runtime's Conv+Relu fusion) and the many values a
// Relu discards do not widen the range.
func (q *Quantizer) reluAlias() {
	q.alias = map[string]string{}
	e := graph.NewEditor(q.mp.GetGraph())
	readers := e.ConsumerIndex()
	for _, t := range q.targets {
		if t.sc > 0 {
			continue
		}
		out := t.node.GetOutput()[0]
		r := readers[out]
		if len(r) == 1 && r[0].Node.GetOpType() == "Relu" && !e.IsOutput(out) {
			q.alias[out] = r[0].Node.GetOutput()[0]
		}
	}
}

// rangeOf is the name whose calibrated range quantizes activation name.
func (q *Quantizer) rangeOf(name string) string {
	if a, ok := q.alias[name]; ok {
		return a
	}
	return name
}

// Targets lists the labels of the nodes that will be quantized, in graph order.
func (q *Quantizer) Targets() []string {
	var out []string
	for _, t := range q.targets {
		out = append(out, t.label)
	}
	for _, t := range q.stores {
		out = append(out, t.label)
	}
	return out
}

// Skipped lists the nodes of the chosen operator types that will stay float, with
// the reason in NodeReport.Skip, in graph order.
func (q *Quantizer) Skipped() []NodeReport { return slices.Clone(q.skipped) }

// ErrNothingToQuantize reports a model in which no node can be quantized with the
// options given (Quantizer.CheckTargets).
var ErrNothingToQuantize = errors.New("onnxq: nothing to quantize")

// CheckTargets returns nil when at least one node will be quantized, else an error
// wrapping ErrNothingToQuantize that names why: the operator types the model lacks
// (and those it has), or every candidate node's reason for staying float.
func (q *Quantizer) CheckTargets() error {
	if len(q.targets) > 0 || len(q.stores) > 0 {
		return nil
	}
	if len(q.skipped) > 0 {
		var parts []string
		for i, n := range q.skipped {
			if i == 8 {
				parts = append(parts, fmt.Sprintf("and %d more", len(q.skipped)-i))
				break
			}
			parts = append(parts, fmt.Sprintf("%s (%s): %s", n.Name, n.OpType, n.Skip))
		}
		return fmt.Errorf("%w: every %s node stays float: %s", ErrNothingToQuantize, strings.Join(q.opts.OpTypes, "/"), strings.Join(parts, "; "))
	}
	has := map[string]int{}
	for _, n := range q.mp.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "Conv", "MatMul", "Gemm", "ConvTranspose", "Attention", "LSTM", "GRU":
			has[n.GetOpType()]++
		}
	}
	var ops []string
	for op, k := range has {
		ops = append(ops, fmt.Sprintf("%d %s", k, op))
	}
	slices.Sort(ops)
	what := "none of those"
	if len(ops) > 0 {
		what = strings.Join(ops, ", ")
	}
	return fmt.Errorf("%w: the model has no %s nodes (it has %s)", ErrNothingToQuantize, strings.Join(q.opts.OpTypes, ", "), what)
}

// Quantize is NewQuantizer followed by Apply of every target.
func Quantize(ctx context.Context, mp *onnxpb.ModelProto, opts *Options, calib Feed) (*onnxpb.ModelProto, *Report, error) {
	q, err := NewQuantizer(ctx, mp, opts, calib)
	if err != nil {
		return nil, nil, err
	}
	return q.Apply(ctx, nil)
}

func (q *Quantizer) findTargets() error {
	ops := map[string]bool{}
	for _, op := range q.opts.OpTypes {
		ops[op] = true
	}
	excl, err := newMatcher(q.opts.Exclude)
	if err != nil {
		return err
	}
	q.scopes = scopesOf(q.mp)
	for sc, scp := range q.scopes {
		if err := q.findTargetsIn(sc, scp, ops, excl); err != nil {
			return err
		}
	}
	return nil
}

// findTargetsIn adds the candidate nodes of one scope.
func (q *Quantizer) findTargetsIn(sc int, scp *scope, ops map[string]bool, excl *matcher) error {
	constant := func(_ *graph.Editor, name string) *runtime.Value { return constantIn(q.scopes, sc, name) }
	e := scp.e
	for i, n := range e.G.GetNode() {
		if !ops[n.GetOpType()] || (n.GetDomain() != "" && n.GetDomain() != "ai.onnx") {
			continue
		}
		label := nodeLabel(n, i)
		if sc > 0 && n.GetName() == "" {
			label = e.G.GetName() + "/" + label
		}
		skip := func(why string) {
			q.skipped = append(q.skipped, NodeReport{Name: label, OpType: n.GetOpType(), Skip: why})
		}
		if excl.match(label) {
			skip("excluded")
			continue
		}
		if recurrentOps[n.GetOpType()] {
			q.findStore(sc, n, label, skip)
			continue
		}
		if sc > 0 && q.opts.Method == WeightOnly && q.opts.Algo != RTN {
			skip("inside a subgraph: " + q.opts.Algo.String() + " calibrates main-graph values only")
			continue
		}
		in := n.GetInput()
		if tp, _ := initializerIn(q.scopes, sc, in0(in)); len(in) < 2 || tp != nil {
			skip("input is a constant")
			continue
		}
		wv := constant(e, in[1])
		if wv == nil {
			skip("weight is not a float32 initializer")
			continue
		}
		t := &target{label: label, sc: sc, node: n, x: in[0], w: in[1]}
		if len(in) > 2 && in[2] != "" {
			t.bias = in[2]
		}
		switch n.GetOpType() {
		case "Conv":
			if len(wv.Shape) < 3 {
				skip("weight rank < 3")
				continue
			}
			if t.bias != "" && constant(e, t.bias) == nil {
				skip("bias is not a float32 initializer")
				continue
			}
		case "MatMul":
			if len(wv.Shape) != 2 {
				skip("weight is not 2-D")
				continue
			}
			t.k, t.n = int(wv.Shape[0]), int(wv.Shape[1])
			t.wNK = transpose2(wv.Float32s(), t.k, t.n)
		case "Gemm":
			if graph.Int(n, "transA", 0) != 0 || len(wv.Shape) != 2 {
				skip("transA or weight rank unsupported")
				continue
			}
			w := wv.Float32s()
			if graph.Int(n, "transB", 0) != 0 {
				t.n, t.k = int(wv.Shape[0]), int(wv.Shape[1])
				t.wNK = slices.Clone(w)
			} else {
				t.k, t.n = int(wv.Shape[0]), int(wv.Shape[1])
				t.wNK = transpose2(w, t.k, t.n)
			}
			if alpha := graph.Float(n, "alpha", 1); alpha != 1 {
				for i := range t.wNK {
					t.wNK[i] *= alpha
				}
			}
			if t.bias != "" {
				cv := constant(e, t.bias)
				if cv == nil || (cv.Len() != 1 && cv.Len() != t.n) || (len(cv.Shape) == 2 && cv.Shape[0] != 1) {
					skip("C is not a constant [N] or scalar")
					continue
				}
				beta := graph.Float(n, "beta", 1)
				t.c = make([]float32, t.n)
				for j := range t.c {
					t.c[j] = beta * cv.Float32s()[j%cv.Len()]
				}
			}
		}
		q.targets = append(q.targets, t)
	}
	return nil
}

// splitGemms rewrites Gemm(transA=0, constant B) as MatMul + Add so that QLinearMatMul
// sees a calibrated product without the bias. The MatMul keeps the Gemm's name.
func splitGemms(mp *onnxpb.ModelProto) {
	e := graph.NewEditor(mp.GetGraph())
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetOpType() != "Gemm" || graph.Int(n, "transA", 0) != 0 || len(n.GetInput()) < 2 {
			continue
		}
		wv := constant(e, n.GetInput()[1])
		if wv == nil || len(wv.Shape) != 2 {
			continue
		}
		w := wv.Float32s()
		k, nn := int(wv.Shape[0]), int(wv.Shape[1])
		if graph.Int(n, "transB", 0) != 0 {
			nn, k = k, nn
			w = transpose2(w, nn, k)
		} else {
			w = slices.Clone(w)
		}
		if alpha := graph.Float(n, "alpha", 1); alpha != 1 {
			for i := range w {
				w[i] *= alpha
			}
		}
		wName := e.Float(n.GetInput()[1]+"_kn", []int64{int64(k), int64(nn)}, w)
		out := n.GetOutput()[0]
		if len(n.GetInput()) < 3 || n.GetInput()[2] == "" {
			e.Replace(n, graph.NewNode("MatMul", n.GetName(), []string{n.GetInput()[0], wName}, []string{out}))
			continue
		}
		cv := constant(e, n.GetInput()[2])
		if cv == nil {
			continue
		}
		beta := graph.Float(n, "beta", 1)
		c := slices.Clone(cv.Float32s())
		for i := range c {
			c[i] *= beta
		}
		cName := e.Float(n.GetInput()[2]+"_scaled", cv.Shape, c)
		mm := e.Names.Fresh(out + "_matmul")
		e.Replace(n,
			graph.NewNode("MatMul", n.GetName(), []string{n.GetInput()[0], wName}, []string{mm}),
			e.NewNode("Add", n.GetName()+"_bias", []string{mm, cName}, []string{out}))
	}
	commit(e)
}

// Apply quantizes the targets for which only returns true (all when only is nil) and
// returns the new model; the Quantizer's model is not modified.
func (q *Quantizer) Apply(ctx context.Context, only func(label string) bool) (*onnxpb.ModelProto, *Report, error) {
	return q.ApplyModes(ctx, func(label string) Mode {
		if only == nil || only(label) {
			return Quantized
		}
		return Float
	}, nil)
}

// ApplyModes quantizes each target as mode(label) says and returns the new model;
// why, when set, gives the reason recorded in the report for a target that mode keeps
// from full quantization. The Quantizer's model is not modified.
func (q *Quantizer) ApplyModes(ctx context.Context, mode func(label string) Mode, why func(label string) string) (*onnxpb.ModelProto, *Report, error) {
	only := func(label string) bool { return mode(label) == Quantized }
	if why == nil {
		why = func(string) string { return "" }
	}
	mp := proto.Clone(q.mp).(*onnxpb.ModelProto)
	scopes := scopesOf(mp)
	e := scopes[0].e
	// Targets refer to nodes of q.mp; map them by scope and position to the clone.
	index := map[*onnxpb.NodeProto]int{}
	for _, scp := range q.scopes {
		for i, n := range scp.e.G.GetNode() {
			index[n] = i
		}
	}
	st := &applyState{e: e, scopes: scopes, q: q, dql: map[string][3]string{}, qdq: map[string]string{}, qx: map[string][3]string{}}
	if q.opts.Method == WeightOnly && q.opts.Algo == AWQ {
		if err := st.planAWQFolds(only); err != nil {
			return nil, nil, err
		}
	}
	rep := &Report{Method: q.opts.Method.String(), Format: q.opts.Format.String(), SizeBefore: int64(proto.Size(q.mp))}
	if q.opts.Method == Static {
		// Activations that are outputs of quantized nodes are quantized once, there.
		for _, t := range q.targets {
			if t.sc == 0 && (only == nil || only(t.label)) {
				st.quantizedOut = appendMap(st.quantizedOut, t.node.GetOutput()[0])
			}
		}
	}
	var total, done int // nodes to quantize, for NodeProgress
	for _, t := range q.targets {
		if mode(t.label) != Float {
			total++
		}
	}
	var kept []NodeReport // targets the modes keep in float
	for _, t := range q.targets {
		m := mode(t.label)
		if m == Float {
			if r := why(t.label); r != "" {
				kept = append(kept, NodeReport{Name: t.label, OpType: t.node.GetOpType(), Skip: r})
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		st.e, st.sc = scopes[t.sc].e, t.sc
		n := st.e.G.GetNode()[index[t.node]]
		var nr NodeReport
		var err error
		switch {
		case m == WeightsOnly || m == Weights16:
			nr, err = st.storedWeight(t, n, m == Weights16)
			nr.Fallback = why(t.label)
		case q.opts.Method == Dynamic:
			nr, err = st.dynamic(t, n)
		case q.opts.Method == Static && t.sc > 0:
			// Calibration observes main-graph values only; inside a branch the
			// activation is quantized at run time.
			nr, err = st.dynamic(t, n)
			nr.Action += " (dynamic: inside a subgraph)"
		case q.opts.Method == Static:
			nr, err = st.static(t, n)
		case q.opts.Method == WeightOnly:
			nr, err = st.weightOnly(t, n)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("onnxq: %s: %w", t.label, err)
		}
		nr.Name, nr.OpType = t.label, t.node.GetOpType()
		rep.Nodes = append(rep.Nodes, nr)
		if done++; q.opts.NodeProgress != nil {
			q.opts.NodeProgress(done, total)
		}
	}
	st.e, st.sc = e, 0
	stored, err := st.applyStores(ctx, mode)
	if err != nil {
		return nil, nil, err
	}
	rep.Nodes = append(rep.Nodes, stored...)
	for _, st := range q.stores {
		if mode(st.label) == Float {
			if r := why(st.label); r != "" {
				kept = append(kept, NodeReport{Name: st.label, OpType: st.op, Skip: r})
			}
		}
	}
	rep.Nodes = append(rep.Nodes, kept...)
	rep.Nodes = append(rep.Nodes, q.skipped...)
	commitScopes(scopes)
	// An older graph (Paddle2ONNX writes opset 9) is carried to the opset the quantized
	// operators need, or refused: a lower version would name operators it lacks.
	need := quantOpset(mp.GetGraph())
	if st.wide {
		need = max(need, 21) // int16 DequantizeLinear
	}
	if need > 0 {
		if err := upgradeOpset(mp, need); err != nil {
			return nil, nil, err
		}
	}
	if q.opts.Method == WeightOnly && q.opts.Format == FormatQDQ {
		graph.EnsureOpset(mp, "", 21)
	}
	for _, op := range []string{"MatMulNBits"} {
		for _, n := range mp.GetGraph().GetNode() {
			if n.GetOpType() == op {
				graph.EnsureOpset(mp, "com.microsoft", 1)
			}
		}
	}
	if q.opts.Method != WeightOnly {
		// Shapes the preparation inferred: a cache readers recompute, and on a small
		// graph of many quantized tensors a tenth of the file.
		mp.Graph.ValueInfo = nil
	}
	rep.SizeAfter = int64(proto.Size(mp))
	return mp, rep, nil
}

func appendMap(m map[string]bool, k string) map[string]bool {
	if m == nil {
		m = map[string]bool{}
	}
	m[k] = true
	return m
}

// applyState is one Apply's graph editor plus shared activation quantizers.
type applyState struct {
	e            *graph.Editor // the current target's scope
	sc           int
	scopes       []*scope
	q            *Quantizer
	dql          map[string][3]string // DynamicQuantizeLinear outputs per activation
	qdq          map[string]string    // dequantized name per activation (static QDQ)
	qx           map[string][3]string // quantized value, scale, zero point (static QOperator)
	quantizedOut map[string]bool
	wide         bool // an int16 DequantizeLinear was added (opset 21)
	// AWQ: a consumer's 1/s folded into its producer's output channels.
	foldInto map[string][]float64 // producer label -> per output channel factor
	folded   map[string]string    // consumer label -> producer label
}

// planAWQFolds finds AWQ targets whose input comes straight (or through a Relu) from
// another selected target that nothing else reads: dividing the producer's output
// channels by s replaces the Mul by 1/s. Relu(y)/s = Relu(y/s) for s > 0, and
// scaling a weight row scales its block parameters exactly, so the producer's
// quantized codes stay the same.
func (s *applyState) planAWQFolds(only func(string) bool) error {
	s.foldInto, s.folded = map[string][]float64{}, map[string]string{}
	byOut := map[string]*target{}
	for _, t := range s.q.targets {
		if only == nil || only(t.label) {
			byOut[t.node.GetOutput()[0]] = t
		}
	}
	e := s.e
	uses, producers := e.Uses(), e.Producers()
	for _, t := range s.q.targets {
		if only != nil && !only(t.label) {
			continue
		}
		r, err := s.q.weightOnlyBlocks(t)
		if err != nil {
			return fmt.Errorf("onnxq: %s: %w", t.label, err)
		}
		if r.s == nil || uses[t.x] != 1 || e.IsOutput(t.x) {
			continue
		}
		src := t.x
		if p := producers[src]; p != nil && p.GetOpType() == "Relu" {
			src = p.GetInput()[0]
			if uses[src] != 1 || e.IsOutput(src) {
				continue
			}
		}
		p := byOut[src]
		if p == nil || p.n != t.k || s.foldInto[p.label] != nil {
			continue
		}
		f := make([]float64, p.n)
		for i, v := range r.s {
			f[i] = 1 / v
		}
		s.foldInto[p.label] = f
		s.folded[t.label] = p.label
	}
	return nil
}

// dynQuant returns the DynamicQuantizeLinear outputs (uint8 x, scale, zero point)
// for activation x, adding the node before anchor the first time.
func (s *applyState) dynQuant(x string, anchor *onnxpb.NodeProto) [3]string {
	key := s.scoped(x)
	if r, ok := s.dql[key]; ok {
		return r
	}
	e := s.e
	r := [3]string{e.Names.Fresh(x + "_q"), e.Names.Fresh(x + "_s"), e.Names.Fresh(x + "_zp")}
	e.InsertBefore(anchor, qdqNode("DynamicQuantizeLinear", []string{x}, r[:]))
	s.dql[key] = r
	return r
}

// weightNK2KN returns a target's weight as [K, N] (MatMul layout).
func (t *target) weightKN() []float32 { return transpose2(t.wNK, t.n, t.k) }

func float64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// weightInits adds the quantized weight, its scales and zero points; dims is the
// weight's shape, scaleDims the shape of per-channel parameters.
func (s *applyState) weightInits(base string, dims []int64, qw *quantWeight, scaleDims []int64, signed bool) (wq, sc, zp string) {
	e := s.e
	wq = int8Init(e, base+"_q", dims, qw.q, signed)
	if len(qw.scales) == 1 {
		sc = e.Float(base+"_s", nil, qw.scales)
		zp = int8Init(e, base+"_zp", nil, qw.zps, signed)
		return
	}
	sc = e.Float(base+"_s", scaleDims, qw.scales)
	zp = int8Init(e, base+"_zp", scaleDims, qw.zps, signed)
	return
}

func weightBytes(qw *quantWeight) int64 { return int64(len(qw.q) + 5*len(qw.scales)) }

func perChannelNote(pc bool) string {
	if pc {
		return "per-channel"
	}
	return "per-tensor"
}

// dynamic rewrites t as DynamicQuantizeLinear + MatMulInteger/ConvInteger (QOperator)
// or as DynamicQuantizeLinear + DequantizeLinear in front of the float node (QDQ).
func (s *applyState) dynamic(t *target, n *onnxpb.NodeProto) (NodeReport, error) {
	o, e := &s.q.opts, s.e
	signed := !o.UnsignedWeights
	op := n.GetOpType()
	// ConvInteger has uint8 kernels only in ONNX Runtime and one weight zero point,
	// so its weights are per tensor; per-channel Conv weights (depthwise layers need
	// them: PP-OCRv4 rec falls from cosine 0.98 to 0.79 with one scale) go through
	// the QDQ form instead: DynamicQuantizeLinear + DequantizeLinear + float Conv.
	convQDQ := op == "Conv" && o.Format == FormatQOperator && o.PerChannel
	if op == "Conv" && o.Format == FormatQOperator && signed && !convQDQ {
		signed = false
	}
	dims, w, axis := s.weightLayout(t, op)
	perChannel := o.PerChannel
	qw := quantizeWeight(w, dims, axis, perChannel, signed, o.ReduceRange)
	before := int64(4 * len(w))
	nr := NodeReport{Error: qw.err, Before: before, After: weightBytes(qw)}
	typ := map[bool]string{true: "int8", false: "uint8"}[signed]
	if o.Format == FormatQDQ || convQDQ {
		return s.dynamicQDQ(t, n, qw, dims, axis, signed, nr, typ)
	}
	x := s.dynQuant(t.x, n)
	out := n.GetOutput()[0]
	var scaleDims []int64
	if len(qw.scales) > 1 {
		scaleDims = []int64{int64(len(qw.scales))}
		if op == "Conv" {
			scaleDims = append(scaleDims, make([]int64, len(dims)-2)...)
			for i := 1; i < len(scaleDims); i++ {
				scaleDims[i] = 1
			}
		}
	}
	wq, sc, zp := s.weightInits(t.w, dims, qw, scaleDims, signed)
	if op == "Conv" && len(qw.scales) > 1 {
		// ConvInteger's zero point is a scalar; symmetric weights have zero everywhere.
		zp = int8Init(e, t.w+"_zp", nil, []int32{qw.zps[0]}, signed)
	} else if len(qw.scales) > 1 {
		zp = int8Init(e, t.w+"_zp", []int64{int64(len(qw.zps))}, qw.zps, signed)
	}
	acc := e.Names.Fresh(out + "_int32")
	accF := e.Names.Fresh(out + "_int32_float")
	scale := e.Names.Fresh(out + "_s")
	var nodes []*onnxpb.NodeProto
	if op == "Conv" {
		nodes = append(nodes, e.NewNode("ConvInteger", n.GetName()+"_quant", []string{x[0], wq, x[2], zp}, []string{acc},
			slices.Clone(n.GetAttribute())...))
	} else {
		nodes = append(nodes, e.NewNode("MatMulInteger", n.GetName()+"_quant", []string{x[0], wq, x[2], zp}, []string{acc}))
	}
	nodes = append(nodes,
		e.NewNode("Cast", n.GetName()+"_cast", []string{acc}, []string{accF}, graph.IntAttr("to", graph.ElemFloat)),
		e.NewNode("Mul", n.GetName()+"_scales", []string{x[1], sc}, []string{scale}))
	var bias []float32
	var biasDims []int64
	switch {
	case op == "Conv" && t.bias != "":
		bias = s.constant(t.bias).Float32s()
		biasDims = append([]int64{int64(len(bias))}, make([]int64, len(dims)-2)...)
		for i := 1; i < len(biasDims); i++ {
			biasDims[i] = 1
		}
	case t.c != nil:
		bias, biasDims = t.c, []int64{int64(t.n)}
	}
	if bias == nil {
		nodes = append(nodes, e.NewNode("Mul", n.GetName()+"_output", []string{accF, scale}, []string{out}))
	} else {
		scaled := e.Names.Fresh(out + "_unbiased")
		b := e.Float(out+"_bias", biasDims, bias)
		nodes = append(nodes,
			e.NewNode("Mul", n.GetName()+"_output", []string{accF, scale}, []string{scaled}),
			e.NewNode("Add", n.GetName()+"_bias", []string{scaled, b}, []string{out}))
	}
	e.Replace(n, nodes...)
	kind := map[string]string{"Conv": "ConvInteger", "MatMul": "MatMulInteger", "Gemm": "MatMulInteger"}[op]
	nr.Action = fmt.Sprintf("%s %s %s", kind, typ, perChannelNote(len(qw.scales) > 1))
	return nr, nil
}

func (s *applyState) dynamicQDQ(t *target, n *onnxpb.NodeProto, qw *quantWeight, dims []int64, axis int, signed bool, nr NodeReport, typ string) (NodeReport, error) {
	e := s.e
	x := s.dynQuant(t.x, n)
	xdq, ok := s.qdq[s.scoped(t.x)]
	if !ok {
		xdq = e.Names.Fresh(t.x + "_dq")
		e.InsertBefore(n, qdqNode("DequantizeLinear", x[:], []string{xdq}))
		s.qdq[s.scoped(t.x)] = xdq
	}
	wdq := s.weightDQ(t, n, qw, dims, axis, signed)
	c := proto.Clone(n).(*onnxpb.NodeProto)
	graph.SetInput(c, 0, xdq)
	graph.SetInput(c, 1, wdq)
	if n.GetOpType() == "MatMul" || n.GetOpType() == "Gemm" {
		s.rewriteAsMatMul(t, n, c)
	}
	e.Replace(n, c)
	nr.Action = fmt.Sprintf("QDQ dynamic %s %s", typ, perChannelNote(len(qw.scales) > 1))
	return nr, nil
}

// rewriteAsMatMul makes c (a copy of Gemm/MatMul n, inputs already set, with weight
// input in [K, N] layout) a Gemm without transB and with alpha folded, or a MatMul.
func (s *applyState) rewriteAsMatMul(t *target, n, c *onnxpb.NodeProto) {
	if n.GetOpType() != "Gemm" {
		return
	}
	graph.DeleteAttrs(c, "transB", "alpha", "beta")
	if t.c != nil {
		graph.SetInputs(c, c.Input[0], c.Input[1], s.e.Float(t.w+"_bias", []int64{int64(t.n)}, t.c))
	}
}

// weightDQ adds DequantizeLinear of the quantized weight, in the node's own layout
// for Conv and in [K, N] layout for MatMul/Gemm.
func (s *applyState) weightDQ(t *target, n *onnxpb.NodeProto, qw *quantWeight, dims []int64, axis int, signed bool) string {
	e := s.e
	var scaleDims []int64
	if len(qw.scales) > 1 {
		scaleDims = []int64{int64(len(qw.scales))}
	}
	wq, sc, zp := s.weightInits(t.w, dims, qw, scaleDims, signed)
	wdq := e.Names.Fresh(t.w + "_dq")
	in := []string{wq, sc, zp}
	if signed && !slices.ContainsFunc(qw.zps, func(z int32) bool { return z != 0 }) {
		in = in[:2] // symmetric int8: the zero point defaults to 0
	}
	dq := qdqNode("DequantizeLinear", in, []string{wdq})
	if len(qw.scales) > 1 {
		graph.SetInt(dq, "axis", int64(axis))
	}
	e.InsertBefore(n, dq)
	return wdq
}

// weightLayout returns the float weight of target t to quantize, its dims and its
// output-channel axis: Conv weights as they are (axis 0), MatMul/Gemm weights in
// [K, N] layout (axis 1).
func (s *applyState) weightLayout(t *target, op string) ([]int64, []float32, int) {
	if op == "Conv" {
		wv := s.constant(t.w)
		return wv.Shape, wv.Float32s(), 0
	}
	return []int64{int64(t.k), int64(t.n)}, t.weightKN(), 1
}

// actParams are the calibrated quantization parameters of an activation.
func (s *applyState) actParams(name string) (float32, int32, bool) {
	o := &s.q.opts
	r := s.q.ranges[s.q.rangeOf(name)]
	scale, zp := affine(r[0], r[1], int8Range(o.SignedActivations, false), o.Symmetric || o.SignedActivations)
	return scale, zp, o.SignedActivations
}

// actQDQ returns the dequantized name of activation x, adding Q and DQ once.
func (s *applyState) actQDQ(x string, anchor *onnxpb.NodeProto) string {
	if s.quantizedOut[x] {
		return x
	}
	if r, ok := s.qdq[x]; ok {
		return r
	}
	e := s.e
	scale, zp, signed := s.actParams(x)
	sc := e.Float(x+"_s", nil, []float32{scale})
	z := int8Init(e, x+"_zp", nil, []int32{zp}, signed)
	xq, xdq := e.Names.Fresh(x+"_q"), e.Names.Fresh(x+"_dq")
	e.InsertBefore(anchor,
		qdqNode("QuantizeLinear", []string{x, sc, z}, []string{xq}),
		qdqNode("DequantizeLinear", []string{xq, sc, z}, []string{xdq}))
	s.qdq[x] = xdq
	return xdq
}

// actQ returns the quantized value, scale and zero point of activation x
// (QOperator), adding QuantizeLinear once.
func (s *applyState) actQ(x string, anchor *onnxpb.NodeProto) [3]string {
	if r, ok := s.qx[x]; ok {
		return r
	}
	e := s.e
	scale, zp, signed := s.actParams(x)
	sc := e.Float(x+"_s", nil, []float32{scale})
	z := int8Init(e, x+"_zp", nil, []int32{zp}, signed)
	xq := e.Names.Fresh(x + "_q")
	e.InsertBefore(anchor, qdqNode("QuantizeLinear", []string{x, sc, z}, []string{xq}))
	r := [3]string{xq, sc, z}
	s.qx[x] = r
	return r
}

// static rewrites t with calibrated activation parameters: QDQ pairs around the
// float node (QDQ), or QLinearConv/QLinearMatMul between QuantizeLinear and
// DequantizeLinear (QOperator).
func (s *applyState) static(t *target, n *onnxpb.NodeProto) (NodeReport, error) {
	o, e := &s.q.opts, s.e
	signed := !o.UnsignedWeights
	op := n.GetOpType()
	dims, w, axis := s.weightLayout(t, op)
	qw := quantizeWeight(w, dims, axis, o.PerChannel, signed, o.ReduceRange)
	nr := NodeReport{Error: qw.err, Before: int64(4 * len(w)), After: weightBytes(qw)}
	typ := map[bool]string{true: "int8", false: "uint8"}[signed]
	act := map[bool]string{true: "int8", false: "uint8"}[o.SignedActivations]
	out := n.GetOutput()[0]
	xs, _, _ := s.actParams(t.x)
	var bias []float32
	switch {
	case op == "Conv" && t.bias != "":
		bias = s.constant(t.bias).Float32s()
	case t.c != nil:
		bias = t.c
	}
	qw.fitBias(w, dims, bias, xs, signed, o.ReduceRange)
	nr.Error = qw.err
	// Bias as int32 with scale x_scale * w_scale, as ONNX Runtime's quantizer.
	quantBias := func() (q string, sc string) {
		bq := make([]int32, len(bias))
		bs := make([]float32, len(qw.scales))
		for c := range bs {
			bs[c] = xs * qw.scales[c]
		}
		for i, b := range bias {
			sc := bs[i%len(bs)]
			v := math.RoundToEven(float64(b / sc))
			bq[i] = int32(min(max(v, math.MinInt32), math.MaxInt32))
		}
		q = e.Int32(t.w+"_bias_q", []int64{int64(len(bias))}, bq)
		if len(bs) == 1 {
			return q, e.Float(t.w+"_bias_s", nil, bs)
		}
		return q, e.Float(t.w+"_bias_s", []int64{int64(len(bs))}, bs)
	}
	if o.Format == FormatQDQ {
		xdq := s.actQDQ(t.x, n)
		wdq := s.weightDQ(t, n, qw, dims, axis, signed)
		c := proto.Clone(n).(*onnxpb.NodeProto)
		graph.SetInput(c, 0, xdq)
		graph.SetInput(c, 1, wdq)
		if bias != nil {
			bq, bs := quantBias()
			bdq := e.Names.Fresh(t.w + "_bias_dq")
			dq := qdqNode("DequantizeLinear", []string{bq, bs}, []string{bdq}) // int32: zero point 0
			if len(qw.scales) > 1 {
				graph.SetInt(dq, "axis", 0)
			}
			e.InsertBefore(n, dq)
			if op == "Conv" {
				graph.SetInput(c, 2, bdq)
			}
		}
		if op == "Gemm" {
			s.rewriteAsMatMul(t, n, c)
			if bias != nil {
				graph.SetInput(c, 2, names2(c.Input[2], s.lastBiasDQ(n)))
			}
		}
		// Output: the node writes a raw name; Q/DQ restore the original one.
		raw := e.Names.Fresh(out + "_f")
		graph.SetOutput(c, 0, raw)
		scale, zp, asigned := s.actParams(out)
		sc := e.Float(out+"_s", nil, []float32{scale})
		z := int8Init(e, out+"_zp", nil, []int32{zp}, asigned)
		oq := e.Names.Fresh(out + "_q")
		e.Replace(n, c,
			qdqNode("QuantizeLinear", []string{raw, sc, z}, []string{oq}),
			qdqNode("DequantizeLinear", []string{oq, sc, z}, []string{out}))
		nr.Action = fmt.Sprintf("QDQ %s activations, %s weights %s", act, typ, perChannelNote(len(qw.scales) > 1))
		return nr, nil
	}
	// QOperator.
	x := s.actQ(t.x, n)
	var scaleDims []int64
	if len(qw.scales) > 1 {
		scaleDims = []int64{int64(len(qw.scales))}
	}
	wq, sc, zp := s.weightInits(t.w, dims, qw, scaleDims, signed)
	scale, yzp, asigned := s.actParams(out)
	ys := e.Float(out+"_s", nil, []float32{scale})
	yz := int8Init(e, out+"_zp", nil, []int32{yzp}, asigned)
	yq := e.Names.Fresh(out + "_q")
	var qn *onnxpb.NodeProto
	switch op {
	case "Conv":
		in := []string{x[0], x[1], x[2], wq, sc, zp, ys, yz}
		if bias != nil {
			bq, _ := quantBias()
			in = append(in, bq)
		}
		qn = e.NewNode("QLinearConv", n.GetName()+"_quant", in, []string{yq}, slices.Clone(n.GetAttribute())...)
	case "MatMul":
		qn = e.NewNode("QLinearMatMul", n.GetName()+"_quant", []string{x[0], x[1], x[2], wq, sc, zp, ys, yz}, []string{yq})
	default:
		return nr, fmt.Errorf("op %s in QOperator form: %w", op, refit.ErrUnsupported)
	}
	e.Replace(n, qn, qdqNode("DequantizeLinear", []string{yq, ys, yz}, []string{out}))
	nr.Action = fmt.Sprintf("%s %s activations, %s weights %s", qn.GetOpType(), act, typ, perChannelNote(len(qw.scales) > 1))
	return nr, nil
}

// lastBiasDQ is the output of the bias DequantizeLinear just added before n.
func (s *applyState) lastBiasDQ(n *onnxpb.NodeProto) string {
	nodes := s.e.InsertedBefore(n)
	for i := len(nodes) - 1; i >= 0; i-- {
		if nodes[i].GetOpType() == "DequantizeLinear" && len(nodes[i].GetInput()) >= 2 {
			if tp := s.e.Initializer(nodes[i].GetInput()[0]); tp != nil && tp.GetDataType() == graph.ElemInt32 {
				return nodes[i].GetOutput()[0]
			}
		}
	}
	return ""
}

// names2 returns b when it is set, else a.
func names2(a, b string) string {
	if b != "" {
		return b
	}
	return a
}

// weightOnly rewrites a MatMul/Gemm as MatMulNBits (QOperator) or as a MatMul whose
// weight comes from a blocked DequantizeLinear (QDQ, opset 21).
func (s *applyState) weightOnly(t *target, n *onnxpb.NodeProto) (NodeReport, error) {
	o, e := &s.q.opts, s.e
	r, err := s.q.weightOnlyBlocks(t)
	if err != nil {
		return NodeReport{}, err
	}
	b := r.b
	nb := b.blocks()
	nr := NodeReport{Error: r.err, Alpha: r.alpha, Before: int64(4 * t.n * t.k)}
	bias := t.c
	if f := s.foldInto[t.label]; f != nil {
		// A consumer's AWQ scales: divide this node's output channels.
		fb := *b
		fb.scales = slices.Clone(b.scales)
		for row := range t.n {
			for blk := range nb {
				fb.scales[row*nb+blk] *= float32(f[row])
			}
		}
		b = &fb
		if bias != nil {
			bias = slices.Clone(bias)
			for row := range bias {
				bias[row] *= float32(f[row])
			}
		}
	}
	x := t.x
	var pre []*onnxpb.NodeProto
	if p, ok := s.folded[t.label]; ok {
		nr.Note = "AWQ scales folded into " + p
	} else if r.s != nil { // AWQ: divide the input by s
		inv := make([]float32, t.k)
		for i, v := range r.s {
			inv[i] = float32(1 / v)
		}
		si := e.Float(t.w+"_awq_inverse_scale", []int64{int64(t.k)}, inv)
		xs := e.Names.Fresh(t.x + "_awq_scaled")
		pre = append(pre, e.NewNode("Mul", n.GetName()+"_awq", []string{t.x, si}, []string{xs}))
		x = xs
		nr.Note = "AWQ scales in an inserted Mul"
	}
	out := n.GetOutput()[0]
	dst := out
	if t.c != nil {
		dst = e.Names.Fresh(out + "_unbiased")
	}
	var nodes []*onnxpb.NodeProto
	if o.Format == FormatQOperator {
		bq, zp := b.packNBits()
		blob := b.g * b.bits / 8
		bName := e.Raw(t.w+"_q"+fmt.Sprint(b.bits), graph.ElemUint8, []int64{int64(t.n), int64(nb), int64(blob)}, bq)
		sName := e.Float(t.w+"_scales", []int64{int64(t.n * nb)}, b.scales)
		in := []string{x, bName, sName}
		nr.After = int64(len(bq) + 4*len(b.scales))
		if !o.WeightOnlySymmetric {
			in = append(in, e.Raw(t.w+"_zero_points", graph.ElemUint8, []int64{int64(len(zp))}, zp))
			nr.After += int64(len(zp))
		}
		mm := e.NewNode("MatMulNBits", n.GetName()+"_MatMulNBits", in, []string{dst},
			graph.IntAttr("K", int64(t.k)), graph.IntAttr("N", int64(t.n)), graph.IntAttr("bits", int64(b.bits)),
			graph.IntAttr("block_size", int64(b.g)), graph.IntAttr("accuracy_level", 0))
		graph.SetDomain(mm, "com.microsoft")
		nodes = append(nodes, mm)
		nr.Action = fmt.Sprintf("MatMulNBits %d-bit g%d %s", b.bits, b.g, o.Algo)
	} else {
		// W [K, N] codes with blocks along axis 0: parameters [blocks, N].
		q := make([]int32, t.k*t.n)
		for r := range t.n {
			for i := range t.k {
				q[i*t.n+r] = int32(b.q[r*t.k+i])
			}
		}
		sc := make([]float32, nb*t.n)
		zs := make([]int32, nb*t.n)
		for r := range t.n {
			for blk := range nb {
				sc[blk*t.n+r] = b.scales[r*nb+blk]
				zs[blk*t.n+r] = int32(b.zps[r*nb+blk])
			}
		}
		wq := int8Init(e, t.w+"_quantized", []int64{int64(t.k), int64(t.n)}, q, false)
		sN := e.Float(t.w+"_scale", []int64{int64(nb), int64(t.n)}, sc)
		zN := int8Init(e, t.w+"_zero_point", []int64{int64(nb), int64(t.n)}, zs, false)
		wdq := e.Names.Fresh(t.w + "_dequantized")
		dq := e.NewNode("DequantizeLinear", t.w+"_DequantizeLinear", []string{wq, sN, zN}, []string{wdq},
			graph.IntAttr("axis", 0), graph.IntAttr("block_size", int64(b.g)))
		nodes = append(nodes, dq, e.NewNode("MatMul", n.GetName(), []string{x, wdq}, []string{dst}))
		nr.After = int64(len(q) + 5*len(sc))
		nr.Action = fmt.Sprintf("blocked DequantizeLinear %d-bit (uint8 storage) g%d %s", b.bits, b.g, o.Algo)
	}
	if bias != nil {
		bn := e.Float(out+"_bias", []int64{int64(t.n)}, bias)
		nodes = append(nodes, e.NewNode("Add", n.GetName()+"_bias", []string{dst, bn}, []string{out}))
	}
	e.Replace(n, append(pre, nodes...)...)
	return nr, nil
}

// weightOnlyBlocks quantizes t's weight with the configured algorithm (cached).
func (q *Quantizer) weightOnlyBlocks(t *target) (*woResult, error) {
	if r, ok := q.cache[t.label]; ok {
		return r, nil
	}
	o := &q.opts
	if o.Format == FormatQDQ && o.Bits != 8 && o.Bits != 4 {
		return nil, fmt.Errorf("bits %d: %w", o.Bits, refit.ErrUnsupported)
	}
	w := float64s(t.wNK)
	r := &woResult{}
	var err error
	switch o.Algo {
	case RTN:
		r.b = rtn(o.Threads, w, t.n, t.k, o.GroupSize, o.Bits, o.WeightOnlySymmetric)
	case GPTQ:
		st := q.grams[t.x]
		q.layerStarted("GPTQ", t)
		if r.b, err = gptq(w, t.n, t.k, st.gram, st.rows, o); err != nil {
			return nil, fmt.Errorf("GPTQ: %w", err)
		}
		q.layerDone()
	case AWQ:
		q.layerStarted("AWQ", t)
		r.b, r.s, r.alpha = awq(w, t.n, t.k, q.grams[t.x], o)
		if r.alpha == 0 {
			r.s = nil // plain RTN won: no scaling needed
		}
		q.layerDone()
	}
	eff := r.b.dequant()
	if r.s != nil {
		for row := range t.n {
			for i := range t.k {
				eff[row*t.k+i] /= r.s[i]
			}
		}
	}
	r.err = relErr(eff, w)
	q.cache[t.label] = r
	return r, nil
}

// layerStarted reports the search of t starting, as a line unless a bar counts layers.
func (q *Quantizer) layerStarted(algo string, t *target) {
	if q.opts.LayerProgress == nil {
		q.opts.Progress(fmt.Sprintf("%s %s [%d x %d]", algo, t.label, t.n, t.k))
	}
}

func (q *Quantizer) layerDone() {
	q.searched++
	if q.opts.LayerProgress != nil {
		q.opts.LayerProgress(q.searched, len(q.targets))
	}
}

// scoped keys a value name by the current scope: a value read in two graphs gets a
// quantizer in each.
func (s *applyState) scoped(name string) string {
	if s.sc == 0 {
		return name
	}
	return fmt.Sprintf("%d\x00%s", s.sc, name)
}

// constant is the float32 initializer name as the current scope reads it.
func (s *applyState) constant(name string) *runtime.Value { return constantIn(s.scopes, s.sc, name) }

func in0(in []string) string {
	if len(in) == 0 {
		return ""
	}
	return in[0]
}

// qdqNode makes an unnamed quantize or dequantize node: nothing refers to these by
// name, and on graphs with long value names (Paddle2ONNX) a name per node is a few
// percent of a quantized file.
func qdqNode(op string, inputs, outputs []string) *onnxpb.NodeProto {
	return graph.NewNode(op, "", inputs, outputs)
}
