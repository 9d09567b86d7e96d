package runtime

import (
	"strings"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Conv (+ Relu) -> MaxPool, fused per image. A small CNN (MNIST's) spends its time in
// convolutions of a few microseconds per image, each followed by a max pool: run
// apart, the convolution writes the whole batch's activations (four times the pooled
// size) for the pool to read back, and the threads meet twice per pair of nodes.
// ConvMaxPool gives each goroutine whole images instead: it convolves one image into a
// scratch buffer that stays in its cache and pools it at once, so the pair costs one
// fork-join and the large intermediate is never written. The values are those of the
// two nodes run apart: the same convolution path per image, and a max pool selects.

func init() {
	Register(Op{Domain: fusedDomain, Type: "ConvMaxPool", Since: 1, Kernel: convMaxPoolKernel, ViaFloat32: true})
}

// poolAttrPrefix marks the MaxPool's attributes on a fused ConvMaxPool node; the
// others are the Conv's.
const poolAttrPrefix = "pool_"

// fuseConvMaxPool replaces each Conv (with or without a fused Relu) whose output's
// only reader is a MaxPool by a ConvMaxPool node, and reports whether it changed g
// (the caller recompiles). The MaxPool must produce no indices and the Conv's output
// must not be a graph output.
func fuseConvMaxPool(g *Graph) bool {
	if g.plan == nil {
		return false
	}
	convs := map[string]*Node{}
	for _, n := range g.Nodes {
		if n.OpType == "Conv" && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && n.Outputs[0] != "" {
			convs[n.Outputs[0]] = n
		}
	}
	removed := map[*Node]bool{}
	for _, p := range g.Nodes {
		if p.OpType != "MaxPool" || !isONNXDomain(p.Domain) || len(p.Inputs) != 1 || len(p.Outputs) == 0 ||
			p.Outputs[0] == "" || len(p.Outputs) > 1 && p.Outputs[1] != "" {
			continue
		}
		name := p.Inputs[0]
		cv := convs[name]
		if cv == nil || g.plan.uses[name] != 1 || g.plan.pinned[name] {
			continue
		}
		attrs := make(map[string]*Attr, len(cv.Attrs)+len(p.Attrs))
		for k, a := range cv.Attrs {
			attrs[k] = a
		}
		for k, a := range p.Attrs {
			attrs[poolAttrPrefix+k] = a
		}
		// The fused node takes the Conv's place (the MaxPool's input is computed there).
		cv.OpType, cv.Domain, cv.Attrs, cv.Outputs = "ConvMaxPool", fusedDomain, attrs, []string{p.Outputs[0]}
		delete(convs, name)
		removed[p] = true
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

// poolNodeOf returns a MaxPool node with the pool attributes of fused node n.
func poolNodeOf(n *Node) *Node {
	p := &Node{Name: n.Name, OpType: "MaxPool", Attrs: map[string]*Attr{}}
	for k, a := range n.Attrs {
		if name, ok := strings.CutPrefix(k, poolAttrPrefix); ok {
			p.Attrs[name] = a
		}
	}
	return p
}

// convMaxPoolKernel computes MaxPool(Conv(X, W, B)) (with the node's Relu between
// them): per image on the convolution paths that allow it, else the two kernels one
// after the other.
func convMaxPoolKernel(c *Call) ([]*Value, error) {
	pn := poolNodeOf(c.Node)
	if out, ok, err := convMaxPoolImages(c, pn); ok || err != nil {
		return out, err
	}
	conv, err := convKernel(c)
	if err != nil {
		return nil, err
	}
	if c.sess != nil && conv[0].buf != nil {
		defer c.sess.pool.put(conv[0].buf) // the intermediate is dead once pooled
	}
	return poolKernel("MaxPool")(&Call{Node: pn, Opset: c.Opset, Inputs: conv[:1], ctx: c.ctx, sess: c.sess, env: c.env})
}

// convMaxPoolImages runs the fused pair image by image when the convolution is 2-D,
// ungrouped and on the packed-weights path, and the pool 2-D without dilations; ok is
// false, having done nothing, otherwise.
func convMaxPoolImages(c *Call, pn *Node) (out []*Value, ok bool, err error) {
	x, wt := c.Input(0), c.Input(1)
	if c.sess == nil || x == nil || wt == nil || x.DType != tensor.F32 || wt.DType != tensor.F32 ||
		len(x.Shape) != 4 || len(wt.Shape) != 4 {
		return nil, false, nil
	}
	group, err := c.Node.Int("group", 1)
	if err != nil || group != 1 {
		return nil, false, nil
	}
	N, C, M := int(x.Shape[0]), int(x.Shape[1]), int(wt.Shape[0])
	kernel, err := c.Node.Ints("kernel_shape", wt.Shape[2:])
	if err != nil || int(wt.Shape[1]) != C || len(kernel) != 2 || kernel[0] != wt.Shape[2] || kernel[1] != wt.Shape[3] || M == 0 {
		return nil, false, nil
	}
	w, err := newWindow(c.Node, x.Shape[2:], kernel, false)
	if err != nil {
		return nil, false, nil // convKernel reports it
	}
	if winogradPreferred(c, w, N, C, M) {
		return nil, false, nil // the whole batch through the Winograd transforms
	}
	if _, _, tr := transposedConvPlan(w, C); tr {
		return nil, false, nil // small outputs: the transposed tiles, on the whole batch
	}
	var bs []float32
	if bias := c.Input(2); bias != nil {
		if bs, ok = bias.Data.([]float32); !ok || len(bs) != M {
			return nil, false, nil
		}
	}
	var a attrs
	pk := a.ints(pn, "kernel_shape", nil)
	ceil := a.int(pn, "ceil_mode", 0) != 0
	if a.err != nil || len(pk) != 2 {
		return nil, false, nil
	}
	pw, err := newWindow(pn, w.out, pk, ceil)
	if err != nil || !allEqual(pw.dilations, 1) {
		return nil, false, nil
	}
	on, pon := w.size(w.out), pw.size(pw.out)
	rows := C * w.size(kernel)
	t := c.Threads()
	// Images in parallel, each on one goroutine, where convPacked would split the
	// batch that way too: small products, or enough images for every thread.
	perImage := t > 1 && N > 1 && (M*on*rows < 1<<21 || N >= 2*t)
	// The scratch of one image per goroutine is charged as the intermediate was.
	live := 1
	if perImage {
		live = min(t, N)
	}
	if err := c.checkElements(int64(live) * int64(M) * int64(on)); err != nil {
		return nil, true, err
	}
	res, err := c.allocRaw(tensor.F32, []int64{int64(N), int64(M), pw.out[0], pw.out[1]})
	if err != nil {
		return nil, true, err
	}
	packed, ok := preparePacked(c, 1, func(v *Value) []*blas.PackedA { return packConvWeights(v.Data.([]float32), 1, M, rows) })
	if !ok {
		packed = packConvWeights(wt.Data.([]float32), 1, M, rows)
	}
	xs, y := x.Data.([]float32), res.Data.([]float32)
	inSize := C * w.size(w.in)
	wide := widePoolPlan(w, pw, C, on)
	image := func(n, threads int) {
		xn, yn := xs[n*inSize:(n+1)*inSize], y[n*M*pon:(n+1)*M*pon]
		if wide != nil {
			wide.run(threads, yn, xn, bs, packed[0], M, c.Node.relu)
			return
		}
		conv := getScratch(M * on)
		convPacked(threads, conv, xn, bs, packed, 1, C, M, 1, w, c.Node.relu)
		pool2D(threads, yn, conv, M, pw, true, false)
		putScratch(conv)
	}
	if perImage {
		parallel.ForChunks(t, N, 1, func(lo, hi int) {
			for n := lo; n < hi; n++ {
				image(n, 1)
			}
		})
	} else {
		for n := 0; n < N; n++ {
			image(n, t)
		}
	}
	return []*Value{res}, true, nil
}

// widePool is the per-image path of ConvMaxPool for 2x2, stride-2 pools of a
// convolution on the shift layout: the product stays in the layout's wide form,
// whose rows carry RowLen-OutW extra columns, and the pool reads it in place. The
// bias and Relu then run on the pooled values, a quarter of the convolution's: the
// max over a window of relu(v + b) is relu(max(v) + b), adding a constant and Relu
// being monotonic, so the values are those of the two nodes. There is no compaction
// pass (AVX2) and no masked stores of output positions or epilogue per tile
// (AVX-512, where this is 25% faster on MNIST's first convolution, k = 9).
type widePool struct {
	geom   blas.Conv2D
	shift  *blas.ShiftLayout
	ph, pw int // pooled output height and width
}

// widePoolPlan returns the wide path for a convolution of window w over c channels
// (on output positions) pooled by window p, or nil where it does not apply.
func widePoolPlan(w, p *window, c, on int) *widePool {
	if len(w.in) != 2 || w.size(w.kernel) == 1 && allEqual(w.strides, 1) && allEqual(w.padBegin, 0) && allEqual(w.padEnd, 0) {
		return nil // 1x1: a plain GEMM on the input, without the layout's copy
	}
	// Windows 2x2, stride 2, inside the output: none reads the extra columns.
	if p.kernel[0] != 2 || p.kernel[1] != 2 || p.strides[0] != 2 || p.strides[1] != 2 ||
		!allEqual(p.padBegin, 0) || 2*p.out[0] > w.out[0] || 2*p.out[1] > w.out[1] {
		return nil
	}
	g := blas.Conv2D{
		Channels: c, Height: int(w.in[0]), Width: int(w.in[1]),
		KernelH: int(w.kernel[0]), KernelW: int(w.kernel[1]),
		StrideH: int(w.strides[0]), StrideW: int(w.strides[1]),
		DilationH: int(w.dilations[0]), DilationW: int(w.dilations[1]),
		PadTop: int(w.padBegin[0]), PadLeft: int(w.padBegin[1]),
		OutH: int(w.out[0]), OutW: int(w.out[1]),
	}
	// As convPacked: pads at most the kernel, the layout within a small factor.
	if g.PadTop+int(w.padEnd[0]) > g.KernelH*g.DilationH || g.PadLeft+int(w.padEnd[1]) > g.KernelW*g.DilationW {
		return nil
	}
	l := shiftLayoutFor(g)
	if l == nil || l.N > 2*on+4096 || l.Len > 4*c*g.Height*g.Width+65536 {
		return nil
	}
	return &widePool{geom: g, shift: l, ph: int(p.out[0]), pw: int(p.out[1])}
}

// run convolves image x (weights packed, m output channels) and stores the pooled,
// biased and activated planes to y.
func (p *widePool) run(threads int, y, x, bs []float32, packed *blas.PackedA, m int, relu bool) {
	l, g := p.shift, &p.geom
	img := getScratch(l.Len)
	l.Fill(img, x, *g)
	// Planes of OutH full rows of RowLen: the last row's extra columns are scratch.
	ld := g.OutH * l.RowLen
	wide := getScratch(m * ld)
	blas.SgemmShifted(threads, packed, 1, img, l.Offsets, l.N, 0, wide, ld)
	putScratch(img)
	plane := p.ph * p.pw
	for ch := 0; ch < m; ch++ {
		dst := y[ch*plane : (ch+1)*plane]
		blas.MaxPool2x2Rows(dst, wide[ch*ld:(ch+1)*ld], l.RowLen, p.ph, p.pw)
		var b float32
		if bs != nil {
			b = bs[ch]
		}
		biasActivation(dst, b, relu)
	}
	putScratch(wide)
}
