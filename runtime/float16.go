package runtime

import "github.com/refit-ml/refit/tensor"

// viaFloat32 wraps a float32 kernel so it also serves F16 and BF16 values: such
// inputs are widened to F32, and F32 outputs are rounded back to the first half
// type seen among the inputs.
func viaFloat32(k Kernel) Kernel {
	return func(c *Call) ([]*Value, error) {
		half := tensor.Invalid
		for _, v := range c.Inputs {
			if v != nil && (v.DType == tensor.F16 || v.DType == tensor.BF16) {
				half = v.DType
				break
			}
		}
		if half == tensor.Invalid {
			return k(c)
		}
		orig := c.Inputs
		wide := make([]*Value, len(orig))
		for i, v := range orig {
			if v != nil && (v.DType == tensor.F16 || v.DType == tensor.BF16) {
				r, err := toFloat32(c, v)
				if err != nil {
					return nil, err
				}
				v = r
			}
			wide[i] = v
		}
		c.Inputs = wide
		outs, err := k(c)
		c.Inputs = orig
		if err != nil {
			return nil, err
		}
		for i, v := range outs {
			if v != nil && v.DType == tensor.F32 {
				r, err := fromFloat32(c, v, half)
				if err != nil {
					return nil, err
				}
				outs[i] = r
			}
		}
		return outs, nil
	}
}

func toFloat32(c *Call, v *Value) (*Value, error) {
	src := v.Data.([]uint16)
	dst, err := scratchSlice[float32](c, len(src))
	if err != nil {
		return nil, err
	}
	if v.DType == tensor.BF16 {
		for i, h := range src {
			dst[i] = tensor.BF16ToF32(h)
		}
	} else {
		for i, h := range src {
			dst[i] = tensor.F16ToF32(h)
		}
	}
	return &Value{DType: tensor.F32, Shape: v.Shape, Data: dst}, nil
}

func fromFloat32(c *Call, v *Value, half tensor.DType) (*Value, error) {
	src := v.Data.([]float32)
	dst, err := scratchSlice[uint16](c, len(src))
	if err != nil {
		return nil, err
	}
	if half == tensor.BF16 {
		for i, f := range src {
			dst[i] = tensor.F32ToBF16(f)
		}
	} else {
		for i, f := range src {
			dst[i] = tensor.F32ToF16(f)
		}
	}
	return &Value{DType: half, Shape: v.Shape, Data: dst}, nil
}
