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

// maxLoopIterations bounds a Loop with neither a trip count nor a condition that
// ever turns false, so a malformed model cannot spin forever.
const maxLoopIterations = 1 << 24

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
	for i := int64(0); cond && (trips < 0 || i < trips); i++ {
		if i >= maxLoopIterations {
			return nil, fmt.Errorf("more than %d iterations", maxLoopIterations)
		}
		if err := c.Context().Err(); err != nil {
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
		for k := 0; k < nScan; k++ {
			scans[k] = append(scans[k], outs[1+nCarried+k])
		}
	}
	res := slices.Clone(carried)
	for k := 0; k < nScan; k++ {
		v, err := stack(scans[k], body.Outputs[1+nCarried+k])
		if err != nil {
			return nil, fmt.Errorf("scan output %d: %w", k, err)
		}
		res = append(res, v)
	}
	return res, nil
}

// stack joins same-shaped values along a new leading axis.
func stack(vals []*Value, info ValueInfo) (*Value, error) {
	if len(vals) == 0 {
		dt := info.DType
		if dt == tensor.Invalid {
			dt = tensor.F32
		}
		shape := []int64{0}
		for _, d := range info.Dims {
			shape = append(shape, max(d.Size, 0))
		}
		return NewValue(dt, shape), nil
	}
	first := vals[0]
	out := NewValue(first.DType, append([]int64{int64(len(vals))}, first.Shape...))
	n := first.Len()
	for i, v := range vals {
		if v.DType != first.DType || !slices.Equal(v.Shape, first.Shape) {
			return nil, fmt.Errorf("iteration %d gives %v, the first gave %v", i, v, first)
		}
		copyAt(out.Data, i*n, v.Data, 0, n)
	}
	return out, nil
}
