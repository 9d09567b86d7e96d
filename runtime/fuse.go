package runtime

import (
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// fusedDomain holds the operators the float fusions put in place of ONNX subgraphs
// inside a session. A model may name them too; their kernels check their inputs as
// any other kernel does.
const fusedDomain = "refit.fused"

func init() {
	Register(Op{Domain: fusedDomain, Type: "MatMulBias", Since: 1, Kernel: matmulBiasKernel, ViaFloat32: true})
	Register(Op{Domain: fusedDomain, Type: "Attention", Since: 1, Kernel: attentionKernel, ViaFloat32: true})
	Register(Op{Domain: fusedDomain, Type: "AddLayerNormalization", Since: 1, Kernel: addLayerNormKernel, ViaFloat32: true})
}

// fuseFloat rewrites float subgraphs of g's top level into fused operators and
// reports whether it changed anything; the caller recompiles g. Every value a
// fusion removes has exactly one reader and is not a graph output. In float32 the
// fused operators compute what the nodes they replace compute, operation for
// operation; half-precision inputs run in float32 as those nodes do, without the
// rounding to half between them.
//
//   - MatMul(A, W) -> Add(bias): MatMulBias(A, W, bias), the bias rows taking the
//     place of C in the product's C = A*W + C, where W is a float32 matrix
//     initializer and bias a float32 vector initializer of its columns.
//   - torch's MultiheadAttention core, from the [L, H, D] query, key and value to the
//     [L, H, D] result: Transpose(perm 1,0,2) -> Div or Mul by a scalar initializer
//     for Q, Transpose(perm 1,2,0) for K, MatMul -> Softmax(last axis) -> MatMul with
//     Transpose(perm 1,0,2) of V, Transpose(perm 1,0,2) of the result: Attention.
//   - Add(X, Y) -> LayerNormalization: AddLayerNormalization(X, Y, scale, bias), a
//     residual connection and its norm in one pass over each row.
func fuseFloat(g *Graph) bool {
	producer := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	// single reports whether value name has one reader, is no graph output and comes
	// from a default-domain node of type op with one output.
	single := func(name, op string) *Node {
		p := producer[name]
		if p == nil || p.OpType != op || !isONNXDomain(p.Domain) || len(p.Outputs) != 1 || p.relu ||
			g.plan.uses[name] != 1 || g.plan.pinned[name] {
			return nil
		}
		return p
	}
	replaced := map[*Node]*Node{} // old node -> its replacement (nil: removed)
	for _, add := range g.Nodes {
		if add.OpType != "Add" || !isONNXDomain(add.Domain) || len(add.Inputs) != 2 || len(add.Outputs) != 1 || add.relu {
			continue
		}
		for side := 0; side < 2; side++ {
			mm := single(add.Inputs[side], "MatMul")
			if mm == nil || len(mm.Inputs) != 2 || replaced[mm] != nil {
				continue
			}
			w, bias := g.Initializers[mm.Inputs[1]], g.Initializers[add.Inputs[1-side]]
			if w == nil || bias == nil || w.DType != tensor.F32 || bias.DType != tensor.F32 ||
				len(w.Shape) != 2 || len(bias.Shape) != 1 || bias.Shape[0] != w.Shape[1] {
				continue
			}
			replaced[mm] = &Node{Name: mm.Name, OpType: "MatMulBias", Domain: fusedDomain,
				Inputs: []string{mm.Inputs[0], mm.Inputs[1], add.Inputs[1-side]}, Outputs: add.Outputs, Attrs: map[string]*Attr{}}
			replaced[add] = nil
			break
		}
	}
	consumer := map[string]*Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			consumer[in] = n // meaningful only where uses is 1
		}
	}
	transpose := func(name string, perm ...int64) *Node {
		t := single(name, "Transpose")
		if t == nil || len(t.Inputs) != 1 {
			return nil
		}
		if p, err := t.Ints("perm", nil); err != nil || !slices.Equal(p, perm) {
			return nil
		}
		return t
	}
	for _, mm2 := range g.Nodes {
		if mm2.OpType != "MatMul" || !isONNXDomain(mm2.Domain) || len(mm2.Inputs) != 2 || len(mm2.Outputs) != 1 || replaced[mm2] != nil {
			continue
		}
		o := mm2.Outputs[0]
		ot := consumer[o]
		if ot == nil || g.plan.uses[o] != 1 || g.plan.pinned[o] || ot.OpType != "Transpose" || !isONNXDomain(ot.Domain) || len(ot.Outputs) != 1 {
			continue
		}
		if p, err := ot.Ints("perm", nil); err != nil || !slices.Equal(p, []int64{1, 0, 2}) {
			continue
		}
		sm, vt := single(mm2.Inputs[0], "Softmax"), transpose(mm2.Inputs[1], 1, 0, 2)
		if sm == nil || vt == nil || len(sm.Inputs) != 1 || !lastAxisSoftmax(sm) {
			continue
		}
		mm1 := single(sm.Inputs[0], "MatMul")
		if mm1 == nil || len(mm1.Inputs) != 2 || replaced[mm1] != nil {
			continue
		}
		kt := transpose(mm1.Inputs[1], 1, 2, 0)
		qs := single(mm1.Inputs[0], "Div")
		if qs == nil {
			qs = single(mm1.Inputs[0], "Mul")
		}
		if kt == nil || qs == nil || len(qs.Inputs) != 2 {
			continue
		}
		sv := g.Initializers[qs.Inputs[1]]
		qt := transpose(qs.Inputs[0], 1, 0, 2)
		if qt == nil || sv == nil || sv.DType != tensor.F32 || sv.Len() != 1 || len(sv.Shape) > 3 {
			continue
		}
		replaced[mm2] = &Node{Name: mm2.Name, OpType: "Attention", Domain: fusedDomain,
			Inputs: []string{qt.Inputs[0], kt.Inputs[0], vt.Inputs[0], qs.Inputs[1]}, Outputs: ot.Outputs,
			Attrs: map[string]*Attr{"scale_op": {Name: "scale_op", Kind: AttrString, String: qs.OpType}}}
		for _, n := range []*Node{ot, sm, vt, mm1, kt, qs, qt} {
			replaced[n] = nil
		}
	}
	for _, ln := range g.Nodes {
		if ln.OpType != "LayerNormalization" || !isONNXDomain(ln.Domain) || len(ln.Inputs) < 2 || len(ln.Inputs) > 3 || len(ln.Outputs) != 1 {
			continue
		}
		add := single(ln.Inputs[0], "Add")
		if _, done := replaced[add]; add == nil || len(add.Inputs) != 2 || done {
			continue
		}
		replaced[ln] = &Node{Name: ln.Name, OpType: "AddLayerNormalization", Domain: fusedDomain,
			Inputs: append([]string{add.Inputs[0], add.Inputs[1]}, ln.Inputs[1:]...), Outputs: ln.Outputs, Attrs: ln.Attrs}
		replaced[add] = nil
	}
	if len(replaced) == 0 {
		return false
	}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		r, ok := replaced[n]
		switch {
		case !ok:
			kept = append(kept, n)
		case r != nil:
			kept = append(kept, r)
		}
	}
	g.Nodes = kept
	return true
}

// fuseActivations folds each Relu that is the only consumer of a Conv's, Add's,
// Gemm's, MatMulBias's or DequantizeLinear's output into that node (Node.relu), so the activation runs in its output pass
// instead of a separate pass over memory. It rewrites top-level nodes only, and
// recompiles g when anything changed. The fused Conv takes over the Relu's output
// name; the intermediate value disappears from the graph.
func (s *Session) fuseActivations(g *Graph) error {
	if g.plan == nil {
		return nil
	}
	if fuseFloat(g) {
		s.opsets[fusedDomain] = 1
		if err := s.compile(g, nil); err != nil {
			return err
		}
	}
	producers := map[string]*Node{}
	for _, n := range g.Nodes {
		if (n.OpType == "Conv" || n.OpType == "Add" || n.OpType == "DequantizeLinear") && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && !n.relu ||
			n.OpType == "Gemm" && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && !n.relu ||
			n.OpType == "MatMulBias" && n.Domain == fusedDomain {
			producers[n.Outputs[0]] = n
		}
	}
	removed := map[*Node]bool{}
	for _, r := range g.Nodes {
		if r.OpType != "Relu" || !isONNXDomain(r.Domain) || len(r.Inputs) != 1 || len(r.Outputs) != 1 || r.Outputs[0] == "" {
			continue
		}
		name := r.Inputs[0]
		cv := producers[name]
		if cv == nil || g.plan.uses[name] != 1 || g.plan.pinned[name] {
			continue
		}
		cv.relu = true
		cv.Outputs = []string{r.Outputs[0]}
		delete(producers, name)
		removed[r] = true
	}
	if len(removed) > 0 {
		kept := g.Nodes[:0:0]
		for _, n := range g.Nodes {
			if !removed[n] {
				kept = append(kept, n)
			}
		}
		g.Nodes = kept
		if err := s.compile(g, nil); err != nil {
			return err
		}
	}
	if fuseConvMaxPool(g) { // conv_batch.go
		s.opsets[fusedDomain] = 1
		return s.compile(g, nil)
	}
	return nil
}

func isONNXDomain(d string) bool { return d == "" || d == "ai.onnx" }

// reluInPlace sets negative elements of a numeric slice to 0 (for Add with a fused
// Relu). Unsigned and other types are left as they are.
func reluInPlace(threads int, data any) {
	switch d := data.(type) {
	case []float32:
		parallel.For(threads, len(d), 1<<15, func(lo, hi int) { biasActivation(d[lo:hi], 0, true) })
	case []float64:
		reluSigned(d)
	case []int8:
		reluSigned(d)
	case []int16:
		reluSigned(d)
	case []int32:
		reluSigned(d)
	case []int64:
		reluSigned(d)
	}
}

func reluSigned[T float64 | int8 | int16 | int32 | int64](s []T) {
	for i, v := range s {
		if v < 0 {
			s[i] = 0
		}
	}
}

// lastAxisSoftmax reports whether Softmax node n normalizes over the last axis of a
// 3-D input: axis -1 or 2 (before opset 13, which flattens from axis, the same rows).
func lastAxisSoftmax(n *Node) bool {
	def := int64(-1)
	if n.opset < 13 {
		def = 1
	}
	axis, err := n.Int("axis", def)
	return err == nil && (axis == -1 || axis == 2)
}
