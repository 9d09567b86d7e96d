package runtime

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/refit-ml/refit/internal/blas"
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
	// The exact product writes every sum, so the buffer need not be cleared first.
	alloc := c.allocRaw
	if saturates(c, a, b) {
		alloc = c.Alloc
	}
	out, err := alloc(tensor.F32, append(slices.Clone(mm.batch), int64(mm.m), int64(mm.n)))
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	// The int32 sums go into the output's memory and are converted in place.
	var acc []int32
	if len(y) > 0 {
		acc = unsafe.Slice((*int32)(unsafe.Pointer(&y[0])), len(y))
	}
	s := sv.Data.([]float32)[0]
	// Each block of rows is scaled as soon as the product has it.
	mm.productThen(c, 1, acc, a, b, za, zb, func(lo, hi int) {
		qgemm.Scale(y[lo:hi], acc[lo:hi], 0, s, 0, false)
	})
	shape := mm.final
	return []*Value{View(out, shape)}, nil
}

// Quantized chains. Between two quantized operators, QDQ and QOperator models hold
// the activations as DequantizeLinear -> [Relu] -> [MaxPool] -> [Flatten, Reshape,
// ...] -> QuantizeLinear: dequantized to float only to be quantized again.
// fuseQuantChains rewrites each such chain with per-tensor parameters into one
// internal node, QuantPool, that max-pools the 8-bit values and maps each result
// through a 256-entry table, t[v] = Quantize(Relu(Dequantize(v))), followed by the
// chain's layout operators on the 8-bit tensor. With positive finite scales each
// step is a non-decreasing function of v (float rounding is monotone), so taking the
// maximum before or after the table gives the same bytes, and the table holds the
// very float32 operations of the unfused nodes (qgemm.Dequantize, blas.BiasRelu,
// blas.Quantize8): the output is byte-identical, at a quarter of the pooling work
// and none of the float traffic.

func init() {
	Register(Op{Domain: emulateDomain, Type: "QuantPool", Since: 1, Kernel: quantPoolKernel})
}

// chainMoves are the operators that only move or relabel elements, whatever their
// type: they stay in the chain, now on 8-bit values.
var chainMoves = map[string]bool{"Flatten": true, "Reshape": true, "Identity": true, "Squeeze": true, "Unsqueeze": true}

// fuseQuantChains rewrites the chains described above among g's top-level nodes and
// reports whether it changed anything.
func fuseQuantChains(g *Graph) bool {
	readers := map[string][]*Node{}
	for _, o := range g.Outputs {
		readers[o.Name] = append(readers[o.Name], nil) // never fused away
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			readers[in] = append(readers[in], n)
		}
		for _, a := range n.Attrs {
			if a.Kind == AttrGraph || a.Kind == AttrGraphs {
				return false // subgraphs may read values by name
			}
		}
	}
	// params reports whether scale and zp name a positive finite float scalar and
	// an 8-bit scalar initializer.
	params := func(scale, zp string) bool {
		s, z := g.Initializers[scale], g.Initializers[zp]
		if s == nil || z == nil || s.DType != tensor.F32 || s.Len() != 1 || z.Len() != 1 || !is8bit(z) {
			return false
		}
		v := s.Data.([]float32)[0]
		return v > 0 && !math.IsInf(float64(v), 0)
	}
	// plainQuant: a per-tensor (De)QuantizeLinear with both parameters and no
	// attribute but an axis, which scalar parameters ignore.
	plainQuant := func(n *Node) bool {
		_, axis := n.Attrs["axis"]
		return isONNXDomain(n.Domain) && len(n.Inputs) == 3 && len(n.Outputs) == 1 && params(n.Inputs[1], n.Inputs[2]) &&
			(len(n.Attrs) == 0 || len(n.Attrs) == 1 && axis)
	}
	only := func(name string) *Node {
		if rs := readers[name]; len(rs) == 1 && rs[0] != nil {
			return rs[0]
		}
		return nil
	}
	removed := map[*Node]bool{}
	replaced := map[*Node]*Node{}
	for _, d := range g.Nodes {
		if d.OpType != "DequantizeLinear" || !plainQuant(d) || removed[d] {
			continue
		}
		var relu bool
		var pool *Node
		var moves, chain []*Node
		var q *Node
		cur := d.Outputs[0]
		for q == nil {
			n := only(cur)
			if n == nil || !isONNXDomain(n.Domain) || len(n.Inputs) == 0 || n.Inputs[0] != cur {
				break
			}
			switch {
			case n.OpType == "Relu" && len(n.Inputs) == 1 && len(n.Outputs) == 1:
				relu = true
			case n.OpType == "MaxPool" && pool == nil && len(moves) == 0 && len(n.Outputs) == 1 && poolable(n):
				pool = n
			case chainMoves[n.OpType] && len(n.Outputs) == 1:
				moves = append(moves, n)
			case n.OpType == "QuantizeLinear" && plainQuant(n):
				q = n
			default:
				n = nil
			}
			if n == nil || removed[n] {
				break
			}
			chain = append(chain, n)
			cur = n.Outputs[0]
		}
		if q == nil {
			continue
		}
		qp := &Node{Name: d.Name + "/quant_pool", OpType: "QuantPool", Domain: emulateDomain,
			Inputs:  []string{d.Inputs[0], d.Inputs[1], d.Inputs[2], q.Inputs[1], q.Inputs[2]},
			Outputs: []string{q.Outputs[0]}, Attrs: map[string]*Attr{}}
		if relu {
			qp.Attrs["relu"] = &Attr{Name: "relu", Kind: AttrInt, Int: 1}
		}
		if pool != nil {
			for k, a := range pool.Attrs {
				qp.Attrs[k] = a
			}
			qp.Attrs["pool"] = &Attr{Name: "pool", Kind: AttrInt, Int: 1}
		}
		if len(moves) > 0 {
			// The moves now carry the 8-bit values: the first reads the table's
			// output, the last writes the QuantizeLinear's.
			mid := q.Outputs[0] + "/quant_pool"
			qp.Outputs[0] = mid
			moves[0].Inputs = append([]string{mid}, moves[0].Inputs[1:]...)
			moves[len(moves)-1].Outputs = []string{q.Outputs[0]}
		}
		replaced[d] = qp
		for _, n := range chain {
			if !chainMoves[n.OpType] {
				removed[n] = true
			}
		}
	}
	if len(replaced) == 0 {
		return false
	}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if r := replaced[n]; r != nil {
			n = r
		} else if removed[n] {
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
	return true
}

// poolable reports whether a MaxPool node pools two spatial dimensions without
// indices and with attributes quantPoolKernel reads.
func poolable(n *Node) bool {
	k, err := n.Ints("kernel_shape", nil)
	if err != nil || len(k) != 2 {
		return false
	}
	for name := range n.Attrs {
		switch name {
		case "kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode", "storage_order":
		default:
			return false
		}
	}
	return true
}

// quantPoolKernel is QuantPool: inputs x (8-bit), the DequantizeLinear's scale and
// zero point, the QuantizeLinear's scale and zero point; attributes relu, pool and
// MaxPool's own.
func quantPoolKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if !is8bit(x) {
		return nil, fmt.Errorf("needs an 8-bit x, have %v", x)
	}
	xs, xz, ys, yz := c.Input(1), c.Input(2), c.Input(3), c.Input(4)
	if xs == nil || ys == nil || xz == nil || yz == nil || xs.DType != tensor.F32 || ys.DType != tensor.F32 ||
		xs.Len() != 1 || ys.Len() != 1 || xz.DType != x.DType || yz.Len() != 1 || !is8bit(yz) || xz.Len() != 1 {
		return nil, fmt.Errorf("needs scalar float scales and 8-bit zero points of x's type, have %v %v %v %v", xs, xz, ys, yz)
	}
	xb, xSigned := rawBytes(x)
	_, ySigned := rawBytes(yz)
	zx, _ := ints32(xz)
	zy, _ := ints32(yz)
	lo, hi, _ := quantRange(yz.DType)
	// The table in key order: key k is the byte k ^ flip, so that keys compare as
	// x's values do.
	var flip byte
	if xSigned {
		flip = 0x80
	}
	var keys [257]byte
	for k := range 256 {
		keys[k] = byte(k) ^ flip
	}
	var f [257]float32
	qgemm.Dequantize(f[:256], keys[:256], xSigned, float32(zx[0]), xs.Data.([]float32)[0])
	f[256] = float32(math.Inf(-1)) // an empty window: MaxPool's -inf
	var a attrs
	relu, pool := a.int(c.Node, "relu", 0) != 0, a.int(c.Node, "pool", 0) != 0
	kernel := a.ints(c.Node, "kernel_shape", nil)
	ceil := a.int(c.Node, "ceil_mode", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	if relu {
		blas.BiasRelu(f[:256], 0, true)
	}
	var table [257]byte
	blas.Quantize8(table[:], f[:], ys.Data.([]float32)[0], lo, hi, zy[0], ySigned)
	yType := yz.DType
	if !pool {
		out, err := c.allocRaw(yType, x.Shape)
		if err != nil {
			return nil, err
		}
		yb, _ := rawBytes(out)
		parallel.For(c.Threads(), len(xb), 16384, func(a, b int) {
			for i, v := range xb[a:b] {
				yb[a+i] = table[v^flip]
			}
		})
		return []*Value{out}, nil
	}
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("pools [N, C, H, W], have %v", tensor.Shape(x.Shape))
	}
	w, err := newWindow(c.Node, x.Shape[2:], kernel, ceil)
	if err != nil {
		return nil, err
	}
	out, err := c.allocRaw(yType, append([]int64{x.Shape[0], x.Shape[1]}, w.out...))
	if err != nil {
		return nil, err
	}
	yb, _ := rawBytes(out)
	maxPool8(c.Threads(), yb, xb, int(x.Shape[0]*x.Shape[1]), w, flip, &table)
	return []*Value{out}, nil
}

// maxPool8 max-pools planes of 8-bit keys (bytes ^ flip) and writes table[max] per
// window, table[256] for a window with no element in the image.
func maxPool8(threads int, y, x []byte, planes int, w *window, flip byte, table *[257]byte) {
	H, W := int(w.in[0]), int(w.in[1])
	OH, OW := int(w.out[0]), int(w.out[1])
	KH, KW := int(w.kernel[0]), int(w.kernel[1])
	SH, SW := int(w.strides[0]), int(w.strides[1])
	DH, DW := int(w.dilations[0]), int(w.dilations[1])
	PT, PL := int(w.padBegin[0]), int(w.padBegin[1])
	// 2x2 windows at stride 2 over rows of even width: the horizontal pairs of a
	// whole plane in one vectorized pass, then the vertical pairs and the table.
	fast := KH == 2 && KW == 2 && SH == 2 && SW == 2 && DH == 1 && DW == 1 && PT == 0 && PL == 0 && W%2 == 0 && 2*OW == W && 2*OH <= H
	parallel.For(threads, planes, max(1, 16384/max(1, H*W)), func(lo, hi int) {
		var pairs []byte
		if fast {
			pairs = make([]byte, H*OW)
		}
		for p := lo; p < hi; p++ {
			src := x[p*H*W : (p+1)*H*W]
			dst := y[p*OH*OW : (p+1)*OH*OW]
			if fast {
				// pairs[i] = max(pairs[i], pairs[i+OW]) over the plane in one
				// vector pass: the even rows then hold the windows' maxima.
				qgemm.MaxPairs(pairs, src, flip)
				qgemm.MaxBytes(pairs[:(H-1)*OW], pairs, pairs[OW:])
				for oy := 0; oy < OH; oy++ {
					row, keys := dst[oy*OW:(oy+1)*OW], pairs[2*oy*OW:(2*oy+1)*OW]
					for ox, k := range keys {
						row[ox] = table[k]
					}
				}
				continue
			}
			for oy := 0; oy < OH; oy++ {
				for ox := 0; ox < OW; ox++ {
					m, any := 0, false
					for ky := 0; ky < KH; ky++ {
						iy := oy*SH - PT + ky*DH
						if iy < 0 || iy >= H {
							continue
						}
						for kx := 0; kx < KW; kx++ {
							ix := ox*SW - PL + kx*DW
							if ix < 0 || ix >= W {
								continue
							}
							m, any = max(m, int(src[iy*W+ix]^flip)), true // rare shapes: branches are fine
						}
					}
					if !any {
						m = 256
					}
					dst[oy*OW+ox] = table[m]
				}
			}
		}
	})
}
