package runtime

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Quantized max pooling. Static quantizers (ONNX Runtime's, Refit's) write a pool
// between two quantized layers as DequantizeLinear [-> Relu] -> MaxPool [-> Flatten]
// -> QuantizeLinear, the QuantizeLinear with the DequantizeLinear's own scale and
// zero point. Then the chain is exact on the 8-bit values: with s > 0, v -> (v - z)*s
// is monotonic, so the maximum commutes with it; Relu keeps max(v, z); and quantizing
// (v - z)*s with the same s and z gives v back (|v - z| <= 255, so two float32
// roundings move (v - z) by far less than the 0.5 that rounding forgives).
// fuseQuantizedPool replaces such a chain by QMaxPool on the 8-bit tensor, as ONNX
// Runtime runs MaxPool on uint8 in QDQ models.

func init() {
	Register(Op{Domain: emulateDomain, Type: "QMaxPool", Since: 1, Kernel: qMaxPoolKernel})
}

// fuseQuantizedPool rewrites the top-level chains described above (2-D MaxPool with
// one output) and reports whether it changed anything.
func fuseQuantizedPool(g *Graph) bool {
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
				return false
			}
		}
	}
	onlyInput := func(n *Node, op string) *Node {
		if n == nil || len(n.Inputs) == 0 || readers[n.Inputs[0]] != 1 {
			return nil
		}
		p := producer[n.Inputs[0]]
		if p == nil || p.OpType != op || !isONNXDomain(p.Domain) || len(p.Outputs) != 1 {
			return nil
		}
		return p
	}
	removed := map[*Node]bool{}
	after := map[*Node]*Node{} // a Flatten to run right after the fused pool
	for i, q := range g.Nodes {
		if q.OpType != "QuantizeLinear" || !isONNXDomain(q.Domain) || !perTensorQuantize(q, func(s string) *Value { return g.Initializers[s] }) {
			continue
		}
		flat := onlyInput(q, "Flatten")
		pool := onlyInput(q, "MaxPool")
		if flat != nil {
			pool = onlyInput(flat, "MaxPool")
		}
		if pool == nil || len(pool.Inputs) != 1 {
			continue
		}
		if k, err := pool.Ints("kernel_shape", nil); err != nil || len(k) != 2 {
			continue
		}
		relu := onlyInput(pool, "Relu")
		dq := onlyInput(pool, "DequantizeLinear")
		if relu != nil {
			dq = onlyInput(relu, "DequantizeLinear")
		}
		if dq == nil || len(dq.Inputs) != 3 || !sameQuantParams(g, dq, q) || removed[dq] {
			continue
		}
		attrs := maps.Clone(pool.Attrs)
		if attrs == nil {
			attrs = map[string]*Attr{}
		}
		attrs["relu"] = &Attr{Name: "relu", Kind: AttrInt}
		if relu != nil {
			attrs["relu"].Int = 1
		}
		qp := &Node{Name: pool.Name, OpType: "QMaxPool", Domain: emulateDomain,
			Inputs: []string{dq.Inputs[0], dq.Inputs[2]}, Outputs: slices.Clone(q.Outputs), Attrs: attrs}
		if flat != nil {
			qp.Outputs = []string{pool.Outputs[0] + "_q8"}
			f := &Node{Name: flat.Name, OpType: "Flatten", Domain: flat.Domain, Inputs: []string{qp.Outputs[0]},
				Outputs: slices.Clone(q.Outputs), Attrs: flat.Attrs}
			after[qp] = f
			removed[flat] = true
		}
		g.Nodes[i] = qp
		removed[dq], removed[pool] = true, true
		if relu != nil {
			removed[relu] = true
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
		if f := after[n]; f != nil {
			kept = append(kept, f)
		}
	}
	g.Nodes = kept
	return true
}

// sameQuantParams reports whether DequantizeLinear dq and QuantizeLinear q use the
// same scalar initializer parameters, with a positive finite scale and the zero point
// of dq's input type.
func sameQuantParams(g *Graph, dq, q *Node) bool {
	s1, z1 := g.Initializers[dq.Inputs[1]], g.Initializers[dq.Inputs[2]]
	s2, z2 := g.Initializers[q.Inputs[1]], g.Initializers[q.Inputs[2]]
	if s1 == nil || z1 == nil || s2 == nil || z2 == nil || s1.Len() != 1 || z1.Len() != 1 ||
		s1.DType != tensor.F32 || s2.DType != tensor.F32 || z1.DType != z2.DType || !is8bit(z1) {
		return false
	}
	a, b := s1.Data.([]float32)[0], s2.Data.([]float32)[0]
	if a != b || !(a > 0) || math.IsInf(float64(a), 0) {
		return false
	}
	za, _ := ints32(z1)
	zb, _ := ints32(z2)
	return za[0] == zb[0]
}

// qMaxPoolKernel is MaxPool on 8-bit x [N, C, H, W] (windows as MaxPool's attributes
// give them; padding takes no part), with the result at least the zero point (input
// 1) when the relu attribute is set.
func qMaxPoolKernel(c *Call) ([]*Value, error) {
	x, zv := c.Input(0), c.Input(1)
	if !is8bit(x) || len(x.Shape) != 4 || zv == nil || zv.DType != x.DType || zv.Len() != 1 {
		return nil, fmt.Errorf("needs 8-bit x [N, C, H, W] and its zero point, have %v and %v", x, zv)
	}
	var a attrs
	kernel := a.ints(c.Node, "kernel_shape", nil)
	ceil := a.int(c.Node, "ceil_mode", 0) != 0
	relu := a.int(c.Node, "relu", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	if len(kernel) != 2 {
		return nil, fmt.Errorf("kernel_shape %v must have 2 dims", kernel)
	}
	w, err := newWindow(c.Node, x.Shape[2:], kernel, ceil)
	if err != nil {
		return nil, err
	}
	out, err := c.allocRaw(x.DType, append([]int64{x.Shape[0], x.Shape[1]}, w.out...))
	if err != nil {
		return nil, err
	}
	z, _ := ints32(zv)
	switch d := x.Data.(type) {
	case []uint8:
		floor := uint8(0)
		if relu {
			floor = uint8(z[0])
		}
		maxPool8(c.Threads(), out.Data.([]uint8), d, w, floor)
	case []int8:
		floor := int8(math.MinInt8)
		if relu {
			floor = int8(z[0])
		}
		maxPool8(c.Threads(), out.Data.([]int8), d, w, floor)
	}
	return []*Value{out}, nil
}

// maxPool8 pools every [H, W] plane of x into y, starting each window's maximum at
// floor (the type's minimum, or the zero point for a fused Relu). A window entirely
// in the padding gives the type's minimum, as -inf quantizes.
func maxPool8[T uint8 | int8](threads int, y, x []T, w *window, floor T) {
	H, W := int(w.in[0]), int(w.in[1])
	OH, OW := int(w.out[0]), int(w.out[1])
	taps := w.taps()
	KH, KW := int(w.kernel[0]), int(w.kernel[1])
	planes := len(x) / max(1, H*W)
	var lowest T
	if _, signed := any(lowest).(int8); signed {
		mn := int8(math.MinInt8)
		lowest = T(mn)
	}
	simple := KH == 2 && KW == 2 && w.strides[0] == 2 && w.strides[1] == 2 && w.padBegin[0] == 0 && w.padBegin[1] == 0 &&
		w.dilations[0] == 1 && w.dilations[1] == 1 && 2*OH <= H && 2*OW <= W
	parallel.For(threads, planes, max(1, 16384/max(1, H*W)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src, dst := x[p*H*W:(p+1)*H*W], y[p*OH*OW:(p+1)*OH*OW]
			if simple {
				for oy := 0; oy < OH; oy++ {
					r0, r1 := src[2*oy*W:2*oy*W+2*OW], src[(2*oy+1)*W:(2*oy+1)*W+2*OW]
					row := dst[oy*OW : (oy+1)*OW]
					for ox := range row {
						m := max(floor, r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
						row[ox] = m
					}
				}
				continue
			}
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					m, any := floor, false
					for ky := 0; ky < KH; ky++ {
						iy := taps[0][ky*OH+oy]
						if iy < 0 {
							continue
						}
						for kx := 0; kx < KW; kx++ {
							ix := taps[1][kx*OW+ox]
							if ix < 0 {
								continue
							}
							m, any = max(m, src[iy*W+ix]), true
						}
					}
					if !any {
						m = lowest
					}
					dst[oy*OW+ox] = m
				}
			}
		}
	})
}
