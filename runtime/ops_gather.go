package runtime

import (
	"fmt"
	"slices"
)

// Indexing: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND.
// Every index is bounds-checked (negative indices count from the end) before use.

func init() {
	Register(Op{Type: "Gather", Since: 1, Kernel: gatherKernel})
	Register(Op{Type: "GatherElements", Since: 11, Kernel: gatherElementsKernel})
	Register(Op{Type: "GatherND", Since: 11, Kernel: gatherNDKernel})
	Register(Op{Type: "Scatter", Since: 9, Kernel: scatterElementsKernel})
	Register(Op{Type: "ScatterElements", Since: 11, Kernel: scatterElementsKernel})
	Register(Op{Type: "ScatterND", Since: 11, Kernel: scatterNDKernel})
}

func fixIndex(i, dim int64) (int, error) {
	if i < -dim || i >= dim {
		return 0, fmt.Errorf("index %d out of range for dimension %d", i, dim)
	}
	if i < 0 {
		i += dim
	}
	return int(i), nil
}

func gatherKernel(c *Call) ([]*Value, error) {
	data, ind := c.Input(0), c.Input(1)
	axis64, err := c.Node.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(axis64, len(data.Shape))
	if err != nil {
		return nil, err
	}
	idx, err := ind.AsInt64s()
	if err != nil {
		return nil, err
	}
	shape := slices.Concat(data.Shape[:axis], ind.Shape, data.Shape[axis+1:])
	out, err := c.Alloc(data.DType, shape)
	if err != nil {
		return nil, err
	}
	outer, inner := 1, 1
	for _, d := range data.Shape[:axis] {
		outer *= int(d)
	}
	for _, d := range data.Shape[axis+1:] {
		inner *= int(d)
	}
	dim := data.Shape[axis]
	fixed, err := scratchSlice[int](c, len(idx))
	if err != nil {
		return nil, err
	}
	for i, v := range idx {
		if fixed[i], err = fixIndex(v, dim); err != nil {
			return nil, err
		}
	}
	for o := 0; o < outer; o++ {
		for j, k := range fixed {
			copyAt(out.Data, (o*len(fixed)+j)*inner, data.Data, (o*int(dim)+k)*inner, inner)
		}
	}
	return []*Value{out}, nil
}

// elementTargets maps each element of an indices tensor (same rank as data) to the
// data offset it names along axis.
func elementTargets(data, ind *Value, axis int) ([]int, error) {
	idx, err := ind.AsInt64s()
	if err != nil {
		return nil, err
	}
	if len(ind.Shape) != len(data.Shape) {
		return nil, fmt.Errorf("indices %v and data %v differ in rank", ind, data)
	}
	for i, d := range ind.Shape {
		if i != axis && d > data.Shape[i] {
			return nil, fmt.Errorf("indices %v exceed data %v on axis %d", ind, data, i)
		}
	}
	dstr := stridesOf(data.Shape)
	out := make([]int, len(idx))
	counter := make([]int64, len(ind.Shape))
	for i, v := range idx {
		k, err := fixIndex(v, data.Shape[axis])
		if err != nil {
			return nil, err
		}
		off := 0
		for d, cnt := range counter {
			if d == axis {
				off += k * dstr[d]
			} else {
				off += int(cnt) * dstr[d]
			}
		}
		out[i] = off
		for d := len(counter) - 1; d >= 0; d-- {
			counter[d]++
			if counter[d] < ind.Shape[d] {
				break
			}
			counter[d] = 0
		}
	}
	return out, nil
}

func gatherElementsKernel(c *Call) ([]*Value, error) {
	data, ind := c.Input(0), c.Input(1)
	axis64, err := c.Node.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(axis64, len(data.Shape))
	if err != nil {
		return nil, err
	}
	targets, err := elementTargets(data, ind, axis)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(data.DType, ind.Shape)
	if err != nil {
		return nil, err
	}
	takeIdx(c.Threads(), out.Data, data.Data, targets)
	return []*Value{out}, nil
}

// ndTargets resolves GatherND/ScatterND index tuples: for each tuple (with
// batch_dims leading batch dimensions) the data offset of the addressed slice.
func ndTargets(data, ind *Value, batch int) (targets []int, slice int, err error) {
	idx, err := ind.AsInt64s()
	if err != nil {
		return nil, 0, err
	}
	r := len(ind.Shape)
	if r < 1 || batch < 0 || batch >= r || batch > len(data.Shape) {
		return nil, 0, fmt.Errorf("indices %v with batch_dims %d", ind, batch)
	}
	k := int(ind.Shape[r-1])
	if k+batch > len(data.Shape) {
		return nil, 0, fmt.Errorf("index tuples of %d exceed data rank %d", k, len(data.Shape))
	}
	for i := 0; i < batch; i++ {
		if ind.Shape[i] != data.Shape[i] {
			return nil, 0, fmt.Errorf("batch dims of indices %v and data %v differ", ind, data)
		}
	}
	dstr := stridesOf(data.Shape)
	slice = 1
	for _, d := range data.Shape[batch+k:] {
		slice *= int(d)
	}
	batchSize := 1
	for _, d := range data.Shape[:batch] {
		batchSize *= int(d)
	}
	tuples := len(idx) / max(k, 1)
	if k == 0 {
		tuples = 1
		for _, d := range ind.Shape[:r-1] {
			tuples *= int(d)
		}
	}
	perBatch := tuples / max(batchSize, 1)
	batchStride := 1
	if batch > 0 {
		batchStride = dstr[batch-1]
	} else {
		batchStride = 0
	}
	targets = make([]int, tuples)
	for t := 0; t < tuples; t++ {
		off := 0
		if batch > 0 {
			off = (t / max(perBatch, 1)) * batchStride
		}
		for j := 0; j < k; j++ {
			v, err := fixIndex(idx[t*k+j], data.Shape[batch+j])
			if err != nil {
				return nil, 0, err
			}
			off += v * dstr[batch+j]
		}
		targets[t] = off
	}
	return targets, slice, nil
}

func gatherNDKernel(c *Call) ([]*Value, error) {
	data, ind := c.Input(0), c.Input(1)
	batch, err := c.Node.Int("batch_dims", 0)
	if err != nil {
		return nil, err
	}
	targets, slice, err := ndTargets(data, ind, int(batch))
	if err != nil {
		return nil, err
	}
	r := len(ind.Shape)
	k := int(ind.Shape[r-1])
	shape := slices.Concat(ind.Shape[:r-1], data.Shape[int(batch)+k:])
	out, err := c.Alloc(data.DType, shape)
	if err != nil {
		return nil, err
	}
	for t, off := range targets {
		copyAt(out.Data, t*slice, data.Data, off, slice)
	}
	return []*Value{out}, nil
}

// scatterInto writes (or reduces) updates[i] at out[targets[i]].
func scatterInto(out, updates *Value, targets []int, slice int, reduction string) error {
	if reduction == "" || reduction == "none" {
		for i, t := range targets {
			copyAt(out.Data, t, updates.Data, i*slice, slice)
		}
		return nil
	}
	integer := out.DType.Integer()
	for i, t := range targets {
		for j := 0; j < slice; j++ {
			o, u := t+j, i*slice+j
			if integer {
				a, b := elemInt64(out, o), elemInt64(updates, u)
				var r int64
				switch reduction {
				case "add":
					r = a + b
				case "mul":
					r = a * b
				case "max":
					r = max(a, b)
				case "min":
					r = min(a, b)
				default:
					return fmt.Errorf("reduction %q: %w", reduction, errUnsupported)
				}
				setInt64(out, o, r)
				continue
			}
			a, b := elemFloat64(out, o), elemFloat64(updates, u)
			var r float64
			switch reduction {
			case "add":
				r = a + b
			case "mul":
				r = a * b
			case "max":
				r = max(a, b)
			case "min":
				r = min(a, b)
			default:
				return fmt.Errorf("reduction %q: %w", reduction, errUnsupported)
			}
			setFloat64(out, o, r)
		}
	}
	return nil
}

func scatterElementsKernel(c *Call) ([]*Value, error) {
	data, ind, upd := c.Input(0), c.Input(1), c.Input(2)
	if data == nil || ind == nil || upd == nil {
		return nil, fmt.Errorf("needs data, indices and updates")
	}
	var a attrs
	axis64 := a.int(c.Node, "axis", 0)
	reduction := a.str(c.Node, "reduction", "none")
	if a.err != nil {
		return nil, a.err
	}
	axis, err := normAxis(axis64, len(data.Shape))
	if err != nil {
		return nil, err
	}
	if !slices.Equal(ind.Shape, upd.Shape) || upd.DType != data.DType {
		return nil, fmt.Errorf("indices %v and updates %v must match (data %v)", ind, upd, data)
	}
	targets, err := elementTargets(data, ind, axis)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(data.DType, data.Shape)
	if err != nil {
		return nil, err
	}
	copyAt(out.Data, 0, data.Data, 0, data.Len())
	return []*Value{out}, scatterInto(out, upd, targets, 1, reduction)
}

func scatterNDKernel(c *Call) ([]*Value, error) {
	data, ind, upd := c.Input(0), c.Input(1), c.Input(2)
	if data == nil || ind == nil || upd == nil {
		return nil, fmt.Errorf("needs data, indices and updates")
	}
	reduction, err := c.Node.String("reduction", "none")
	if err != nil {
		return nil, err
	}
	targets, slice, err := ndTargets(data, ind, 0)
	if err != nil {
		return nil, err
	}
	if upd.DType != data.DType || upd.Len() != len(targets)*slice {
		return nil, fmt.Errorf("updates %v do not match indices %v and data %v", upd, ind, data)
	}
	out, err := c.Alloc(data.DType, data.Shape)
	if err != nil {
		return nil, err
	}
	copyAt(out.Data, 0, data.Data, 0, data.Len())
	return []*Value{out}, scatterInto(out, upd, targets, slice, reduction)
}
