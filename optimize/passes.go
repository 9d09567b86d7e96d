package optimize

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// nondeterministic ops are never folded or merged.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomNormalLike": true, "RandomUniform": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// foldConstants evaluates nodes whose inputs are all constants and stores their
// outputs as initializers. Constant nodes become initializers.
func foldConstants(g *graph) (int, error) {
	maxBytes := g.opts.MaxFoldBytes
	if maxBytes == 0 {
		maxBytes = 64 << 20
	}
	changes := 0
	for _, n := range g.g.Node {
		if n == nil || !isDefaultDomain(n) || nondeterministic[n.GetOpType()] || hasSubgraph(n) {
			continue
		}
		if len(n.Output) == 0 {
			continue
		}
		inputs := make([]*tensor.Tensor, len(n.Input))
		ok := true
		for i, in := range n.Input {
			if in == "" {
				continue
			}
			t, err := g.constant(in)
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
		if size > maxBytes {
			continue
		}
		added := true
		for i, o := range n.Output {
			if o == "" {
				continue
			}
			if g.isOutput(o) {
				added = false // a graph output must stay a computed value for clarity; keep the node
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
			if err := g.addInitializer(o, outs[i]); err != nil {
				return changes, fmt.Errorf("node %q: %w", n.GetName(), err)
			}
		}
		g.remove(n)
		changes++
	}
	return changes, nil
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
func eliminateIdentity(g *graph) (int, error) {
	changes := 0
	for _, n := range g.g.Node {
		if n == nil || !isDefaultDomain(n) || len(n.Input) == 0 || len(n.Output) == 0 {
			continue
		}
		in, out := n.Input[0], n.Output[0]
		switch n.GetOpType() {
		case "Identity":
		case "Dropout":
			// Inference Dropout is identity when its mask is unused and training_mode is
			// absent or constant false.
			uses := g.uses()
			if len(n.Output) > 1 && n.Output[1] != "" && uses[n.Output[1]] > 0 {
				continue
			}
			if len(n.Input) > 2 && n.Input[2] != "" {
				t, err := g.constant(n.Input[2])
				if err != nil || t == nil {
					continue
				}
				b, err := t.Bytes()
				if err != nil || len(b) != 1 || b[0] != 0 {
					continue
				}
			}
		case "Transpose":
			p := attr(n, "perm")
			if p == nil || !isIdentityPerm(p.Ints) {
				continue
			}
		default:
			continue
		}
		if g.bypass(n, in, out) {
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
func fuseTransposes(g *graph) (int, error) {
	changes := 0
	for _, n := range g.g.Node {
		if n == nil || n.GetOpType() != "Transpose" || !isDefaultDomain(n) {
			continue
		}
		prod := g.producers()[n.Input[0]]
		if prod == nil || prod.GetOpType() != "Transpose" || !isDefaultDomain(prod) {
			continue
		}
		p1, p2 := attr(prod, "perm"), attr(n, "perm")
		if p1 == nil || p2 == nil || len(p1.Ints) != len(p2.Ints) {
			continue
		}
		if g.uses()[prod.Output[0]] != 1 || g.isOutput(prod.Output[0]) {
			continue
		}
		perm := make([]int64, len(p2.Ints))
		for i, v := range p2.Ints {
			if v < 0 || int(v) >= len(p1.Ints) {
				return changes, fmt.Errorf("node %q: bad perm %v", n.GetName(), p2.Ints)
			}
			perm[i] = p1.Ints[v]
		}
		n.Input[0] = prod.Input[0]
		p2.Ints = perm
		g.remove(prod)
		changes++
	}
	return changes, nil
}

// fuseReshapes merges Reshape/Flatten followed by Reshape into the last Reshape,
// when the last shape does not copy dimensions from its input (no 0 entries).
func fuseReshapes(g *graph) (int, error) {
	changes := 0
	for _, n := range g.g.Node {
		if n == nil || n.GetOpType() != "Reshape" || !isDefaultDomain(n) || len(n.Input) < 2 {
			continue
		}
		prod := g.producers()[n.Input[0]]
		if prod == nil || !isDefaultDomain(prod) || (prod.GetOpType() != "Reshape" && prod.GetOpType() != "Flatten") {
			continue
		}
		if g.uses()[prod.Output[0]] != 1 || g.isOutput(prod.Output[0]) {
			continue
		}
		shape, err := g.constant(n.Input[1])
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
		if zero && attrInt(n, "allowzero", 0) == 0 {
			continue
		}
		n.Input[0] = prod.Input[0]
		g.remove(prod)
		changes++
	}
	return changes, nil
}

// foldBatchNorm folds an inference BatchNormalization into the Conv or Gemm feeding it.
func foldBatchNorm(g *graph) (int, error) {
	changes := 0
	for _, bn := range g.g.Node {
		if bn == nil || bn.GetOpType() != "BatchNormalization" || !isDefaultDomain(bn) || len(bn.Input) != 5 {
			continue
		}
		if attrInt(bn, "training_mode", 0) != 0 || countNonEmpty(bn.Output) != 1 {
			continue
		}
		prod := g.producers()[bn.Input[0]]
		if prod == nil || !isDefaultDomain(prod) || g.uses()[bn.Input[0]] != 1 || g.isOutput(bn.Input[0]) {
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

func (g *graph) foldInto(prod, bn *onnxpb.NodeProto) (bool, error) {
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
	eps := float64(attrFloat(bn, "epsilon", 1e-5))
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
		beta = attrFloat(prod, "beta", 1)
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
		if attrInt(prod, "transB", 0) != 0 {
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
	wName := g.fresh(prod.Input[1] + "_bn")
	bName := g.fresh(strings.TrimSuffix(wName, "_bn") + "_bn_bias")
	if err := g.addFloats(wName, ws, wt, w); err != nil {
		return false, err
	}
	if err := g.addFloats(bName, tensor.Shape{int64(c)}, bt, nb); err != nil {
		return false, err
	}
	prod.Input[1] = wName
	if len(prod.Input) > 2 {
		prod.Input[2] = bName
	} else {
		prod.Input = append(prod.Input, bName)
	}
	if prod.GetOpType() == "Gemm" {
		setFloatAttr(prod, "beta", 1)
	}
	out := bn.Output[0]
	g.remove(bn)
	prod.Output[0] = out
	return true, nil
}

func repeat(v float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func setFloatAttr(n *onnxpb.NodeProto, name string, v float32) {
	if a := attr(n, name); a != nil {
		a.F = &v
		return
	}
	t := onnxpb.AttributeProto_FLOAT
	n.Attribute = append(n.Attribute, &onnxpb.AttributeProto{Name: &name, F: &v, Type: &t})
}

// fuseMatMulAdd turns MatMul(A, B) + C into Gemm(A, B, C) when A is 2-D, B is a 2-D
// constant and C a constant bias of B's column count.
func fuseMatMulAdd(g *graph) (int, error) {
	changes := 0
	for _, add := range g.g.Node {
		if add == nil || add.GetOpType() != "Add" || !isDefaultDomain(add) || len(add.Input) != 2 {
			continue
		}
		for side := 0; side < 2; side++ {
			mm := g.producers()[add.Input[side]]
			bias := add.Input[1-side]
			if mm == nil || mm.GetOpType() != "MatMul" || !isDefaultDomain(mm) {
				continue
			}
			if g.uses()[mm.Output[0]] != 1 || g.isOutput(mm.Output[0]) {
				continue
			}
			b := g.initializer(mm.Input[1])
			c := g.initializer(bias)
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
			gemm := "Gemm"
			mm.OpType = &gemm
			mm.Input = append(mm.Input[:2:2], bias)
			mm.Output[0] = add.Output[0]
			g.remove(add)
			changes++
			break
		}
	}
	return changes, nil
}

// eliminateCommonSubexpressions merges nodes with the same operator, inputs and
// attributes, keeping the first.
func eliminateCommonSubexpressions(g *graph) (int, error) {
	changes := 0
	seen := map[string]*onnxpb.NodeProto{}
	opts := proto.MarshalOptions{Deterministic: true}
	for _, n := range g.g.Node {
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
			if g.isOutput(o) {
				graphOut = true
			}
		}
		if graphOut {
			continue
		}
		for i, o := range n.Output {
			if o != "" && first.Output[i] != "" {
				g.rename(o, first.Output[i])
			} else if o != "" {
				graphOut = true
			}
		}
		if graphOut {
			continue
		}
		g.remove(n)
		changes++
	}
	return changes, nil
}

// removeDeadNodes drops nodes none of whose outputs reach a graph output.
func removeDeadNodes(g *graph) (int, error) {
	prod := g.producers()
	live := map[*onnxpb.NodeProto]bool{}
	var stack []string
	for _, o := range g.g.Output {
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
		stack = append(stack, subgraphReads(n)...)
	}
	changes := 0
	for _, n := range g.g.Node {
		if n != nil && !live[n] {
			g.remove(n)
			changes++
		}
	}
	return changes, nil
}

// removeUnusedInitializers drops initializers nothing reads (and their graph-input
// entries, for models that list initializers as inputs).
func removeUnusedInitializers(g *graph) (int, error) {
	uses := g.uses()
	kept := g.g.Initializer[:0]
	removed := map[string]bool{}
	for _, t := range g.g.Initializer {
		if uses[t.GetName()] > 0 {
			kept = append(kept, t)
		} else {
			removed[t.GetName()] = true
		}
	}
	g.g.Initializer = kept
	if len(removed) > 0 {
		inputs := g.g.Input[:0]
		for _, v := range g.g.Input {
			if !removed[v.GetName()] {
				inputs = append(inputs, v)
			}
		}
		g.g.Input = inputs
	}
	return len(removed), nil
}
