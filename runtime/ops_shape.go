package runtime

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit"

	"github.com/refit-ml/refit/tensor"
)

// Shape and data-movement operators.

func init() {
	Register(Op{Type: "Identity", Since: 1, Kernel: identityKernel})
	Register(Op{Type: "Dropout", Since: 1, Kernel: dropoutKernel})
	Register(Op{Type: "Reshape", Since: 1, Kernel: reshapeKernel})
	Register(Op{Type: "Flatten", Since: 1, Kernel: flattenKernel})
	Register(Op{Type: "Squeeze", Since: 1, Kernel: squeezeKernel})
	Register(Op{Type: "Unsqueeze", Since: 1, Kernel: unsqueezeKernel})
	Register(Op{Type: "Transpose", Since: 1, Kernel: transposeKernel})
	Register(Op{Type: "Concat", Since: 1, Kernel: concatKernel})
	Register(Op{Type: "Split", Since: 1, Kernel: splitKernel})
	Register(Op{Type: "Slice", Since: 1, Kernel: sliceKernel})
	Register(Op{Type: "Expand", Since: 8, Kernel: expandKernel})
	Register(Op{Type: "Tile", Since: 1, Kernel: tileKernel})
	Register(Op{Type: "Shape", Since: 1, Kernel: shapeKernel})
	Register(Op{Type: "Size", Since: 1, Kernel: sizeKernel})
	Register(Op{Type: "Constant", Since: 1, Kernel: constantKernel})
	Register(Op{Type: "ConstantOfShape", Since: 9, Kernel: constantOfShapeKernel})
	Register(Op{Type: "Range", Since: 11, Kernel: rangeKernel})
	Register(Op{Type: "Pad", Since: 1, Kernel: padKernel})
}

func identityKernel(c *Call) ([]*Value, error) {
	return []*Value{View(c.Input(0), c.Input(0).Shape)}, nil
}

func dropoutKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if t := c.Input(2); t != nil && t.Len() == 1 && elemInt64(t, 0) != 0 {
		if r := c.Input(1); r == nil || elemFloat64(r, 0) != 0 {
			return nil, fmt.Errorf("training-mode Dropout is random: %w", errUnsupported)
		}
	}
	mask, err := c.Alloc(tensor.Bool, x.Shape)
	if err != nil {
		return nil, err
	}
	m := mask.Data.([]bool)
	for i := range m {
		m[i] = true
	}
	return []*Value{View(x, x.Shape), mask}, nil
}

// shapeInput reads an int64 shape-like input, or the named ints attribute for old
// opsets (attrSince is the opset from which the input replaces the attribute).
func shapeInput(c *Call, idx int, attr string, attrBefore int64) ([]int64, bool, error) {
	if c.Opset < attrBefore {
		if !c.Node.Has(attr) {
			return nil, false, nil
		}
		v, err := c.Node.Ints(attr, nil)
		return v, err == nil, err
	}
	v := c.Input(idx)
	if v == nil {
		return nil, false, nil
	}
	s, err := v.AsInt64s()
	return s, err == nil, err
}

func reshapeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	shape, ok, err := shapeInput(c, 1, "shape", 5)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("shape is required")
	}
	allowZero, err := c.Node.Int("allowzero", 0)
	if err != nil {
		return nil, err
	}
	out, err := resolveReshape(x.Shape, shape, allowZero != 0)
	if err != nil {
		return nil, err
	}
	return []*Value{View(x, out)}, nil
}

func resolveReshape(in, shape []int64, allowZero bool) ([]int64, error) {
	out := slices.Clone(shape)
	infer := -1
	known := int64(1)
	for i, d := range out {
		switch {
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v, which does not exist", shape, i, in)
			}
			out[i] = in[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", shape)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		known *= out[i]
	}
	n, err := numElements(in)
	if err != nil {
		return nil, err
	}
	if infer >= 0 {
		if known == 0 || int64(n)%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", tensor.Shape(in), shape)
		}
		out[infer] = int64(n) / known
	}
	if m, err := numElements(out); err != nil || m != n {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", tensor.Shape(in), n, shape)
	}
	return out, nil
}

func flattenKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	axis, err := c.Node.Int("axis", 1)
	if err != nil {
		return nil, err
	}
	r := len(x.Shape)
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis > int64(r) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	a, b := int64(1), int64(1)
	for i, d := range x.Shape {
		if int64(i) < axis {
			a *= d
		} else {
			b *= d
		}
	}
	return []*Value{View(x, []int64{a, b})}, nil
}

func axesArg(c *Call, idx int, attrBefore int64) ([]int64, bool, error) {
	return shapeInput(c, idx, "axes", attrBefore)
}

func squeezeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	axes, ok, err := axesArg(c, 1, 13)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, len(x.Shape))
	if !ok {
		for i, d := range x.Shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		i, err := normAxis(a, len(x.Shape))
		if err != nil {
			return nil, err
		}
		if x.Shape[i] != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of %v: size is not 1", a, tensor.Shape(x.Shape))
		}
		drop[i] = true
	}
	out := []int64{}
	for i, d := range x.Shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return []*Value{View(x, out)}, nil
}

func unsqueezeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	axes, ok, err := axesArg(c, 1, 13)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("axes are required")
	}
	r := len(x.Shape) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		i, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		if ins[i] {
			return nil, fmt.Errorf("axis %d repeated", a)
		}
		ins[i] = true
	}
	out := make([]int64, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ins[i] {
			out = append(out, 1)
		} else {
			out = append(out, x.Shape[j])
			j++
		}
	}
	return []*Value{View(x, out)}, nil
}

// permuteIndex returns, for each output element, the input offset of a tensor of
// shape in transposed by perm.
func permuteIndex(c *Call, in []int64, perm []int) ([]int64, []int, error) {
	r := len(in)
	out := make([]int64, r)
	istr := stridesOf(in)
	pstr := make([]int, r)
	for i, p := range perm {
		out[i] = in[p]
		pstr[i] = istr[p]
	}
	n := 1
	for _, d := range out {
		n *= int(d)
	}
	idx, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, nil, err
	}
	counter := make([]int, r)
	off := 0
	for i := 0; i < n; i++ {
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			counter[k]++
			off += pstr[k]
			if counter[k] < int(out[k]) {
				break
			}
			off -= pstr[k] * counter[k]
			counter[k] = 0
		}
	}
	return out, idx, nil
}

func transposeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	r := len(x.Shape)
	p, err := c.Node.Ints("perm", nil)
	if err != nil {
		return nil, err
	}
	perm := make([]int, r)
	if p == nil {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	} else {
		if len(p) != r {
			return nil, fmt.Errorf("perm %v does not match rank %d", p, r)
		}
		seen := make([]bool, r)
		for i, a := range p {
			j, err := normAxis(a, r)
			if err != nil || seen[j] {
				return nil, fmt.Errorf("perm %v is not a permutation", p)
			}
			seen[j], perm[i] = true, j
		}
	}
	shape := make([]int64, r)
	istr := stridesOf(x.Shape)
	pstr := make([]int, r)
	for i, p := range perm {
		shape[i], pstr[i] = x.Shape[p], istr[p]
	}
	if x.Kind == KindTensor && keepsOrder(x.Shape, perm) {
		return []*Value{View(x, shape)}, nil // only size-1 axes move: a reshape
	}
	out, err := c.allocRaw(x.DType, shape)
	if err != nil {
		return nil, err
	}
	if !stridedCopy(c.Threads(), out.Data, x.Data, shape, 0, pstr) {
		_, idx, err := permuteIndex(c, x.Shape, perm)
		if err != nil {
			return nil, err
		}
		takeIdx(c.Threads(), out.Data, x.Data, idx)
	}
	return []*Value{out}, nil
}

// keepsOrder reports whether perm keeps the axes of shape longer than 1 in their
// order, so the permuted tensor has the same elements in the same memory order.
func keepsOrder(shape []int64, perm []int) bool {
	last := -1
	for _, p := range perm {
		if shape[p] == 1 {
			continue
		}
		if p < last {
			return false
		}
		last = p
	}
	return true
}

func concatKernel(c *Call) ([]*Value, error) {
	var ins []*Value
	for _, v := range c.Inputs {
		if v != nil {
			ins = append(ins, v)
		}
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("needs at least one input")
	}
	axis64, err := c.Node.Int("axis", 1)
	if err != nil {
		return nil, err
	}
	first := ins[0]
	axis, err := normAxis(axis64, len(first.Shape))
	if err != nil {
		return nil, err
	}
	shape := slices.Clone(first.Shape)
	shape[axis] = 0
	for _, v := range ins {
		if v.DType != first.DType || len(v.Shape) != len(shape) {
			return nil, fmt.Errorf("inputs %v and %v cannot be concatenated", first, v)
		}
		for i, d := range v.Shape {
			if i != axis && d != shape[i] {
				return nil, fmt.Errorf("inputs %v and %v differ outside axis %d", first, v, axis)
			}
		}
		shape[axis] += v.Shape[axis]
	}
	out, err := c.Alloc(first.DType, shape)
	if err != nil {
		return nil, err
	}
	outer := 1
	for _, d := range shape[:axis] {
		outer *= int(d)
	}
	inner := 1
	for _, d := range shape[axis+1:] {
		inner *= int(d)
	}
	rowOut := int(shape[axis]) * inner
	off := 0
	for _, v := range ins {
		blk := int(v.Shape[axis]) * inner
		for o := 0; o < outer; o++ {
			copyAt(out.Data, o*rowOut+off, v.Data, o*blk, blk)
		}
		off += blk
	}
	return []*Value{out}, nil
}

func splitKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	var a attrs
	axis64 := a.int(c.Node, "axis", 0)
	numOut := a.int(c.Node, "num_outputs", 0)
	if a.err != nil {
		return nil, a.err
	}
	axis, err := normAxis(axis64, len(x.Shape))
	if err != nil {
		return nil, err
	}
	split, ok, err := shapeInput(c, 1, "split", 13)
	if err != nil {
		return nil, err
	}
	dim := x.Shape[axis]
	if !ok {
		n := int64(len(c.Node.Outputs))
		if numOut > 0 {
			n = numOut
		}
		chunk := (dim + n - 1) / n
		for i := int64(0); i < n; i++ {
			split = append(split, max(0, min(chunk, dim-i*chunk)))
		}
	}
	var sum int64
	for _, s := range split {
		if s < 0 {
			return nil, fmt.Errorf("negative split %v", split)
		}
		sum += s
	}
	if sum != dim {
		return nil, fmt.Errorf("split %v does not add up to dimension %d of %v", split, dim, tensor.Shape(x.Shape))
	}
	outer := 1
	for _, d := range x.Shape[:axis] {
		outer *= int(d)
	}
	inner := 1
	for _, d := range x.Shape[axis+1:] {
		inner *= int(d)
	}
	var outs []*Value
	var start int
	for _, s := range split {
		shape := slices.Clone(x.Shape)
		shape[axis] = s
		o, err := c.Alloc(x.DType, shape)
		if err != nil {
			return nil, err
		}
		blk := int(s) * inner
		for k := 0; k < outer; k++ {
			copyAt(o.Data, k*blk, x.Data, k*int(dim)*inner+start*inner, blk)
		}
		start += int(s)
		outs = append(outs, o)
	}
	return outs, nil
}

func sliceKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	r := len(x.Shape)
	var starts, ends, axes, steps []int64
	var err error
	if c.Opset < 10 {
		var a attrs
		starts = a.ints(c.Node, "starts", nil)
		ends = a.ints(c.Node, "ends", nil)
		axes = a.ints(c.Node, "axes", nil)
		if err = a.err; err != nil {
			return nil, err
		}
	} else {
		get := func(i int) []int64 {
			if v := c.Input(i); v != nil && err == nil {
				var s []int64
				s, err = v.AsInt64s()
				return s
			}
			return nil
		}
		starts, ends, axes, steps = get(1), get(2), get(3), get(4)
		if err != nil {
			return nil, err
		}
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	begin := make([]int64, r)
	step := make([]int64, r)
	shape := slices.Clone(x.Shape)
	for i := range step {
		step[i] = 1
	}
	for i, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		d := x.Shape[ax]
		st, en, sp := starts[i], ends[i], steps[i]
		if sp == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		if st < 0 {
			st += d
		}
		if en < 0 {
			en += d
		}
		if sp > 0 {
			st, en = clamp(st, 0, d), clamp(en, 0, d)
		} else {
			st, en = clamp(st, 0, d-1), clamp(en, -1, d-1)
		}
		n := int64(0)
		if sp > 0 && en > st {
			n = (en - st + sp - 1) / sp
		} else if sp < 0 && st > en {
			n = (st - en - sp - 1) / -sp
		}
		begin[ax], step[ax], shape[ax] = st, sp, n
	}
	out, err := c.allocRaw(x.DType, shape)
	if err != nil {
		return nil, err
	}
	total := out.Len()
	if total == 0 {
		return []*Value{out}, nil
	}
	istr := stridesOf(x.Shape)
	base := 0
	for k := range begin {
		base += int(begin[k]) * istr[k]
	}
	sstr := make([]int, r)
	for k := range sstr {
		sstr[k] = int(step[k]) * istr[k]
	}
	if stridedCopy(c.Threads(), out.Data, x.Data, shape, base, sstr) {
		return []*Value{out}, nil
	}
	idx, err := scratchSlice[int](c, total)
	if err != nil {
		return nil, err
	}
	counter := make([]int64, r)
	off := base
	for i := 0; i < total; i++ {
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			counter[k]++
			off += int(step[k]) * istr[k]
			if counter[k] < shape[k] {
				break
			}
			off -= int(step[k]*counter[k]) * istr[k]
			counter[k] = 0
		}
	}
	takeIdx(c.Threads(), out.Data, x.Data, idx)
	return []*Value{out}, nil
}

func clamp(x, lo, hi int64) int64 { return max(lo, min(x, hi)) }

func expandKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	shape, err := c.Input(1).AsInt64s()
	if err != nil {
		return nil, err
	}
	out, err := BroadcastShape(x.Shape, shape)
	if err != nil {
		return nil, err
	}
	v, err := c.Alloc(x.DType, out)
	if err != nil {
		return nil, err
	}
	broadcastValue(c.Threads(), v, x)
	return []*Value{v}, nil
}

// broadcastGather is how many elements broadcastValue gathers per index table: the
// table stays small whatever the output's size.
const broadcastGather = 1 << 20

// broadcastValue fills dst by broadcasting src to dst's shape.
func broadcastValue(threads int, dst, src *Value) {
	n := dst.Len()
	if n == 0 {
		return
	}
	bc := newBcast(dst.Shape, src.Shape)
	idx := make([]int, 0, min(n, broadcastGather))
	done := 0
	flush := func() {
		takeIdx(threads, sliceRange(dst.Data, done, done+len(idx)), src.Data, idx)
		done += len(idx)
		idx = idx[:0]
	}
	rl := bc.rowLen()
	s := bc.inner(0)
	offs := make([]int, 1)
	for r := 0; r < bc.rows; r++ {
		bc.offsets(r, offs)
		for i := 0; i < rl; i++ {
			idx = append(idx, offs[0]+i*s)
			if len(idx) == cap(idx) {
				flush()
			}
		}
	}
	if len(idx) > 0 {
		flush()
	}
}

func tileKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	reps, err := c.Input(1).AsInt64s()
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.Shape) {
		return nil, fmt.Errorf("repeats %v do not match rank %d", reps, len(x.Shape))
	}
	shape := make([]int64, len(reps))
	for i, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("negative repeat %v", reps)
		}
		shape[i] = x.Shape[i] * r
	}
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	n := out.Len()
	istr := stridesOf(x.Shape)
	idx, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, err
	}
	counter := make([]int64, len(shape))
	for i := 0; i < n; i++ {
		off := 0
		for k, cnt := range counter {
			off += int(cnt%x.Shape[k]) * istr[k]
		}
		idx[i] = off
		for k := len(shape) - 1; k >= 0; k-- {
			counter[k]++
			if counter[k] < shape[k] {
				break
			}
			counter[k] = 0
		}
	}
	takeIdx(c.Threads(), out.Data, x.Data, idx)
	return []*Value{out}, nil
}

func shapeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	r := int64(len(x.Shape))
	var a attrs
	start := a.int(c.Node, "start", 0)
	end := a.int(c.Node, "end", r)
	if a.err != nil {
		return nil, a.err
	}
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start, end = clamp(start, 0, r), clamp(end, 0, r)
	dims := []int64{}
	if end > start {
		dims = slices.Clone(x.Shape[start:end])
	}
	return []*Value{{DType: tensor.I64, Shape: []int64{int64(len(dims))}, Data: dims}}, nil
}

func sizeKernel(c *Call) ([]*Value, error) {
	return []*Value{Scalar(int64(c.Input(0).Len()))}, nil
}

func constantKernel(c *Call) ([]*Value, error) {
	n := c.Node
	if t, err := n.TensorAttr("value"); err != nil || t != nil {
		if t == nil {
			return nil, err
		}
		return []*Value{View(t, t.Shape)}, nil
	}
	if a, ok := n.Attrs["value_float"]; ok {
		return []*Value{Scalar(a.Float)}, nil
	}
	if a, ok := n.Attrs["value_int"]; ok {
		return []*Value{Scalar(a.Int)}, nil
	}
	if a, ok := n.Attrs["value_floats"]; ok {
		return []*Value{{DType: tensor.F32, Shape: []int64{int64(len(a.Floats))}, Data: slices.Clone(a.Floats)}}, nil
	}
	if a, ok := n.Attrs["value_ints"]; ok {
		return []*Value{{DType: tensor.I64, Shape: []int64{int64(len(a.Ints))}, Data: slices.Clone(a.Ints)}}, nil
	}
	return nil, fmt.Errorf("no supported value attribute (sparse and string constants are unsupported): %w", errUnsupported)
}

func constantOfShapeKernel(c *Call) ([]*Value, error) {
	shape, err := c.Input(0).AsInt64s()
	if err != nil {
		return nil, err
	}
	if _, err := numElements(shape); err != nil {
		return nil, err
	}
	fill, err := c.Node.TensorAttr("value")
	if err != nil {
		return nil, err
	}
	if fill == nil {
		fill = Scalar(float32(0))
	}
	if fill.Len() != 1 {
		return nil, fmt.Errorf("value must hold one element, has %d", fill.Len())
	}
	out, err := c.Alloc(fill.DType, shape)
	if err != nil {
		return nil, err
	}
	if err := fillFrom(out, fill); err != nil {
		return nil, err
	}
	return []*Value{out}, nil
}

func rangeKernel(c *Call) ([]*Value, error) {
	s, l, d := c.Input(0), c.Input(1), c.Input(2)
	if s == nil || l == nil || d == nil || s.Len() != 1 || l.Len() != 1 || d.Len() != 1 {
		return nil, fmt.Errorf("start, limit and delta must be scalars")
	}
	if s.DType.Float() {
		start, limit, delta := elemFloat64(s, 0), elemFloat64(l, 0), elemFloat64(d, 0)
		if delta == 0 {
			return nil, fmt.Errorf("delta is 0")
		}
		count := (limit - start) / delta
		if math.IsNaN(count) || math.IsInf(count, 0) {
			return nil, fmt.Errorf("range from %v to %v by %v has no finite length: %w", start, limit, delta, refit.ErrFormat)
		}
		if count > 1<<32 {
			return nil, fmt.Errorf("range of %.0f elements: %w", math.Ceil(count), ErrTooLarge)
		}
		n := int64(0)
		if count > 0 {
			n = int64(math.Ceil(count))
		}
		out, err := c.Alloc(s.DType, []int64{n})
		if err != nil {
			return nil, err
		}
		for i := 0; i < int(n); i++ {
			setFloat64(out, i, start+float64(i)*delta)
		}
		return []*Value{out}, nil
	}
	start, limit, delta := elemInt64(s, 0), elemInt64(l, 0), elemInt64(d, 0)
	if delta == 0 {
		return nil, fmt.Errorf("delta is 0")
	}
	// The distance and step in uint64, so that limit-start cannot overflow.
	var dist, step uint64
	switch {
	case delta > 0 && limit > start:
		dist, step = uint64(limit)-uint64(start), uint64(delta)
	case delta < 0 && limit < start:
		dist, step = uint64(start)-uint64(limit), -uint64(delta)
	}
	var count uint64
	if step != 0 { // else the range is empty
		count = dist / step
		if dist%step != 0 {
			count++
		}
	}
	if count > 1<<32 {
		return nil, fmt.Errorf("range from %d to %d by %d has %d elements: %w", start, limit, delta, count, ErrTooLarge)
	}
	n := int64(count)
	out, err := c.Alloc(s.DType, []int64{n})
	if err != nil {
		return nil, err
	}
	for i := int64(0); i < n; i++ {
		setInt64(out, int(i), start+i*delta)
	}
	return []*Value{out}, nil
}

func padKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	r := len(x.Shape)
	mode, err := c.Node.String("mode", "constant")
	if err != nil {
		return nil, err
	}
	var pads []int64
	fill := Scalar(float32(0))
	if c.Opset < 11 {
		var a attrs
		pads = a.ints(c.Node, "pads", a.ints(c.Node, "paddings", nil))
		fill = Scalar(a.float(c.Node, "value", 0))
		if a.err != nil {
			return nil, a.err
		}
	} else {
		if pads, err = c.Input(1).AsInt64s(); err != nil {
			return nil, err
		}
		if v := c.Input(2); v != nil && v.Len() == 1 {
			fill = v
		}
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if v := c.Input(3); v != nil {
		ax, err := v.AsInt64s()
		if err != nil {
			return nil, err
		}
		axes = axes[:0]
		for _, a := range ax {
			i, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			axes = append(axes, i)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v need %d values", pads, 2*len(axes))
	}
	before := make([]int64, r)
	after := make([]int64, r)
	for i, a := range axes {
		before[a], after[a] = pads[i], pads[i+len(axes)]
	}
	shape := make([]int64, r)
	for i := range shape {
		shape[i] = x.Shape[i] + before[i] + after[i]
		if shape[i] < 0 {
			return nil, fmt.Errorf("pads %v make dimension %d negative", pads, i)
		}
	}
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	n := out.Len()
	if n == 0 {
		return []*Value{out}, nil
	}
	// Source index per output element; -1 for the constant.
	istr := stridesOf(x.Shape)
	idx, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, err
	}
	counter := make([]int64, r)
	for i := 0; i < n; i++ {
		off := 0
		for k := 0; k < r && off >= 0; k++ {
			p := counter[k] - before[k]
			d := x.Shape[k]
			if p < 0 || p >= d {
				switch mode {
				case "constant":
					off = -1
					continue
				case "edge":
					p = clamp(p, 0, d-1)
				case "reflect":
					if d == 1 {
						p = 0
						break
					}
					period := 2 * (d - 1)
					p = ((p % period) + period) % period
					if p >= d {
						p = period - p
					}
				case "wrap":
					p = ((p % d) + d) % d
				default:
					return nil, fmt.Errorf("mode %q: %w", mode, errUnsupported)
				}
			}
			off += int(p) * istr[k]
		}
		idx[i] = off
		for k := r - 1; k >= 0; k-- {
			counter[k]++
			if counter[k] < shape[k] {
				break
			}
			counter[k] = 0
		}
	}
	if x.Len() == 0 && mode != "constant" {
		return nil, fmt.Errorf("cannot %s-pad an empty tensor", mode)
	}
	fv, err := castValue(c, fill, x.DType)
	if err != nil {
		return nil, err
	}
	// Gather from [x..., fill]: the fill value sits at index len(x).
	src := NewValue(x.DType, []int64{int64(x.Len() + 1)})
	copyAt(src.Data, 0, x.Data, 0, x.Len())
	copyAt(src.Data, x.Len(), fv.Data, 0, 1)
	for i, v := range idx {
		if v < 0 {
			idx[i] = x.Len()
		}
	}
	takeIdx(c.Threads(), out.Data, src.Data, idx)
	return []*Value{out}, nil
}
