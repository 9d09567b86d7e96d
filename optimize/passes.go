package optimize

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// nondeterministic ops are never folded or merged.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomNormalLike": true, "RandomUniform": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// foldConstants evaluates nodes whose inputs are all constants and stores their
// outputs as initializers. Constant nodes become initializers.
func foldConstants(g *state) (int, error) {
	maxBytes := g.opts.MaxFoldBytes
	if maxBytes == 0 {
		maxBytes = 64 << 20
	}
	maxTotal := g.opts.MaxFoldTotal
	if maxTotal == 0 {
		maxTotal = max(maxBytes, refit.DefaultMaxMemory()/4)
	}
	changes := 0
	written := writers(g)
	isOutput := outputNames(g.G) // the pass never changes the graph outputs
	for _, n := range g.G.Node {
		if n == nil || !graph.IsDefaultDomain(n) || nondeterministic[n.GetOpType()] || hasSubgraph(n) {
			continue
		}
		if n.GetOpType() == "DequantizeLinear" {
			// A QDQ model's dequantized weights stay 8-bit: folding them would make
			// it a float model four times the size, and the runtimes (ONNX
			// Runtime's and Refit's) fuse DequantizeLinear -> Conv/MatMul into
			// integer kernels, as ONNX Runtime's constant folding also leaves them.
			continue
		}
		if len(n.Output) == 0 {
			continue
		}
		if g.folded >= maxTotal {
			break // the rest is left to run time, which charges its memory budget
		}
		inputs := make([]*tensor.Tensor, len(n.Input))
		ok := true
		for i, in := range n.Input {
			if in == "" {
				continue
			}
			t, err := g.Constant(in)
			if err != nil || t == nil {
				ok = false
				break
			}
			inputs[i] = t
		}
		if !ok {
			continue
		}
		outs, err := g.opts.Fold(n, inputs, g.opset)
		if err != nil || len(outs) < countNonEmpty(n.Output) {
			continue // leave what the evaluator cannot do to run time
		}
		var size int64
		for _, t := range outs {
			if t != nil {
				size += t.Size()
			}
		}
		if size > maxBytes || size > maxTotal-g.folded {
			continue
		}
		added := true
		for i, o := range n.Output {
			if o == "" {
				continue
			}
			if isOutput[o] {
				added = false // a graph output must stay a computed value for clarity; keep the node
				break
			}
			if g.IsInput(o) || g.Initializer(o) != nil || written[o] > 1 {
				added = false // an invalid graph (a value defined twice) stays invalid
				break
			}
			if outs[i] == nil {
				added = false
				break
			}
		}
		if !added {
			continue
		}
		for i, o := range n.Output {
			if o == "" {
				continue
			}
			if err := g.AddTensor(o, outs[i]); err != nil {
				return changes, fmt.Errorf("node %q: %w", n.GetName(), err)
			}
		}
		g.Remove(n)
		g.folded += size
		changes++
	}
	return changes, nil
}

// liftConstants turns Constant nodes into initializers named after their outputs
// (see onnx.ConstantValue) and bypasses Identity nodes that copy an initializer, so
// that transforms looking for weights among the initializers find them. Graph
// outputs keep their names: a Constant or Identity producing one stays.
func liftConstants(g *state) (int, error) {
	maxBytes := g.opts.MaxFoldBytes
	if maxBytes == 0 {
		maxBytes = 64 << 20
	}
	changes := 0
	written := writers(g)
	isOutput := outputNames(g.G) // the pass never changes the graph outputs
	for _, n := range g.G.Node {
		if n == nil {
			continue
		}
		switch {
		case onnx.IsConstantNode(n):
			out := n.Output[0]
			if isOutput[out] || g.IsInput(out) || g.Initializer(out) != nil || written[out] > 1 || len(n.Input) > 0 {
				continue
			}
			tp, err := onnx.ConstantValue(n, maxBytes)
			if err != nil {
				continue // strings, oversized sparse values, malformed: left to run time
			}
			g.AddInitializer(tp)
			g.Remove(n)
			changes++
		case n.GetOpType() == "Identity" && graph.IsDefaultDomain(n) && len(n.Input) == 1 && len(n.Output) == 1:
			in, out := n.Input[0], n.Output[0]
			if in == "" || out == "" || isOutput[out] || g.ConstantInitializer(in) == nil {
				continue
			}
			if g.Bypass(n, in, out) {
				changes++
			}
		}
	}
	for _, n := range g.G.Node {
		if n != nil {
			for _, sg := range graph.Subgraphs(n) {
				changes += liftInSubgraph(sg, maxBytes)
			}
		}
	}
	return changes, nil
}

// outputNames is the set of g's output names: Editor.IsOutput scans the list, which
// per node of a graph with 20,000 outputs made these passes quadratic.
func outputNames(g *onnxpb.GraphProto) map[string]bool {
	set := make(map[string]bool, len(g.Output))
	for _, o := range g.Output {
		set[o.GetName()] = true
	}
	return set
}

// liftInSubgraph lifts sg's Constant nodes (and those of its own subgraphs) into
// sg's initializers, under the rules of liftConstants: If branches and Loop bodies
// (silero VAD keeps every weight there) then hold their weights where quantize and
// prune look for them. ONNX lets a subgraph hold initializers; outer nodes cannot see
// them, and nothing outside read the Constant's output anyway.
func liftInSubgraph(sg *onnxpb.GraphProto, maxBytes int64) int {
	e := graph.NewEditor(sg)
	written := map[string]int{}
	for _, n := range sg.Node {
		for _, o := range n.GetOutput() {
			written[o]++
		}
	}
	changes := 0
	for _, n := range sg.Node {
		if !onnx.IsConstantNode(n) {
			continue
		}
		out := n.Output[0]
		if e.IsOutput(out) || e.IsInput(out) || e.Initializer(out) != nil || written[out] > 1 || len(n.Input) > 0 {
			continue
		}
		tp, err := onnx.ConstantValue(n, maxBytes)
		if err != nil {
			continue
		}
		e.AddInitializer(tp)
		e.Remove(n)
		changes++
	}
	e.Compact()
	for _, n := range sg.Node {
		for _, inner := range graph.Subgraphs(n) {
			changes += liftInSubgraph(inner, maxBytes)
		}
	}
	return changes
}

// writers counts the nodes writing each value: a value written twice makes the graph
// invalid, and turning one writer into an initializer must not hide that.
func writers(g *state) map[string]int {
	w := map[string]int{}
	for _, n := range g.G.Node {
		if n == nil {
			continue
		}
		for _, o := range n.Output {
			if o != "" {
				w[o]++
			}
		}
	}
	return w
}

// feeds reports whether p is a node with an input whose first output is name: the
// shape every fusion below rewrites.
func feeds(p *onnxpb.NodeProto, name string) bool {
	return p != nil && len(p.Input) > 0 && len(p.Output) > 0 && p.Output[0] == name
}

func countNonEmpty(names []string) int {
	c := 0
	for _, n := range names {
		if n != "" {
			c++
		}
	}
	return c
}

// eliminateIdentity removes nodes that pass their input through unchanged.
func eliminateIdentity(g *state) (int, error) {
	changes := 0
	for _, n := range g.G.Node {
		if n == nil || !graph.IsDefaultDomain(n) || len(n.Input) == 0 || len(n.Output) == 0 {
			continue
		}
		in, out := n.Input[0], n.Output[0]
		if in == "" || out == "" {
			continue
		}
		switch n.GetOpType() {
		case "Identity":
		case "Dropout":
			// Inference Dropout is identity when its mask is unused and training_mode is
			// absent or constant false.
			uses := g.Uses()
			if len(n.Output) > 1 && n.Output[1] != "" && uses[n.Output[1]] > 0 {
				continue
			}
			if len(n.Input) > 2 && n.Input[2] != "" {
				t, err := g.Constant(n.Input[2])
				if err != nil || t == nil {
					continue
				}
				b, err := t.Bytes()
				if err != nil || len(b) != 1 || b[0] != 0 {
					continue
				}
			}
		case "Transpose":
			p := graph.Attr(n, "perm")
			if p == nil || !isIdentityPerm(p.Ints) {
				continue
			}
		default:
			continue
		}
		if g.Bypass(n, in, out) {
			changes++
		}
	}
	return changes, nil
}

func isIdentityPerm(p []int64) bool {
	for i, v := range p {
		if v != int64(i) {
			return false
		}
	}
	return true
}

// fuseTransposes merges Transpose(Transpose(x, p1), p2) into Transpose(x, p1∘p2).
func fuseTransposes(g *state) (int, error) {
	changes := 0
	for _, n := range g.G.Node {
		if n == nil || n.GetOpType() != "Transpose" || !graph.IsDefaultDomain(n) || len(n.Input) == 0 {
			continue
		}
		prod := g.Producers()[n.Input[0]]
		if !feeds(prod, n.Input[0]) || prod.GetOpType() != "Transpose" || !graph.IsDefaultDomain(prod) {
			continue
		}
		p1, p2 := graph.Attr(prod, "perm"), graph.Attr(n, "perm")
		if p1 == nil || p2 == nil || len(p1.Ints) != len(p2.Ints) {
			continue
		}
		if g.Uses()[prod.Output[0]] != 1 || g.IsOutput(prod.Output[0]) {
			continue
		}
		perm := make([]int64, len(p2.Ints))
		for i, v := range p2.Ints {
			if v < 0 || int(v) >= len(p1.Ints) {
				return changes, fmt.Errorf("node %q: bad perm %v", n.GetName(), p2.Ints)
			}
			perm[i] = p1.Ints[v]
		}
		graph.SetInput(n, 0, prod.Input[0])
		graph.SetInts(n, "perm", perm)
		g.Remove(prod)
		changes++
	}
	return changes, nil
}

// fuseReshapes merges Reshape/Flatten followed by Reshape into the last Reshape,
// when the last shape does not copy dimensions from its input (no 0 entries).
func fuseReshapes(g *state) (int, error) {
	changes := 0
	for _, n := range g.G.Node {
		if n == nil || n.GetOpType() != "Reshape" || !graph.IsDefaultDomain(n) || len(n.Input) < 2 {
			continue
		}
		prod := g.Producers()[n.Input[0]]
		if !feeds(prod, n.Input[0]) || !graph.IsDefaultDomain(prod) || (prod.GetOpType() != "Reshape" && prod.GetOpType() != "Flatten") {
			continue
		}
		if g.Uses()[prod.Output[0]] != 1 || g.IsOutput(prod.Output[0]) {
			continue
		}
		shape, err := g.Constant(n.Input[1])
		if err != nil || shape == nil || shape.DType != tensor.I64 {
			continue
		}
		vals, err := shape.Float32s()
		if err != nil {
			continue
		}
		zero := false
		for _, v := range vals {
			if v == 0 {
				zero = true
			}
		}
		if zero && graph.Int(n, "allowzero", 0) == 0 {
			continue
		}
		graph.SetInput(n, 0, prod.Input[0])
		g.Remove(prod)
		changes++
	}
	return changes, nil
}

// foldBatchNorm folds an inference BatchNormalization into the Conv or Gemm feeding it.
func foldBatchNorm(g *state) (int, error) {
	changes := 0
	for _, bn := range g.G.Node {
		if bn == nil || bn.GetOpType() != "BatchNormalization" || !graph.IsDefaultDomain(bn) || len(bn.Input) != 5 {
			continue
		}
		if graph.Int(bn, "training_mode", 0) != 0 || countNonEmpty(bn.Output) != 1 || bn.Output[0] == "" {
			continue
		}
		prod := g.Producers()[bn.Input[0]]
		if !feeds(prod, bn.Input[0]) || !graph.IsDefaultDomain(prod) || g.Uses()[bn.Input[0]] != 1 || g.IsOutput(bn.Input[0]) {
			continue
		}
		if prod.GetOpType() != "Conv" && prod.GetOpType() != "Gemm" {
			continue
		}
		ok, err := g.foldInto(prod, bn)
		if err != nil {
			return changes, err
		}
		if ok {
			changes++
		}
	}
	return changes, nil
}

func (g *state) foldInto(prod, bn *onnxpb.NodeProto) (bool, error) {
	var params [4][]float32
	for i := range params {
		v, _, _, err := g.floats(bn.Input[1+i])
		if err != nil || v == nil {
			return false, err
		}
		params[i] = v
	}
	scale, bias, mean, variance := params[0], params[1], params[2], params[3]
	c := len(scale)
	if len(bias) != c || len(mean) != c || len(variance) != c {
		return false, nil
	}
	eps := float64(graph.Float(bn, "epsilon", 1e-5))
	f := make([]float32, c)
	for i := range f {
		f[i] = float32(float64(scale[i]) / math.Sqrt(float64(variance[i])+eps))
	}
	if len(prod.Input) < 2 {
		return false, nil
	}
	w, ws, wt, err := g.floats(prod.Input[1])
	if err != nil || w == nil {
		return false, err
	}
	var b []float32
	var bt = wt
	beta := float32(1)
	if prod.GetOpType() == "Gemm" {
		beta = graph.Float(prod, "beta", 1)
	}
	if len(prod.Input) > 2 && prod.Input[2] != "" {
		var bs tensor.Shape
		b, bs, bt, err = g.floats(prod.Input[2])
		if err != nil || b == nil {
			return false, err
		}
		if len(b) != c {
			if len(b) != 1 {
				return false, nil
			}
			_ = bs
			b = repeat(b[0], c)
		}
	} else {
		b = make([]float32, c)
	}
	switch prod.GetOpType() {
	case "Conv":
		if len(ws) < 3 || int(ws[0]) != c {
			return false, nil
		}
		per := len(w) / c
		for oc := 0; oc < c; oc++ {
			for k := 0; k < per; k++ {
				w[oc*per+k] *= f[oc]
			}
		}
	case "Gemm":
		if len(ws) != 2 {
			return false, nil
		}
		if graph.Int(prod, "transB", 0) != 0 {
			if int(ws[0]) != c {
				return false, nil
			}
			k := int(ws[1])
			for n := 0; n < c; n++ {
				for j := 0; j < k; j++ {
					w[n*k+j] *= f[n]
				}
			}
		} else {
			if int(ws[1]) != c {
				return false, nil
			}
			k := int(ws[0])
			for j := 0; j < k; j++ {
				for n := 0; n < c; n++ {
					w[j*c+n] *= f[n]
				}
			}
		}
	}
	nb := make([]float32, c)
	for i := range nb {
		nb[i] = (beta*b[i]-mean[i])*f[i] + bias[i]
	}
	wName := g.Names.Fresh(prod.Input[1] + "_bn")
	bName := g.Names.Fresh(strings.TrimSuffix(wName, "_bn") + "_bn_bias")
	if err := g.addFloats(wName, ws, wt, w); err != nil {
		return false, err
	}
	if err := g.addFloats(bName, tensor.Shape{int64(c)}, bt, nb); err != nil {
		return false, err
	}
	graph.SetInput(prod, 1, wName)
	graph.SetInput(prod, 2, bName)
	if prod.GetOpType() == "Gemm" {
		graph.SetFloat(prod, "beta", 1)
	}
	out := bn.Output[0]
	g.Remove(bn)
	graph.SetOutput(prod, 0, out)
	return true, nil
}

func repeat(v float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// fuseMatMulAdd turns MatMul(A, B) + C into Gemm(A, B, C) when A is 2-D, B is a 2-D
// constant and C a constant bias of B's column count.
func fuseMatMulAdd(g *state) (int, error) {
	changes := 0
	for _, add := range g.G.Node {
		if add == nil || add.GetOpType() != "Add" || !graph.IsDefaultDomain(add) || len(add.Input) != 2 {
			continue
		}
		for side := 0; side < 2; side++ {
			mm := g.Producers()[add.Input[side]]
			bias := add.Input[1-side]
			if !feeds(mm, add.Input[side]) || len(mm.Input) != 2 || len(add.Output) == 0 || mm.GetOpType() != "MatMul" || !graph.IsDefaultDomain(mm) {
				continue
			}
			if g.Uses()[mm.Output[0]] != 1 || g.IsOutput(mm.Output[0]) {
				continue
			}
			b := g.ConstantInitializer(mm.Input[1])
			c := g.ConstantInitializer(bias)
			if b == nil || c == nil || len(b.Dims) != 2 || g.staticRank(mm.Input[0]) != 2 {
				continue
			}
			if b.GetDataType() != c.GetDataType() {
				continue
			}
			n := b.Dims[1]
			if !(len(c.Dims) == 1 && c.Dims[0] == n) && !(len(c.Dims) == 2 && c.Dims[0] == 1 && c.Dims[1] == n) {
				continue
			}
			graph.SetOpType(mm, "Gemm")
			graph.SetInputs(mm, mm.Input[0], mm.Input[1], bias)
			graph.SetOutput(mm, 0, add.Output[0])
			g.Remove(add)
			changes++
			break
		}
	}
	return changes, nil
}

// eliminateCommonSubexpressions merges nodes with the same operator, inputs and
// attributes, keeping the first.
func eliminateCommonSubexpressions(g *state) (int, error) {
	changes := 0
	seen := map[string]*onnxpb.NodeProto{}
	opts := proto.MarshalOptions{Deterministic: true}
	for _, n := range g.G.Node {
		if n == nil || nondeterministic[n.GetOpType()] || hasSubgraph(n) || len(n.Output) == 0 {
			continue
		}
		var key strings.Builder
		fmt.Fprintf(&key, "%s\x00%s\x00%q\x00%d", n.GetDomain(), n.GetOpType(), n.Input, len(n.Output))
		for _, a := range n.Attribute {
			b, err := opts.Marshal(a)
			if err != nil {
				return changes, err
			}
			key.Write(b)
		}
		k := key.String()
		first, ok := seen[k]
		if !ok {
			seen[k] = n
			continue
		}
		graphOut := false
		for _, o := range n.Output {
			if g.IsOutput(o) {
				graphOut = true
			}
		}
		if graphOut {
			continue
		}
		for i, o := range n.Output {
			if o != "" && first.Output[i] != "" {
				g.ReplaceUses(o, first.Output[i])
			} else if o != "" {
				graphOut = true
			}
		}
		if graphOut {
			continue
		}
		g.Remove(n)
		changes++
	}
	return changes, nil
}

// removeDeadNodes drops nodes none of whose outputs reach a graph output.
func removeDeadNodes(g *state) (int, error) { return g.RemoveDead(), nil }

// removeUnusedInitializers drops initializers nothing reads (and their graph-input
// entries, for models that list initializers as inputs).
func removeUnusedInitializers(g *state) (int, error) { return g.RemoveUnusedInitializers(), nil }

// foldConvAffine folds a Mul by, or an Add of, a per-output-channel constant ([M, 1, 1],
// [1, M, 1, 1] or a scalar) into the Conv whose only reader it is: W[m] *= s[m] and
// B[m] *= s[m], or B[m] += a[m]. Paddle's PP-OCRv4 (MobileOne blocks, learnable
// hardswish affines) writes these after its Convs; ONNX Runtime's basic graph
// optimizations fuse them too (ConvMulFusion, ConvAddFusion). Quantization is better
// off without it: the Conv's output, quantized per tensor before the per-channel
// scale, keeps each channel's precision (PP-OCRv4 det static: cosine 0.986 unfolded,
// 0.956 folded), so quantize's preprocessing skips this pass.
func foldConvAffine(g *state) (int, error) {
	changes := 0
	for _, n := range g.G.Node {
		if n == nil || (n.GetOpType() != "Mul" && n.GetOpType() != "Add") || !graph.IsDefaultDomain(n) || len(n.Input) != 2 || len(n.Output) != 1 {
			continue
		}
		for side := range 2 {
			x, k := n.Input[side], n.Input[1-side]
			conv := g.Producers()[x]
			if !feeds(conv, x) || conv.GetOpType() != "Conv" || !graph.IsDefaultDomain(conv) || len(conv.Input) < 2 || g.Uses()[x] != 1 || g.IsOutput(x) {
				continue
			}
			ok, err := g.foldAffineInto(conv, n, k)
			if err != nil {
				return changes, err
			}
			if ok {
				changes++
				break
			}
		}
	}
	return changes, nil
}

// foldAffineInto folds Mul or Add node n, whose constant operand is k, into conv.
func (g *state) foldAffineInto(conv, n *onnxpb.NodeProto, k string) (bool, error) {
	c, cs, _, err := g.floats(k)
	if err != nil || c == nil {
		return false, err
	}
	w, ws, wt, err := g.floats(conv.Input[1])
	if err != nil || w == nil || len(ws) < 3 {
		return false, err
	}
	m := int(ws[0])
	// The constant must broadcast over the output [N, M, spatial...] along M only.
	r := len(ws)
	if len(cs) > r || (len(c) != 1 && len(c) != m) {
		return false, nil
	}
	for i, d := range cs {
		if axis := r - len(cs) + i; d != 1 && (axis != 1 || int(d) != m) {
			return false, nil
		}
	}
	per := make([]float32, m)
	for i := range per {
		per[i] = c[i%len(c)]
	}
	b := make([]float32, m)
	bt := wt
	if len(conv.Input) > 2 && conv.Input[2] != "" {
		var bv []float32
		bv, _, bt, err = g.floats(conv.Input[2])
		if err != nil || bv == nil || len(bv) != m {
			return false, err
		}
		copy(b, bv)
	}
	if n.GetOpType() == "Mul" {
		inner := len(w) / m
		for oc := range m {
			for j := range inner {
				w[oc*inner+j] *= per[oc]
			}
			b[oc] *= per[oc]
		}
		wName := g.Names.Fresh(conv.Input[1] + "_scaled")
		if err := g.addFloats(wName, ws, wt, w); err != nil {
			return false, err
		}
		graph.SetInput(conv, 1, wName)
	} else {
		for oc := range m {
			b[oc] += per[oc]
		}
	}
	bName := g.Names.Fresh(conv.Input[1] + "_bias")
	if err := g.addFloats(bName, tensor.Shape{int64(m)}, bt, b); err != nil {
		return false, err
	}
	graph.SetInput(conv, 2, bName)
	out := n.Output[0]
	g.Remove(n)
	graph.SetOutput(conv, 0, out)
	return true, nil
}
