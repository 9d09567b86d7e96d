package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

func init() {
	Register(Op{Type: "MaxUnpool", Since: 9, Kernel: maxUnpoolKernel})
}

// maxUnpoolKernel scatters X into a zero tensor at MaxPool's flat Indices.
func maxUnpoolKernel(c *Call) ([]*Value, error) {
	x, ind := c.Input(0), c.Input(1)
	if x == nil || ind == nil {
		return nil, fmt.Errorf("inputs X and I are required")
	}
	if x.Rank() < 3 {
		return nil, fmt.Errorf("input X %v must have rank >= 3 (N, C, spatial...)", x)
	}
	if !slices.Equal(ind.Shape, x.Shape) || !ind.DType.Integer() {
		return nil, fmt.Errorf("indices %v must be integers shaped like X %v", ind, x)
	}
	nSp := x.Rank() - 2
	var a attrs
	kernel := a.ints(c.Node, "kernel_shape", nil)
	pads := a.ints(c.Node, "pads", make([]int64, 2*nSp))
	strides := a.ints(c.Node, "strides", slices.Repeat([]int64{1}, nSp))
	if a.err != nil {
		return nil, a.err
	}
	if len(kernel) != nSp || len(pads) != 2*nSp || len(strides) != nSp {
		return nil, fmt.Errorf("kernel_shape %v, pads %v, strides %v do not fit %d spatial dimensions", kernel, pads, strides, nSp)
	}
	// Indices count in the default output shape; output_shape may pad it at the end.
	def := slices.Clone(x.Shape)
	for i := range nSp {
		def[2+i] = (x.Shape[2+i]-1)*strides[i] + kernel[i] - pads[i] - pads[nSp+i]
	}
	shape := def
	if os := c.Input(2); os != nil {
		s, err := os.AsInt64s()
		if err != nil {
			return nil, fmt.Errorf("output_shape: %w", err)
		}
		if len(s) != x.Rank() {
			return nil, fmt.Errorf("output_shape %v must have rank %d", s, x.Rank())
		}
		shape = slices.Clone(s)
	}
	for i, d := range shape {
		if def[i] < 0 || d < def[i] || (i < 2 && d != x.Shape[i]) {
			return nil, fmt.Errorf("output shape %v does not fit X %v (default shape %v)", shape, x, def)
		}
	}
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	total, err := tensor.Shape(def).NumElements()
	if err != nil {
		return nil, err
	}
	idx, err := ind.AsInt64s()
	if err != nil {
		return nil, err
	}
	dst, err := scratchSlice[int](c, len(idx))
	if err != nil {
		return nil, err
	}
	for i, k := range idx {
		if k < 0 || k >= total {
			return nil, fmt.Errorf("index %d is outside an output of %d elements", k, total)
		}
		// Unravel in the default shape, ravel in the output shape.
		pos, mul := int64(0), int64(1)
		for d := len(def) - 1; d >= 0; d-- {
			pos += (k % def[d]) * mul
			k /= def[d]
			mul *= shape[d]
		}
		dst[i] = int(pos)
	}
	for i, k := range dst {
		copyAt(out.Data, k, x.Data, i, 1)
	}
	return []*Value{out}, nil
}
