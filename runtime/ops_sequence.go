package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

// Sequence and optional operators. Containers are immutable: every kernel returns a
// new container sharing the (read-only) element values.

func init() {
	Register(Op{Type: "SequenceEmpty", Since: 11, Kernel: sequenceEmptyKernel})
	Register(Op{Type: "SequenceConstruct", Since: 11, Kernel: sequenceConstructKernel})
	Register(Op{Type: "SequenceAt", Since: 11, Kernel: sequenceAtKernel})
	Register(Op{Type: "SequenceInsert", Since: 11, Kernel: sequenceInsertKernel})
	Register(Op{Type: "SequenceErase", Since: 11, Kernel: sequenceEraseKernel})
	Register(Op{Type: "SequenceLength", Since: 11, Kernel: sequenceLengthKernel})
	Register(Op{Type: "SplitToSequence", Since: 11, Kernel: splitToSequenceKernel})
	Register(Op{Type: "ConcatFromSequence", Since: 11, Kernel: concatFromSequenceKernel})
	Register(Op{Type: "SequenceMap", Since: 17, Kernel: sequenceMapKernel})
	Register(Op{Type: "Optional", Since: 15, Kernel: optionalKernel})
	Register(Op{Type: "OptionalHasElement", Since: 15, Kernel: optionalHasElementKernel})
	Register(Op{Type: "OptionalGetElement", Since: 15, Kernel: optionalGetElementKernel})
}

func sequenceEmptyKernel(c *Call) ([]*Value, error) {
	code, err := c.Node.Int("dtype", 1)
	if err != nil {
		return nil, err
	}
	dt, ok := dtypeFromONNX(int32(code))
	if !ok {
		return nil, fmt.Errorf("dtype %d: %w", code, errUnsupported)
	}
	return []*Value{NewSequence(dt)}, nil
}

func sequenceConstructKernel(c *Call) ([]*Value, error) {
	if len(c.Inputs) == 0 {
		return nil, fmt.Errorf("needs at least one input")
	}
	for i := range c.Inputs {
		v, err := tensorInput(c, i)
		if err != nil {
			return nil, err
		}
		if v.DType != c.Inputs[0].DType {
			return nil, fmt.Errorf("inputs %v and %v differ in dtype", c.Inputs[0], v)
		}
	}
	return []*Value{NewSequence(c.Inputs[0].DType, c.Inputs...)}, nil
}

func sequenceAtKernel(c *Call) ([]*Value, error) {
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	p, err := tensorInput(c, 1)
	if err != nil {
		return nil, err
	}
	pos, err := seqPosition(p, len(s.Elems), false)
	if err != nil {
		return nil, err
	}
	return []*Value{s.Elems[pos]}, nil
}

func sequenceInsertKernel(c *Call) ([]*Value, error) {
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	v, err := tensorInput(c, 1)
	if err != nil {
		return nil, err
	}
	if s.DType != tensor.Invalid && v.DType != s.DType {
		return nil, fmt.Errorf("cannot insert %v into a sequence of %v", v, s.DType)
	}
	pos := len(s.Elems)
	if p := c.Input(2); p != nil {
		if pos, err = seqPosition(p, len(s.Elems), true); err != nil {
			return nil, err
		}
	}
	out := NewSequence(v.DType, v)
	out.Elems = slices.Insert(slices.Clone(s.Elems), pos, out.Elems[0])
	return []*Value{out}, nil
}

func sequenceEraseKernel(c *Call) ([]*Value, error) {
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	if len(s.Elems) == 0 {
		return nil, fmt.Errorf("cannot erase from an empty sequence")
	}
	pos := len(s.Elems) - 1
	if p := c.Input(1); p != nil {
		if pos, err = seqPosition(p, len(s.Elems), false); err != nil {
			return nil, err
		}
	}
	return []*Value{seqWith(s, slices.Delete(slices.Clone(s.Elems), pos, pos+1))}, nil
}

func sequenceLengthKernel(c *Call) ([]*Value, error) {
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.I64, []int64{})
	if err != nil {
		return nil, err
	}
	out.Data.([]int64)[0] = int64(len(s.Elems))
	return []*Value{out}, nil
}

func splitToSequenceKernel(c *Call) ([]*Value, error) {
	x, err := tensorInput(c, 0)
	if err != nil {
		return nil, err
	}
	var a attrs
	axis64 := a.int(c.Node, "axis", 0)
	keepDims := a.int(c.Node, "keepdims", 1)
	if a.err != nil {
		return nil, a.err
	}
	axis, err := normAxis(axis64, x.Rank())
	if err != nil {
		return nil, err
	}
	dim := x.Shape[axis]
	var split []int64
	squeeze := false
	switch sp := c.Input(1); {
	case sp == nil:
		split = slices.Repeat([]int64{1}, int(dim))
		squeeze = keepDims == 0
	case sp.Rank() == 0:
		chunk := elemInt64(sp, 0)
		if !sp.DType.Integer() || chunk <= 0 {
			return nil, fmt.Errorf("split %v must be a positive integer", sp)
		}
		for left := dim; left > 0; left -= chunk {
			split = append(split, min(chunk, left))
		}
	default:
		if split, err = sp.AsInt64s(); err != nil || sp.Rank() != 1 {
			return nil, fmt.Errorf("split %v must be an integer scalar or 1-D tensor", sp)
		}
		var sum int64
		for _, s := range split {
			if s < 0 {
				return nil, fmt.Errorf("negative split %v", split)
			}
			sum += s
		}
		if sum != dim {
			return nil, fmt.Errorf("split %v does not add up to dimension %d of %v", split, dim, x)
		}
	}
	outer, inner := 1, 1
	for _, d := range x.Shape[:axis] {
		outer *= int(d)
	}
	for _, d := range x.Shape[axis+1:] {
		inner *= int(d)
	}
	elems := make([]*Value, 0, len(split))
	start := 0
	for _, s := range split {
		shape := slices.Clone(x.Shape)
		shape[axis] = s
		o := NewValue(x.DType, shape)
		blk := int(s) * inner
		for k := 0; k < outer; k++ {
			copyAt(o.Data, k*blk, x.Data, k*int(dim)*inner+start*inner, blk)
		}
		start += int(s)
		if squeeze {
			o.Shape = slices.Delete(o.Shape, axis, axis+1)
		}
		elems = append(elems, o)
	}
	return []*Value{NewSequence(x.DType, elems...)}, nil
}

func concatFromSequenceKernel(c *Call) ([]*Value, error) {
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	var a attrs
	axis := a.int(c.Node, "axis", 0)
	newAxis := a.int(c.Node, "new_axis", 0)
	if a.err != nil {
		return nil, a.err
	}
	if !c.Node.Has("axis") {
		return nil, fmt.Errorf("attribute axis is required")
	}
	if len(s.Elems) == 0 {
		return nil, fmt.Errorf("cannot concatenate an empty sequence")
	}
	ins := slices.Clone(s.Elems)
	for i, e := range ins {
		if e.Kind != KindTensor {
			return nil, fmt.Errorf("element %d is a %v", i, e.Kind)
		}
	}
	if newAxis != 0 {
		r := ins[0].Rank()
		ax, err := normAxis(axis, r+1)
		if err != nil {
			return nil, err
		}
		for i, e := range ins {
			ins[i] = View(e, slices.Insert(slices.Clone(e.Shape), ax, 1))
		}
		axis = int64(ax)
	}
	node := &Node{Name: c.Node.Name, OpType: "Concat", Attrs: map[string]*Attr{"axis": {Name: "axis", Kind: AttrInt, Int: axis}}}
	sub := *c
	sub.Node, sub.Inputs = node, ins
	return concatKernel(&sub)
}

func sequenceMapKernel(c *Call) ([]*Value, error) {
	body, err := c.Node.GraphAttr("body")
	if err != nil {
		return nil, err
	}
	s, err := sequenceInput(c, 0)
	if err != nil {
		return nil, err
	}
	n := len(s.Elems)
	for i, v := range c.Inputs {
		if v == nil {
			return nil, fmt.Errorf("input %d is omitted", i)
		}
		if v.Kind == KindSequence && len(v.Elems) != n {
			return nil, fmt.Errorf("sequence input %d has %d elements, input 0 has %d", i, len(v.Elems), n)
		}
	}
	if len(body.Inputs) != len(c.Inputs) || len(body.Outputs) != len(c.Node.Outputs) {
		return nil, fmt.Errorf("body takes %d inputs and gives %d outputs; the node has %d and %d", len(body.Inputs), len(body.Outputs), len(c.Inputs), len(c.Node.Outputs))
	}
	results := make([][]*Value, len(body.Outputs))
	for i := 0; i < n; i++ {
		if err := c.countIteration(); err != nil {
			return nil, err
		}
		in := make([]*Value, len(c.Inputs))
		for j, v := range c.Inputs {
			in[j] = v
			if v.Kind == KindSequence {
				in[j] = v.Elems[i]
			}
		}
		outs, err := c.RunGraph(body, in)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		if err := collect(c, results, outs); err != nil {
			return nil, err
		}
	}
	res := make([]*Value, len(results))
	for k, r := range results {
		dt := body.Outputs[k].DType
		if len(r) > 0 {
			dt = r[0].DType
		}
		res[k] = NewSequence(dt, r...)
	}
	return res, nil
}

func optionalKernel(c *Call) ([]*Value, error) {
	v := c.Input(0)
	if v == nil {
		// The element type comes from the "type" attribute, which the runtime does
		// not decode: an empty optional of unknown type.
		return []*Value{NewOptional(tensor.Invalid, nil)}, nil
	}
	return []*Value{NewOptional(v.DType, v)}, nil
}

func optionalHasElementKernel(c *Call) ([]*Value, error) {
	v := c.Input(0)
	has := v != nil && (v.Kind != KindOptional || len(v.Elems) == 1)
	out, err := c.Alloc(tensor.Bool, []int64{})
	if err != nil {
		return nil, err
	}
	out.Data.([]bool)[0] = has
	return []*Value{out}, nil
}

func optionalGetElementKernel(c *Call) ([]*Value, error) {
	v := c.Input(0)
	if v == nil {
		return nil, fmt.Errorf("input is omitted")
	}
	if v.Kind != KindOptional {
		return []*Value{v}, nil
	}
	if len(v.Elems) == 0 {
		return nil, fmt.Errorf("the optional is empty")
	}
	return []*Value{v.Elems[0]}, nil
}
