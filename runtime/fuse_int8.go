package runtime

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/internal/qgemm"
	"github.com/refit-ml/refit/tensor"
)

// Dynamic quantization (ONNX Runtime's quantize_dynamic, `refit quantize --method
// dynamic`) writes each MatMul as DynamicQuantizeLinear -> MatMulInteger -> Cast to
// float -> Mul by the product of the two scalar scales. fuseIntegerScale turns the
// last three into one internal node, MatMulIntegerScaled, that writes
// float32(acc) * scale straight into its float output: the same float32 operations
// in the same order, without the int32 and unscaled float tensors between them.

func init() {
	Register(Op{Domain: emulateDomain, Type: "MatMulIntegerScaled", Since: 1, Kernel: matmulIntegerScaledKernel})
}

// fuseIntegerScale rewrites the top-level MatMulInteger -> Cast(float) -> Mul(scalar)
// chains of g and reports whether it changed anything. The scale must be a scalar
// initializer or a Mul of two values that are each a scalar initializer or a
// DynamicQuantizeLinear's scale output; the intermediate values must have no other
// reader and not be graph outputs.
func fuseIntegerScale(g *Graph) bool {
	producer := map[string]*Node{}
	readers := map[string]int{}
	for _, o := range g.Outputs {
		readers[o.Name] += 2 // never fused away
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
		for _, in := range n.Inputs {
			readers[in]++
		}
		for _, a := range n.Attrs {
			if a.Kind == AttrGraph || a.Kind == AttrGraphs {
				return false // subgraphs may read values by name
			}
		}
	}
	scalarSource := func(name string) bool {
		if v := g.Initializers[name]; v != nil {
			return v.Len() == 1 && v.DType == tensor.F32
		}
		p := producer[name]
		return p != nil && p.OpType == "DynamicQuantizeLinear" && isONNXDomain(p.Domain) && len(p.Outputs) > 1 && p.Outputs[1] == name
	}
	scalar := func(name string) bool {
		if scalarSource(name) {
			return true
		}
		p := producer[name]
		return p != nil && p.OpType == "Mul" && isONNXDomain(p.Domain) && len(p.Inputs) == 2 &&
			scalarSource(p.Inputs[0]) && scalarSource(p.Inputs[1])
	}
	removed := map[*Node]bool{}
	for i, mu := range g.Nodes {
		if mu.OpType != "Mul" || !isONNXDomain(mu.Domain) || len(mu.Inputs) != 2 || len(mu.Outputs) != 1 {
			continue
		}
		for side := 0; side < 2; side++ {
			f, s := mu.Inputs[side], mu.Inputs[1-side]
			ca := producer[f]
			if ca == nil || ca.OpType != "Cast" || !isONNXDomain(ca.Domain) || len(ca.Inputs) != 1 || readers[f] != 1 || !scalar(s) {
				continue
			}
			if to, err := ca.Int("to", 0); err != nil || to != 1 { // FLOAT
				continue
			}
			mi := producer[ca.Inputs[0]]
			if mi == nil || mi.OpType != "MatMulInteger" || !isONNXDomain(mi.Domain) || readers[ca.Inputs[0]] != 1 || removed[mi] {
				continue
			}
			in := slices.Clone(mi.Inputs)
			for len(in) < 4 {
				in = append(in, "")
			}
			g.Nodes[i] = &Node{Name: mi.Name, OpType: "MatMulIntegerScaled", Domain: emulateDomain,
				Inputs: append(in, s), Outputs: slices.Clone(mu.Outputs), Attrs: map[string]*Attr{}}
			removed[mi], removed[ca] = true, true
			break
		}
	}
	if len(removed) == 0 {
		return false
	}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if !removed[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	return true
}

// matmulIntegerScaledKernel is MatMulInteger(a, b, za, zb) cast to float32 and
// multiplied by the scalar input 4.
func matmulIntegerScaledKernel(c *Call) ([]*Value, error) {
	a, b, sv := c.Input(0), c.Input(1), c.Input(4)
	if !is8bit(a) || !is8bit(b) {
		return nil, fmt.Errorf("inputs A and B must be int8 or uint8, have %v and %v", a, b)
	}
	if sv == nil || sv.DType != tensor.F32 || sv.Len() != 1 {
		return nil, fmt.Errorf("scale %v must be a float scalar", sv)
	}
	mm, err := newIntMatmul(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	za, err := zeroPoints(c.Input(2), a, mm.m, "A")
	if err != nil {
		return nil, err
	}
	zb, err := zeroPoints(c.Input(3), b, mm.n, "B")
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.F32, append(slices.Clone(mm.batch), int64(mm.m), int64(mm.n)))
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	// The int32 sums go into the output's memory and are converted in place.
	var acc []int32
	if len(y) > 0 {
		acc = unsafe.Slice((*int32)(unsafe.Pointer(&y[0])), len(y))
	}
	mm.product(c, 1, acc, a, b, za, zb)
	s := sv.Data.([]float32)[0]
	parallel.For(c.Threads(), len(y), 16384, func(lo, hi int) {
		qgemm.Scale(y[lo:hi], acc[lo:hi], 0, s, 0, false)
	})
	shape := mm.final
	return []*Value{View(out, shape)}, nil
}
