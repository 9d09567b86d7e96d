package distill

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	onnxgraph "github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/tensor"
)

// ErrUnsupportedOp reports a student graph with an operator the trainer cannot
// differentiate; the error names the node.
var ErrUnsupportedOp = errors.New("distill: operator not supported for training")

// value is a dense float32 activation with its gradient buffer.
type value struct {
	shape []int64
	data  []float32
	grad  []float32
}

// param is a trainable (or frozen) initializer.
type param struct {
	name      string
	v         *value
	trainable bool
	m, s      []float32 // optimizer state
}

// op is one differentiable node.
type op interface {
	forward(g *graph) error
	backward(g *graph)
}

// graph is a student model compiled for training: nodes in topological order over
// named values; parameters are the float initializers.
type graph struct {
	input, output string
	params        map[string]*param
	order         []string // parameter names in initializer order
	consts        map[string][]int64
	ops           []op
	vals          map[string]*value
}

func (g *graph) set(name string, shape []int64, data []float32) *value {
	v := &value{shape: shape, data: data}
	g.vals[name] = v
	return v
}

// grad returns v's gradient buffer, allocating it zeroed on first use.
func (v *value) gradBuf() []float32 {
	if v.grad == nil {
		v.grad = make([]float32, len(v.data))
	}
	return v.grad
}

func unsupported(n *onnxpb.NodeProto, why string, args ...any) error {
	return fmt.Errorf("%w: node %q (%s): %s", ErrUnsupportedOp, onnxgraph.NodeName(n), n.GetOpType(), fmt.Sprintf(why, args...))
}

// compile builds a trainable graph from an ONNX model with one float input and one
// output.
func compile(mp *onnxpb.ModelProto, fsys fs.FS) (*graph, error) {
	gp := mp.GetGraph()
	g := &graph{params: map[string]*param{}, consts: map[string][]int64{}, vals: map[string]*value{}}
	inits := map[string]bool{}
	frozen := map[string]bool{}
	for _, n := range gp.Node {
		if n.GetOpType() == "BatchNormalization" && len(n.Input) == 5 {
			frozen[n.Input[3]], frozen[n.Input[4]] = true, true
		}
	}
	for _, tp := range gp.Initializer {
		t, err := onnx.TensorFromProto(tp, fsys)
		if err != nil {
			return nil, err
		}
		inits[t.Name] = true
		switch {
		case t.DType == tensor.F32:
			f, err := t.Float32s()
			if err != nil {
				return nil, err
			}
			g.params[t.Name] = &param{name: t.Name, v: &value{shape: slices.Clone([]int64(t.Shape)), data: slices.Clone(f)}, trainable: !frozen[t.Name]}
			g.order = append(g.order, t.Name)
		case t.DType == tensor.I64:
			b, err := t.Bytes()
			if err != nil {
				return nil, err
			}
			g.consts[t.Name] = decodeI64(b)
		}
	}
	var ins []string
	for _, in := range gp.Input {
		if !inits[in.GetName()] {
			ins = append(ins, in.GetName())
		}
	}
	if len(ins) != 1 || len(gp.Output) != 1 {
		return nil, fmt.Errorf("%w: student must have one input and one output (has %d and %d)", ErrUnsupportedOp, len(ins), len(gp.Output))
	}
	g.input, g.output = ins[0], gp.Output[0].GetName()
	// Every value is written once (ONNX graphs are in SSA form): the backward pass
	// finds each gradient by the value's name.
	written := map[string]bool{g.input: true}
	for name := range inits {
		written[name] = true
	}
	for _, n := range gp.Node {
		for _, o := range n.Output {
			if o != "" && written[o] {
				return nil, unsupported(n, "value %q is written more than once", o)
			}
			written[o] = true
		}
	}
	for _, n := range gp.Node {
		o, err := g.compileNode(n)
		if err != nil {
			return nil, err
		}
		if o != nil {
			g.ops = append(g.ops, o)
		}
	}
	return g, nil
}

func decodeI64(b []byte) []int64 {
	out := make([]int64, len(b)/8)
	for i := range out {
		var x uint64
		for j := 7; j >= 0; j-- {
			x = x<<8 | uint64(b[i*8+j])
		}
		out[i] = int64(x)
	}
	return out
}

func (g *graph) compileNode(n *onnxpb.NodeProto) (op, error) {
	in := func(i int) string {
		if i < len(n.Input) {
			return n.Input[i]
		}
		return ""
	}
	if len(n.Output) == 0 {
		return nil, unsupported(n, "no output")
	}
	out := n.Output[0]
	switch n.GetOpType() {
	case "Conv":
		if onnxgraph.Int(n, "group", 1) != 1 {
			return nil, unsupported(n, "group %d (only 1)", onnxgraph.Int(n, "group", 1))
		}
		if s := onnxgraph.String(n, "auto_pad", ""); s != "" && s != "NOTSET" {
			return nil, unsupported(n, "auto_pad %s", s)
		}
		w := g.params[in(1)]
		if w == nil || len(w.v.shape) != 4 {
			return nil, unsupported(n, "weight must be a 4-D float initializer")
		}
		c := &conv{x: in(0), w: w, y: out, strides: onnxgraph.Ints(n, "strides", []int64{1, 1}),
			pads: onnxgraph.Ints(n, "pads", []int64{0, 0, 0, 0}), dil: onnxgraph.Ints(n, "dilations", []int64{1, 1})}
		if err := checkWindow(n, c.strides, c.pads, c.dil); err != nil {
			return nil, err
		}
		if in(2) != "" {
			if c.b = g.params[in(2)]; c.b == nil {
				return nil, unsupported(n, "bias must be an initializer")
			}
		}
		return c, nil
	case "Gemm", "MatMul":
		if onnxgraph.Int(n, "transA", 0) != 0 || onnxgraph.Float(n, "alpha", 1) != 1 || onnxgraph.Float(n, "beta", 1) != 1 {
			return nil, unsupported(n, "only transA=0, alpha=beta=1")
		}
		w := g.params[in(1)]
		if w == nil || len(w.v.shape) != 2 {
			return nil, unsupported(n, "right operand must be a 2-D float initializer")
		}
		d := &dense{x: in(0), w: w, y: out, transB: onnxgraph.Int(n, "transB", 0) != 0}
		if in(2) != "" {
			if d.b = g.params[in(2)]; d.b == nil {
				return nil, unsupported(n, "bias must be an initializer")
			}
		}
		return d, nil
	case "Relu":
		return &relu{x: in(0), y: out}, nil
	case "Identity", "Dropout":
		return &reshape{x: in(0), y: out}, nil
	case "Flatten":
		if onnxgraph.Int(n, "axis", 1) != 1 {
			return nil, unsupported(n, "axis must be 1")
		}
		return &reshape{x: in(0), y: out, flatten: true}, nil
	case "Reshape":
		s, ok := g.consts[in(1)]
		if !ok {
			return nil, unsupported(n, "shape must be a constant initializer")
		}
		return &reshape{x: in(0), y: out, target: s}, nil
	case "MaxPool":
		if onnxgraph.Int(n, "ceil_mode", 0) != 0 || len(onnxgraph.Ints(n, "dilations", nil)) > 0 && !allOne(onnxgraph.Ints(n, "dilations", nil)) {
			return nil, unsupported(n, "ceil_mode and dilations are not supported")
		}
		k := onnxgraph.Ints(n, "kernel_shape", nil)
		if len(k) != 2 {
			return nil, unsupported(n, "2-D kernels only")
		}
		p := &maxPool{x: in(0), y: out, k: k, strides: onnxgraph.Ints(n, "strides", []int64{1, 1}), pads: onnxgraph.Ints(n, "pads", []int64{0, 0, 0, 0})}
		if err := checkWindow(n, p.strides, p.pads, k); err != nil {
			return nil, err
		}
		return p, nil
	case "GlobalAveragePool":
		return &gap{x: in(0), y: out}, nil
	case "Add":
		a := &add{a: in(0), b: in(1), y: out}
		a.pa, a.pb = g.params[in(0)], g.params[in(1)]
		return a, nil
	case "BatchNormalization":
		ps := make([]*param, 4)
		for i := range ps {
			if ps[i] = g.params[in(i+1)]; ps[i] == nil {
				return nil, unsupported(n, "parameters must be float initializers")
			}
		}
		return &batchNorm{x: in(0), y: out, scale: ps[0], bias: ps[1], mean: ps[2], vari: ps[3], eps: onnxgraph.Float(n, "epsilon", 1e-5)}, nil
	}
	return nil, unsupported(n, "no gradient implemented")
}

// checkWindow validates the 2-D window attributes of n: two strides and two
// dilations (or kernel sizes) of at least 1, four pads of at least 0.
func checkWindow(n *onnxpb.NodeProto, strides, pads, dilOrKernel []int64) error {
	if len(strides) != 2 || len(pads) != 4 || len(dilOrKernel) != 2 {
		return unsupported(n, "2-D windows only (strides %v, pads %v)", strides, pads)
	}
	for _, v := range append(slices.Clone(strides), dilOrKernel...) {
		if v < 1 {
			return unsupported(n, "strides, dilations and kernel sizes must be at least 1")
		}
	}
	for _, v := range pads {
		if v < 0 {
			return unsupported(n, "negative pads")
		}
	}
	return nil
}

func allOne(v []int64) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}

// forward runs the graph on a batch x of the input's shape; it returns the output.
func (g *graph) forward(x []float32, shape []int64) (*value, error) {
	g.vals = map[string]*value{}
	for name, p := range g.params {
		g.vals[name] = p.v
		p.v.grad = nil
	}
	g.set(g.input, shape, x)
	for _, o := range g.ops {
		if err := o.forward(g); err != nil {
			return nil, err
		}
	}
	y := g.vals[g.output]
	if y == nil {
		return nil, fmt.Errorf("distill: output %q was not computed", g.output)
	}
	return y, nil
}

// backward propagates dy (the gradient of the loss with respect to the output)
// through the graph; parameter gradients land in param.v.grad.
func (g *graph) backward(dy []float32) {
	copy(g.vals[g.output].gradBuf(), dy)
	for i := len(g.ops) - 1; i >= 0; i-- {
		g.ops[i].backward(g)
	}
}

func (g *graph) input4(name string) (*value, error) {
	v := g.vals[name]
	if v == nil {
		return nil, fmt.Errorf("distill: value %q used before it is computed", name)
	}
	return v, nil
}

// ---- operators ----

type conv struct {
	x, y          string
	w, b          *param
	strides, pads []int64
	dil           []int64
	col           []float32 // im2col of the last forward, [C*KH*KW, N*P]
	oh, ow        int
}

func (c *conv) forward(g *graph) error {
	x, err := g.input4(c.x)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 || x.shape[1] != c.w.v.shape[1] {
		return fmt.Errorf("distill: Conv %s: input shape %v does not match weight %v", c.y, x.shape, c.w.v.shape)
	}
	n, ch, h, w := int(x.shape[0]), int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
	m, kh, kw := int(c.w.v.shape[0]), int(c.w.v.shape[2]), int(c.w.v.shape[3])
	sh, sw := int(c.strides[0]), int(c.strides[1])
	dh, dw := int(c.dil[0]), int(c.dil[1])
	pt, pl, pb, pr := int(c.pads[0]), int(c.pads[1]), int(c.pads[2]), int(c.pads[3])
	c.oh = (h+pt+pb-dh*(kh-1)-1)/sh + 1
	c.ow = (w+pl+pr-dw*(kw-1)-1)/sw + 1
	if c.oh <= 0 || c.ow <= 0 {
		return fmt.Errorf("distill: Conv %s: output would be empty", c.y)
	}
	p := c.oh * c.ow
	k := ch * kh * kw
	cols := n * p
	if cap(c.col) < k*cols {
		c.col = make([]float32, k*cols)
	}
	c.col = c.col[:k*cols]
	for ci := 0; ci < ch; ci++ {
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				row := c.col[((ci*kh+i)*kw+j)*cols:][:cols]
				for b := 0; b < n; b++ {
					img := x.data[(b*ch+ci)*h*w:][:h*w]
					for oy := 0; oy < c.oh; oy++ {
						iy := oy*sh - pt + i*dh
						r := row[b*p+oy*c.ow:][:c.ow]
						if iy < 0 || iy >= h {
							clear(r)
							continue
						}
						for ox := range r {
							ix := ox*sw - pl + j*dw
							if ix < 0 || ix >= w {
								r[ox] = 0
							} else {
								r[ox] = img[iy*w+ix]
							}
						}
					}
				}
			}
		}
	}
	tmp := make([]float32, m*cols)
	blas.Sgemm(0, false, false, m, cols, k, 1, c.w.v.data, k, c.col, cols, 0, tmp, cols)
	y := make([]float32, n*m*p)
	for oc := 0; oc < m; oc++ {
		var bias float32
		if c.b != nil {
			bias = c.b.v.data[oc]
		}
		for b := 0; b < n; b++ {
			src := tmp[oc*cols+b*p:][:p]
			dst := y[(b*m+oc)*p:][:p]
			for i, v := range src {
				dst[i] = v + bias
			}
		}
	}
	g.set(c.y, []int64{int64(n), int64(m), int64(c.oh), int64(c.ow)}, y)
	return nil
}

func (c *conv) backward(g *graph) {
	yv, x := g.vals[c.y], g.vals[c.x]
	if yv.grad == nil {
		return
	}
	n, ch, h, w := int(x.shape[0]), int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
	m, kh, kw := int(c.w.v.shape[0]), int(c.w.v.shape[2]), int(c.w.v.shape[3])
	sh, sw := int(c.strides[0]), int(c.strides[1])
	dh, dw := int(c.dil[0]), int(c.dil[1])
	pt, pl := int(c.pads[0]), int(c.pads[1])
	p := c.oh * c.ow
	k := ch * kh * kw
	cols := n * p
	dtmp := make([]float32, m*cols)
	for oc := 0; oc < m; oc++ {
		for b := 0; b < n; b++ {
			copy(dtmp[oc*cols+b*p:][:p], yv.grad[(b*m+oc)*p:][:p])
		}
	}
	if c.b != nil {
		db := c.b.v.gradBuf()
		for oc := 0; oc < m; oc++ {
			var s float32
			for _, v := range dtmp[oc*cols:][:cols] {
				s += v
			}
			db[oc] += s
		}
	}
	blas.Sgemm(0, false, true, m, k, cols, 1, dtmp, cols, c.col, cols, 1, c.w.v.gradBuf(), k)
	if _, isParam := g.params[c.x]; isParam || c.x == g.input {
		return
	}
	dcol := c.col // reuse: the forward columns are no longer needed
	blas.Sgemm(0, true, false, k, cols, m, 1, c.w.v.data, k, dtmp, cols, 0, dcol, cols)
	dx := x.gradBuf()
	for ci := 0; ci < ch; ci++ {
		for i := 0; i < kh; i++ {
			for j := 0; j < kw; j++ {
				row := dcol[((ci*kh+i)*kw+j)*cols:][:cols]
				for b := 0; b < n; b++ {
					img := dx[(b*ch+ci)*h*w:][:h*w]
					for oy := 0; oy < c.oh; oy++ {
						iy := oy*sh - pt + i*dh
						if iy < 0 || iy >= h {
							continue
						}
						r := row[b*p+oy*c.ow:][:c.ow]
						for ox, v := range r {
							ix := ox*sw - pl + j*dw
							if ix >= 0 && ix < w {
								img[iy*w+ix] += v
							}
						}
					}
				}
			}
		}
	}
}

type dense struct {
	x, y   string
	w, b   *param
	transB bool
}

func (d *dense) dims() (k, m int) {
	if d.transB {
		return int(d.w.v.shape[1]), int(d.w.v.shape[0])
	}
	return int(d.w.v.shape[0]), int(d.w.v.shape[1])
}

func (d *dense) forward(g *graph) error {
	x, err := g.input4(d.x)
	if err != nil {
		return err
	}
	k, m := d.dims()
	if len(x.shape) != 2 || int(x.shape[1]) != k {
		return fmt.Errorf("distill: %s: input shape %v does not match weight %v", d.y, x.shape, d.w.v.shape)
	}
	n := int(x.shape[0])
	y := make([]float32, n*m)
	if d.b != nil {
		if len(d.b.v.data) != m {
			return fmt.Errorf("distill: %s: bias of %d elements, want %d", d.y, len(d.b.v.data), m)
		}
		for r := 0; r < n; r++ {
			copy(y[r*m:][:m], d.b.v.data)
		}
	}
	ldw := m
	if d.transB {
		ldw = k
	}
	blas.Sgemm(0, false, d.transB, n, m, k, 1, x.data, k, d.w.v.data, ldw, 1, y, m)
	g.set(d.y, []int64{int64(n), int64(m)}, y)
	return nil
}

func (d *dense) backward(g *graph) {
	yv, x := g.vals[d.y], g.vals[d.x]
	if yv.grad == nil {
		return
	}
	k, m := d.dims()
	n := int(x.shape[0])
	if d.b != nil {
		db := d.b.v.gradBuf()
		for r := 0; r < n; r++ {
			for j, v := range yv.grad[r*m:][:m] {
				db[j] += v
			}
		}
	}
	if d.transB { // W [m, k]: dW += dY^T X
		blas.Sgemm(0, true, false, m, k, n, 1, yv.grad, m, x.data, k, 1, d.w.v.gradBuf(), k)
	} else { // W [k, m]: dW += X^T dY
		blas.Sgemm(0, true, false, k, m, n, 1, x.data, k, yv.grad, m, 1, d.w.v.gradBuf(), m)
	}
	if d.x == g.input {
		return
	}
	ldw := m
	if d.transB {
		ldw = k
	}
	// dX = dY op(W)^T
	blas.Sgemm(0, false, !d.transB, n, k, m, 1, yv.grad, m, d.w.v.data, ldw, 1, x.gradBuf(), k)
}

type relu struct{ x, y string }

func (r *relu) forward(g *graph) error {
	x, err := g.input4(r.x)
	if err != nil {
		return err
	}
	y := make([]float32, len(x.data))
	for i, v := range x.data {
		if v > 0 {
			y[i] = v
		}
	}
	g.set(r.y, x.shape, y)
	return nil
}

func (r *relu) backward(g *graph) {
	y, x := g.vals[r.y], g.vals[r.x]
	if y.grad == nil || r.x == g.input {
		return
	}
	dx := x.gradBuf()
	for i, v := range y.data {
		if v > 0 {
			dx[i] += y.grad[i]
		}
	}
}

type reshape struct {
	x, y    string
	flatten bool
	target  []int64
}

func (r *reshape) forward(g *graph) error {
	x, err := g.input4(r.x)
	if err != nil {
		return err
	}
	shape := slices.Clone(x.shape)
	switch {
	case r.flatten:
		shape = []int64{x.shape[0], tensor.Shape(x.shape[1:]).Elements()}
	case r.target != nil:
		shape = slices.Clone(r.target)
		known, neg := int64(1), -1
		for i, d := range shape {
			switch {
			case d == 0 && i < len(x.shape):
				shape[i] = x.shape[i]
			case d == -1:
				neg = i
				continue
			}
			known *= shape[i]
		}
		total := int64(len(x.data))
		if neg >= 0 && known > 0 {
			shape[neg] = total / known
		}
		if tensor.Shape(shape).Elements() != total {
			return fmt.Errorf("distill: Reshape %s: cannot reshape %v to %v", r.y, x.shape, r.target)
		}
	}
	g.set(r.y, shape, x.data)
	return nil
}

func (r *reshape) backward(g *graph) {
	y, x := g.vals[r.y], g.vals[r.x]
	if y.grad == nil || r.x == g.input {
		return
	}
	dx := x.gradBuf()
	for i, v := range y.grad {
		dx[i] += v
	}
}

type maxPool struct {
	x, y             string
	k, strides, pads []int64
	arg              []int32
}

func (mp *maxPool) forward(g *graph) error {
	x, err := g.input4(mp.x)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 {
		return fmt.Errorf("distill: MaxPool %s: input rank %d, want 4", mp.y, len(x.shape))
	}
	n, c, h, w := int(x.shape[0]), int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
	kh, kw, sh, sw := int(mp.k[0]), int(mp.k[1]), int(mp.strides[0]), int(mp.strides[1])
	pt, pl, pb, pr := int(mp.pads[0]), int(mp.pads[1]), int(mp.pads[2]), int(mp.pads[3])
	oh, ow := (h+pt+pb-kh)/sh+1, (w+pl+pr-kw)/sw+1
	y := make([]float32, n*c*oh*ow)
	mp.arg = make([]int32, len(y))
	for plane := 0; plane < n*c; plane++ {
		img := x.data[plane*h*w:][:h*w]
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, at := float32(math.Inf(-1)), int32(-1)
				for i := 0; i < kh; i++ {
					iy := oy*sh - pt + i
					if iy < 0 || iy >= h {
						continue
					}
					for j := 0; j < kw; j++ {
						ix := ox*sw - pl + j
						if ix >= 0 && ix < w && (at < 0 || img[iy*w+ix] > best) {
							best, at = img[iy*w+ix], int32(iy*w+ix)
						}
					}
				}
				o := (plane*oh+oy)*ow + ox
				y[o], mp.arg[o] = best, at
			}
		}
	}
	g.set(mp.y, []int64{int64(n), int64(c), int64(oh), int64(ow)}, y)
	return nil
}

func (mp *maxPool) backward(g *graph) {
	y, x := g.vals[mp.y], g.vals[mp.x]
	if y.grad == nil || mp.x == g.input {
		return
	}
	dx := x.gradBuf()
	hw := int(x.shape[2] * x.shape[3])
	ohw := int(y.shape[2] * y.shape[3])
	for o, at := range mp.arg {
		if at >= 0 {
			dx[(o/ohw)*hw+int(at)] += y.grad[o]
		}
	}
}

type gap struct{ x, y string }

func (p *gap) forward(g *graph) error {
	x, err := g.input4(p.x)
	if err != nil {
		return err
	}
	if len(x.shape) < 3 {
		return fmt.Errorf("distill: GlobalAveragePool %s: rank %d", p.y, len(x.shape))
	}
	planes := int(x.shape[0] * x.shape[1])
	s := len(x.data) / planes
	y := make([]float32, planes)
	for i := range y {
		var sum float32
		for _, v := range x.data[i*s:][:s] {
			sum += v
		}
		y[i] = sum / float32(s)
	}
	shape := slices.Clone(x.shape)
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	g.set(p.y, shape, y)
	return nil
}

func (p *gap) backward(g *graph) {
	y, x := g.vals[p.y], g.vals[p.x]
	if y.grad == nil || p.x == g.input {
		return
	}
	dx := x.gradBuf()
	s := len(x.data) / len(y.data)
	for i, d := range y.grad {
		for j := range s {
			dx[i*s+j] += d / float32(s)
		}
	}
}

// add supports equal shapes and a constant broadcast along trailing axes
// (bias [C,1,1] against [N,C,H,W], or [M] against [N,M]).
type add struct {
	a, b, y string
	pa, pb  *param
}

// broadcastIndex maps an index of big (row-major) to one of small, numpy rules.
func broadcastIndex(big, small []int64) func(i int) int {
	off := len(big) - len(small)
	return func(i int) int {
		idx, stride := 0, 1
		for d := len(big) - 1; d >= 0; d-- {
			c := i % int(big[d])
			i /= int(big[d])
			if sd := d - off; sd >= 0 {
				if small[sd] != 1 {
					idx += c * stride
				}
				stride *= int(small[sd])
			}
		}
		return idx
	}
}

func (a *add) forward(g *graph) error {
	va, err := g.input4(a.a)
	if err != nil {
		return err
	}
	vb, err := g.input4(a.b)
	if err != nil {
		return err
	}
	if len(vb.data) > len(va.data) {
		return fmt.Errorf("distill: Add %s: the larger operand must come first (%v + %v)", a.y, va.shape, vb.shape)
	}
	if !broadcastable(va.shape, vb.shape) {
		return fmt.Errorf("distill: Add %s: shapes %v and %v do not broadcast", a.y, va.shape, vb.shape)
	}
	y := make([]float32, len(va.data))
	if slices.Equal(va.shape, vb.shape) {
		for i := range y {
			y[i] = va.data[i] + vb.data[i]
		}
	} else {
		ix := broadcastIndex(va.shape, vb.shape)
		for i := range y {
			y[i] = va.data[i] + vb.data[ix(i)]
		}
	}
	g.set(a.y, va.shape, y)
	return nil
}

func broadcastable(big, small []int64) bool {
	if len(small) > len(big) {
		return false
	}
	off := len(big) - len(small)
	for i, d := range small {
		if d != 1 && d != big[off+i] {
			return false
		}
	}
	return true
}

func (a *add) backward(g *graph) {
	y := g.vals[a.y]
	if y.grad == nil {
		return
	}
	va, vb := g.vals[a.a], g.vals[a.b]
	if a.a != g.input {
		da := va.gradBuf()
		for i, v := range y.grad {
			da[i] += v
		}
	}
	if a.b != g.input {
		db := vb.gradBuf()
		if slices.Equal(va.shape, vb.shape) {
			for i, v := range y.grad {
				db[i] += v
			}
		} else {
			ix := broadcastIndex(va.shape, vb.shape)
			for i, v := range y.grad {
				db[ix(i)] += v
			}
		}
	}
}

// batchNorm is inference-mode BatchNormalization (running statistics frozen);
// scale and bias train.
type batchNorm struct {
	x, y                    string
	scale, bias, mean, vari *param
	eps                     float32
}

func (bn *batchNorm) forward(g *graph) error {
	x, err := g.input4(bn.x)
	if err != nil {
		return err
	}
	c := len(bn.scale.v.data)
	if len(x.shape) < 2 || int(x.shape[1]) != c {
		return fmt.Errorf("distill: BatchNormalization %s: input %v, %d channels", bn.y, x.shape, c)
	}
	inner := int(tensor.Shape(x.shape[2:]).Elements())
	y := make([]float32, len(x.data))
	for i, v := range x.data {
		ch := (i / inner) % c
		inv := 1 / float32(math.Sqrt(float64(bn.vari.v.data[ch]+bn.eps)))
		y[i] = (v-bn.mean.v.data[ch])*inv*bn.scale.v.data[ch] + bn.bias.v.data[ch]
	}
	g.set(bn.y, x.shape, y)
	return nil
}

func (bn *batchNorm) backward(g *graph) {
	y, x := g.vals[bn.y], g.vals[bn.x]
	if y.grad == nil {
		return
	}
	c := len(bn.scale.v.data)
	inner := int(tensor.Shape(x.shape[2:]).Elements())
	ds, db := bn.scale.v.gradBuf(), bn.bias.v.gradBuf()
	var dx []float32
	if bn.x != g.input {
		dx = x.gradBuf()
	}
	for i, d := range y.grad {
		ch := (i / inner) % c
		inv := 1 / float32(math.Sqrt(float64(bn.vari.v.data[ch]+bn.eps)))
		ds[ch] += d * (x.data[i] - bn.mean.v.data[ch]) * inv
		db[ch] += d
		if dx != nil {
			dx[i] += d * inv * bn.scale.v.data[ch]
		}
	}
}
