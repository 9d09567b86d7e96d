package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

// Control flow: If and Loop run subgraphs (node attributes) that may read any value
// of the enclosing graphs by name.

func init() {
	Register(Op{Type: "If", Since: 1, Kernel: ifKernel})
	Register(Op{Type: "Loop", Since: 1, Kernel: loopKernel})
}

func scalarBool(v *Value) (bool, error) {
	if v == nil || v.Len() != 1 {
		return false, fmt.Errorf("condition must hold one element, have %v", v)
	}
	return elemFloat64(v, 0) != 0, nil
}

func ifKernel(c *Call) ([]*Value, error) {
	cond, err := scalarBool(c.Input(0))
	if err != nil {
		return nil, err
	}
	name := "else_branch"
	if cond {
		name = "then_branch"
	}
	g, err := c.Node.GraphAttr(name)
	if err != nil {
		return nil, err
	}
	outs, err := c.RunGraph(g, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(outs) != len(c.Node.Outputs) {
		return nil, fmt.Errorf("%s has %d outputs, the node %d", name, len(outs), len(c.Node.Outputs))
	}
	return outs, nil
}

func loopKernel(c *Call) ([]*Value, error) {
	body, err := c.Node.GraphAttr("body")
	if err != nil {
		return nil, err
	}
	trips := int64(-1)
	if m := c.Input(0); m != nil {
		if m.Len() != 1 {
			return nil, fmt.Errorf("trip count must be a scalar, have %v", m)
		}
		trips = elemInt64(m, 0)
	}
	cond := true
	if v := c.Input(1); v != nil {
		if cond, err = scalarBool(v); err != nil {
			return nil, err
		}
	}
	carried := slices.Clone(c.Inputs[min(2, len(c.Inputs)):])
	nCarried := len(carried)
	if len(body.Inputs) != nCarried+2 || len(body.Outputs) < nCarried+1 {
		return nil, fmt.Errorf("body takes %d inputs and gives %d outputs; the node carries %d values", len(body.Inputs), len(body.Outputs), nCarried)
	}
	nScan := len(body.Outputs) - 1 - nCarried
	scans := make([][]*Value, nScan)
	// Options.MaxIterations bounds a Loop with neither a trip count nor a condition
	// that ever turns false, and loops nested in loops.
	for i := int64(0); cond && (trips < 0 || i < trips); i++ {
		if err := c.countIteration(); err != nil {
			return nil, err
		}
		in := append([]*Value{Scalar(i), Scalar(cond)}, carried...)
		outs, err := c.RunGraph(body, in)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		if cond, err = scalarBool(outs[0]); err != nil {
			return nil, err
		}
		copy(carried, outs[1:1+nCarried])
		if err := collect(c, scans, outs[1+nCarried:]); err != nil {
			return nil, err
		}
	}
	res := slices.Clone(carried)
	for k := 0; k < nScan; k++ {
		v, err := stack(c, scans[k], body.Outputs[1+nCarried+k])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", k, err)
		}
		res = append(res, v)
	}
	return res, nil
}

// collect appends one iteration's scan outputs to scans. Their data is charged to
// the budget where it was allocated, unless it is too small to track; the Values
// around them and that small data are charged here, as tiny outputs collected over
// millions of iterations add up.
func collect(c *Call, scans [][]*Value, outs []*Value) error {
	if len(outs) == 0 {
		return nil
	}
	n := int64(len(outs)) * valueOverhead
	for _, v := range outs {
		if b, _ := sliceBytes(v.DType, int64(v.Len())); v.Kind == KindTensor && b < minTracked {
			n += b
		}
	}
	err := c.reserve(n, func() string {
		return fmt.Sprintf("scan outputs of iteration %d", len(scans[0]))
	})
	if err != nil {
		return err
	}
	for k, v := range outs {
		scans[k] = append(scans[k], v)
	}
	return nil
}

// stack joins same-shaped values along a new leading axis.
func stack(c *Call, vals []*Value, info ValueInfo) (*Value, error) {
	if len(vals) == 0 {
		dt := info.DType
		if dt == tensor.Invalid {
			dt = tensor.F32
		}
		shape := []int64{0}
		for _, d := range info.Dims {
			shape = append(shape, max(d.Size, 0))
		}
		r, err := c.Alloc(dt, shape)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	first := vals[0]
	out, err := c.Alloc(first.DType, append([]int64{int64(len(vals))}, first.Shape...))
	if err != nil {
		return nil, err
	}
	n := first.Len()
	for i, v := range vals {
		if v.DType != first.DType || !slices.Equal(v.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d gives %v, the first gave %v", i, v, first)
		}
		copyAt(out.Data, i*n, v.Data, 0, n)
	}
	return out, nil
}

func init() {
	Register(Op{Type: "Scan", Since: 8, Kernel: scanKernel})
}

// takeAlong returns element i along axis of v, the axis removed.
func takeAlong(c *Call, v *Value, axis, i int) (*Value, error) {
	outer, inner := 1, 1
	for _, d := range v.Shape[:axis] {
		outer *= int(d)
	}
	for _, d := range v.Shape[axis+1:] {
		inner *= int(d)
	}
	dim := int(v.Shape[axis])
	out, err := c.Alloc(v.DType, slices.Delete(slices.Clone(v.Shape), axis, axis+1))
	if err != nil {
		return nil, err
	}
	for o := 0; o < outer; o++ {
		copyAt(out.Data, o*inner, v.Data, (o*dim+i)*inner, inner)
	}
	return out, nil
}

// moveAxis0 moves the leading axis of v to position axis.
func moveAxis0(c *Call, v *Value, axis int) (*Value, error) {
	if axis == 0 {
		return v, nil
	}
	r := len(v.Shape)
	perm := make([]int, 0, r)
	for i := 1; i <= axis; i++ {
		perm = append(perm, i)
	}
	perm = append(perm, 0)
	for i := axis + 1; i < r; i++ {
		perm = append(perm, i)
	}
	shape, idx, err := permuteIndex(c, v.Shape, perm)
	if err != nil {
		return nil, err
	}
	out, err := c.Alloc(v.DType, shape)
	if err != nil {
		return nil, err
	}
	takeIdx(c.Threads(), out.Data, v.Data, idx)
	return out, nil
}

func scanKernel(c *Call) ([]*Value, error) {
	body, err := c.Node.GraphAttr("body")
	if err != nil {
		return nil, err
	}
	var a attrs
	m := int(a.int(c.Node, "num_scan_inputs", 0))
	inAxes := a.ints(c.Node, "scan_input_axes", nil)
	inDirs := a.ints(c.Node, "scan_input_directions", a.ints(c.Node, "directions", nil))
	outAxes := a.ints(c.Node, "scan_output_axes", nil)
	outDirs := a.ints(c.Node, "scan_output_directions", nil)
	if a.err != nil {
		return nil, a.err
	}
	if c.Opset >= 9 {
		return scanLoop(c, body, c.Inputs, m, inAxes, inDirs, outAxes, outDirs)
	}
	// Opset 8: input 0 is sequence_lens, and every other input has a leading batch axis.
	if c.Input(0) != nil {
		return nil, fmt.Errorf("Scan-8 sequence_lens: %w", errUnsupported)
	}
	ins := c.Inputs[1:]
	if len(ins) == 0 || ins[0] == nil || len(ins[0].Shape) == 0 {
		return nil, fmt.Errorf("Scan-8 needs batched inputs")
	}
	batch := int(ins[0].Shape[0])
	var per [][]*Value
	for b := 0; b < batch; b++ {
		item := make([]*Value, len(ins))
		for i, v := range ins {
			if v == nil || len(v.Shape) == 0 || int(v.Shape[0]) != batch {
				return nil, fmt.Errorf("input %d %v lacks the batch axis of %d", i+1, v, batch)
			}
			r, err := takeAlong(c, v, 0, b)
			if err != nil {
				return nil, err
			}
			item[i] = r
		}
		outs, err := scanLoop(c, body, item, m, nil, inDirs, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("batch %d: %w", b, err)
		}
		per = append(per, outs)
	}
	var res []*Value
	for j := range per[0] {
		col := make([]*Value, batch)
		for b := range per {
			col[b] = per[b][j]
		}
		v, err := stack(c, col, ValueInfo{})
		if err != nil {
			return nil, err
		}
		res = append(res, v)
	}
	return res, nil
}

// scanLoop runs Scan-9 semantics over inputs (states, then m scan inputs).
func scanLoop(c *Call, body *Graph, inputs []*Value, m int, inAxes, inDirs, outAxes, outDirs []int64) ([]*Value, error) {
	var err error
	nState := len(inputs) - m
	if m <= 0 || nState < 0 || len(body.Inputs) != len(inputs) || len(body.Outputs) < nState {
		return nil, fmt.Errorf("num_scan_inputs %d does not match %d inputs and a body of %d inputs", m, len(inputs), len(body.Inputs))
	}
	k := len(body.Outputs) - nState
	pick := func(s []int64, i int) int64 {
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	seqLen := -1
	axes := make([]int, m)
	for j := 0; j < m; j++ {
		v := inputs[nState+j]
		if v == nil {
			return nil, fmt.Errorf("scan input %d is missing", j)
		}
		if axes[j], err = normAxis(pick(inAxes, j), len(v.Shape)); err != nil {
			return nil, err
		}
		n := int(v.Shape[axes[j]])
		if seqLen >= 0 && n != seqLen {
			return nil, fmt.Errorf("scan inputs differ in sequence length: %d and %d", seqLen, n)
		}
		seqLen = n
	}
	state := slices.Clone(inputs[:nState])
	scans := make([][]*Value, k)
	for t := 0; t < seqLen; t++ {
		if err := c.countIteration(); err != nil {
			return nil, err
		}
		in := slices.Clone(state)
		for j := 0; j < m; j++ {
			i := t
			if pick(inDirs, j) == 1 {
				i = seqLen - 1 - t
			}
			r, err := takeAlong(c, inputs[nState+j], axes[j], i)
			if err != nil {
				return nil, err
			}
			in = append(in, r)
		}
		outs, err := c.RunGraph(body, in)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", t, err)
		}
		copy(state, outs[:nState])
		if err := collect(c, scans, outs[nState:]); err != nil {
			return nil, err
		}
	}
	res := state
	for j := 0; j < k; j++ {
		if pick(outDirs, j) == 1 {
			slices.Reverse(scans[j])
		}
		v, err := stack(c, scans[j], body.Outputs[nState+j])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", j, err)
		}
		axis, err := normAxis(pick(outAxes, j), len(v.Shape))
		if err != nil {
			return nil, err
		}
		r, err := moveAxis0(c, v, axis)
		if err != nil {
			return nil, err
		}
		res = append(res, r)
	}
	return res, nil
}
