package runtime

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/internal/qgemm"
	"github.com/refit-ml/refit/tensor"
)

// QDQ models. ONNX Runtime fuses DequantizeLinear -> MatMul/Gemm (-> QuantizeLinear)
// and DequantizeLinear -> Conv -> QuantizeLinear into its integer kernels
// (QLinearMatMul, MatMulIntegerToFloat, QGemm, QLinearConv). emulateQDQ does the same
// rewrite: each such float product becomes an internal node that computes the integer
// product of the quantized operands and scales it to float, y = acc*sx*sw + bias.
// Under exact arithmetic acc is the exact sum, so the node computes the float
// product's exact real value rounded once (the float product rounds every partial
// sum) on the int8 GEMM, without dequantizing the operands; under
// SaturatingPairsArith (CPUs without VNNI, where ONNX Runtime's uint8 x int8 kernels
// saturate) acc has the saturating pairs, as those fused kernels compute.

const emulateDomain = "refit.emulate"

func init() {
	Register(Op{Domain: emulateDomain, Type: "QDQMatMul", Since: 1, Kernel: qdqMatMulKernel})
	Register(Op{Domain: emulateDomain, Type: "QDQConv", Since: 1, Kernel: qdqConvKernel})
}

// emulateQDQ rewrites the top-level nodes of g as described above, drops the
// DequantizeLinear nodes no node reads any more, and reports whether it changed
// anything. A node qualifies when its activation comes from a DequantizeLinear of a
// uint8 tensor with a scalar scale and its weight from a DequantizeLinear of an int8
// initializer with per-tensor or per-output-channel parameters.
func emulateQDQ(g *Graph) bool {
	producer := map[string]*Node{}
	consumers := map[string][]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n)
		}
	}
	dq := func(name string) *Node {
		n := producer[name]
		if n == nil || n.OpType != "DequantizeLinear" || !isONNXDomain(n.Domain) || len(n.Inputs) < 2 {
			return nil
		}
		return n
	}
	init := func(name string) *Value { return g.Initializers[name] }
	// uint8Activation: the quantized input of a DequantizeLinear is uint8 with a scalar scale.
	uint8Activation := func(d *Node) bool {
		if s := init(d.Inputs[1]); s == nil || s.Len() != 1 {
			if p := producer[d.Inputs[1]]; p == nil || p.OpType != "DynamicQuantizeLinear" {
				return false
			}
		}
		if v := init(d.Inputs[0]); v != nil {
			return v.DType == tensor.U8
		}
		p := producer[d.Inputs[0]]
		switch {
		case p == nil:
			return false
		case p.OpType == "DynamicQuantizeLinear":
			return true
		case p.OpType == "QuantizeLinear" && len(p.Inputs) >= 3:
			z := init(p.Inputs[2])
			return z != nil && z.DType == tensor.U8
		}
		return false
	}
	// int8Weight: an int8 initializer with per-tensor or per-axis parameters along axis.
	int8Weight := func(d *Node, axis int) bool {
		w, s := init(d.Inputs[0]), init(d.Inputs[1])
		if w == nil || s == nil || w.DType != tensor.I8 || len(w.Shape) < 2 {
			return false
		}
		if len(d.Inputs) > 2 && d.Inputs[2] != "" && init(d.Inputs[2]) == nil {
			return false
		}
		if b, err := d.Int("block_size", 0); err != nil || b != 0 || len(s.Shape) > 1 {
			return false // blocked parameters: not an integer kernel in ONNX Runtime
		}
		if s.Len() == 1 {
			return true
		}
		a, err := d.Int("axis", 1)
		if err != nil || int(a) != axis && int(a) != axis-len(w.Shape) {
			return false
		}
		return s.Len() == int(w.Shape[axis])
	}
	operands := func(dx, dw *Node) []string {
		in := []string{dx.Inputs[0], dx.Inputs[1], "", dw.Inputs[0], dw.Inputs[1], ""}
		if len(dx.Inputs) > 2 {
			in[2] = dx.Inputs[2]
		}
		if len(dw.Inputs) > 2 {
			in[5] = dw.Inputs[2]
		}
		return in
	}
	outputs := map[string]bool{}
	for _, o := range g.Outputs {
		outputs[o.Name] = true
	}
	removed := map[*Node]bool{}
	changed := false
	for i, n := range g.Nodes {
		if !isONNXDomain(n.Domain) || len(n.Inputs) < 2 || len(n.Outputs) != 1 {
			continue
		}
		dx, dw := dq(n.Inputs[0]), dq(n.Inputs[1])
		if dx == nil || dw == nil || !uint8Activation(dx) {
			continue
		}
		var repl *Node
		switch n.OpType {
		case "MatMul":
			if w := init(dw.Inputs[0]); w != nil && len(w.Shape) == 2 && int8Weight(dw, 1) {
				repl = &Node{Name: n.Name, OpType: "QDQMatMul", Domain: emulateDomain, Inputs: operands(dx, dw), Attrs: map[string]*Attr{}}
			}
		case "Gemm":
			var a attrs
			transA, transB := a.int(n, "transA", 0), a.int(n, "transB", 0)
			alpha, beta := a.float(n, "alpha", 1), a.float(n, "beta", 1)
			if a.err == nil && transA == 0 && transB == 0 && alpha == 1 && beta == 1 && int8Weight(dw, 1) {
				repl = &Node{Name: n.Name, OpType: "QDQMatMul", Domain: emulateDomain, Inputs: operands(dx, dw), Attrs: map[string]*Attr{}}
				if len(n.Inputs) > 2 {
					repl.Inputs = append(repl.Inputs, n.Inputs[2])
				}
			}
		case "Conv":
			// ONNX Runtime fuses a QDQ Conv only when a QuantizeLinear consumes its output.
			cs := consumers[n.Outputs[0]]
			if len(cs) == 1 && cs[0].OpType == "QuantizeLinear" && int8Weight(dw, 0) {
				repl = &Node{Name: n.Name, OpType: "QDQConv", Domain: emulateDomain, Inputs: operands(dx, dw), Attrs: n.Attrs}
				bias := ""
				if len(n.Inputs) > 2 {
					bias = n.Inputs[2]
				}
				repl.Inputs = append(repl.Inputs, bias)
				// A per-tensor QuantizeLinear is done in the same pass: the node
				// writes its 8-bit output instead of the float one.
				if q := cs[0]; perTensorQuantize(q, init) && !outputs[n.Outputs[0]] {
					repl.Inputs = append(repl.Inputs, q.Inputs[1], q.Inputs[2])
					repl.Outputs = slices.Clone(q.Outputs)
					removed[q] = true
				}
			}
		}
		if repl == nil {
			continue
		}
		if repl.Outputs == nil {
			repl.Outputs = slices.Clone(n.Outputs)
		}
		g.Nodes[i] = repl
		changed = true
	}
	if len(removed) > 0 {
		kept := g.Nodes[:0:0]
		for _, n := range g.Nodes {
			if !removed[n] {
				kept = append(kept, n)
			}
		}
		g.Nodes = kept
	}
	if changed {
		dropUnreadDequantize(g)
	}
	// The chains between quantized operators (fuse_int8.go), once the rewrite
	// above has taken the DequantizeLinear nodes it reads past.
	if fuseQuantChains(g) {
		changed = true
	}
	return changed
}

// perTensorQuantize reports whether q is a QuantizeLinear with a scalar float scale
// and a scalar 8-bit zero point, both initializers.
func perTensorQuantize(q *Node, init func(string) *Value) bool {
	if !isONNXDomain(q.Domain) || len(q.Inputs) != 3 || len(q.Outputs) != 1 {
		return false
	}
	s, z := init(q.Inputs[1]), init(q.Inputs[2])
	return s != nil && z != nil && s.Len() == 1 && s.DType == tensor.F32 && z.Len() == 1 && is8bit(z)
}

// dropUnreadDequantize removes the top-level DequantizeLinear nodes whose output no
// node (nor a subgraph, nor the graph's outputs) reads.
func dropUnreadDequantize(g *Graph) {
	read := map[string]bool{}
	for _, o := range g.Outputs {
		read[o.Name] = true
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			read[in] = true
		}
		for _, a := range n.Attrs {
			if a.Kind == AttrGraph || a.Kind == AttrGraphs {
				return // subgraphs may read outer values by name: keep everything
			}
		}
	}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if n.OpType == "DequantizeLinear" && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && !read[n.Outputs[0]] {
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
}

// qdqOperands reads the quantized operands of a QDQ node: x (uint8) with a scalar
// scale and zero point, w (int8) with per-tensor or per-channel scales.
func qdqOperands(c *Call, channels func(w *Value) int) (x, w *Value, sx float32, zx []int32, sw []float32, zw []int32, err error) {
	x, w = c.Input(0), c.Input(3)
	if x == nil || w == nil || x.DType != tensor.U8 || w.DType != tensor.I8 || len(w.Shape) < 2 {
		return nil, nil, 0, nil, nil, nil, fmt.Errorf("needs uint8 x and int8 w of rank >= 2, have %v and %v", x, w)
	}
	sxs, zxs, err := requantParams(c.Input(1), c.Input(2), x, 1, "x")
	if err != nil {
		return nil, nil, 0, nil, nil, nil, err
	}
	sw, zw, err = requantParams(c.Input(4), c.Input(5), w, channels(w), "w")
	return x, w, sxs[0], zxs, sw, zw, err
}

// qdqMatMulKernel is MatMul(DequantizeLinear(x), DequantizeLinear(w)) [+ bias] over
// the integer product: y[.., j] = acc * sx * sw[j] + bias[j].
func qdqMatMulKernel(c *Call) ([]*Value, error) {
	x, w, sx, zx, sw, zw, err := qdqOperands(c, func(w *Value) int { return int(w.Shape[len(w.Shape)-1]) })
	if err != nil {
		return nil, err
	}
	mm, err := newIntMatmul(x.Shape, w.Shape)
	if err != nil {
		return nil, err
	}
	var bias []float32
	if b := c.Input(6); b != nil {
		if bias, err = floats32(b); err != nil || (len(bias) != 1 && len(bias) != mm.n) {
			return nil, fmt.Errorf("bias %v must be float [1] or [%d]", b, mm.n)
		}
	}
	acc := make([]int32, len(mm.aOff)*mm.m*mm.n)
	mm.product(c, 3, acc, x, w, zx, zw)
	out, err := c.Alloc(tensor.F32, mm.final)
	if err != nil {
		return nil, err
	}
	y := out.Data.([]float32)
	for r, a := range acc {
		j := r % mm.n
		y[r] = float32(a) * (sx * at(sw, j))
		if bias != nil {
			y[r] += at(bias, j)
		}
	}
	return []*Value{out}, nil
}

// qdqConvKernel is Conv(DequantizeLinear(x), DequantizeLinear(w), bias) over the
// integer convolution: y[n, m, ...] = acc * sx * sw[m] + bias[m].
func qdqConvKernel(c *Call) ([]*Value, error) {
	x, w, sx, zx, sw, zw, err := qdqOperands(c, func(w *Value) int { return int(w.Shape[0]) })
	if err != nil {
		return nil, err
	}
	M := int(w.Shape[0])
	var bias []float32
	if b := c.Input(6); b != nil {
		if bias, err = floats32(b); err != nil || len(bias) != M {
			return nil, fmt.Errorf("bias %v must be float [%d]", b, M)
		}
	}
	// y = float32(acc)*k rounded, then plus the bias: the two float32 operations of
	// the unfused Mul and Add.
	scaleRun := func(dst []float32, acc []int32, m int) {
		if bias == nil {
			qgemm.Scale(dst, acc, 0, sx*at(sw, m), 0, false)
			return
		}
		qgemm.Scale(dst, acc, 0, sx*at(sw, m), bias[m], true)
	}
	// With inputs 7 and 8 (a fused per-tensor QuantizeLinear), the float values are
	// quantized as QuantizeLinear does (blas.Quantize8 through quantize8's arguments).
	var quant func(dst *Value, at int, y []float32)
	var requant func(dst []byte, acc []int32, rows, rowLen, stride, m int)
	outType := tensor.F32
	if len(c.Node.Inputs) > 8 && c.Node.Inputs[7] != "" {
		sy, zy, yType, err := outputQuantParams(c.Input(7), c.Input(8))
		if err != nil {
			return nil, err
		}
		lo, hi, _ := quantRange(yType)
		outType = yType
		// The scale and bias of scaleRun and Quantize8 in one pass, same bytes.
		requant = func(dst []byte, acc []int32, rows, rowLen, stride, m int) {
			var b float32
			if bias != nil {
				b = bias[m]
			}
			qgemm.Requantize(dst, acc, rows, rowLen, stride, 0, sx*at(sw, m), b, sy[0], lo, hi, zy[0], yType == tensor.I8)
		}
		quant = func(dst *Value, at int, y []float32) {
			switch d := dst.Data.(type) {
			case []uint8:
				blas.Quantize8(d[at:at+len(y)], y, sy[0], lo, hi, zy[0], false)
			case []int8:
				blas.Quantize8(unsafe.Slice((*byte)(unsafe.Pointer(&d[at])), len(y)), y, sy[0], lo, hi, zy[0], true)
			}
		}
	}
	var out *Value
	start := func(shape []int64) (convEmit, error) {
		var err error
		if out, err = c.allocRaw(outType, shape); err != nil {
			return nil, err
		}
		on := spatialSize(shape)
		if requant != nil {
			ob, _ := rawBytes(out)
			return func(n, m, o0 int, acc []int32, rows, rowLen, stride int) {
				requant(ob[(n*M+m)*on+o0:], acc, rows, rowLen, stride, m)
			}, nil
		}
		y := out.Data.([]float32)
		return func(n, m, o0 int, acc []int32, rows, rowLen, stride int) {
			for r := range rows {
				scaleRun(y[(n*M+m)*on+o0+r*rowLen:][:rowLen], acc[r*stride:r*stride+rowLen], m)
			}
		}, nil
	}
	acc, shape, err := intConv(c, 3, x, w, zx, zw, saturates(c, x, w), start)
	if err != nil {
		return nil, err
	}
	if acc == nil { // written through start's emit
		return []*Value{out}, nil
	}
	if out, err = c.allocRaw(outType, shape); err != nil {
		return nil, err
	}
	on := len(acc) / max(1, int(shape[0])*M)
	if on == 0 {
		return []*Value{out}, nil
	}
	parallel.For(c.Threads(), len(acc)/on, max(1, 16384/on), func(lo, hi int) {
		var tmp []float32
		if quant != nil {
			tmp = getScratch(on)
			defer putScratch(tmp)
		}
		for r := lo; r < hi; r++ {
			if quant != nil {
				scaleRun(tmp, acc[r*on:(r+1)*on], r%M)
				quant(out, r*on, tmp)
				continue
			}
			scaleRun(out.Data.([]float32)[r*on:(r+1)*on], acc[r*on:(r+1)*on], r%M)
		}
	})
	return []*Value{out}, nil
}
