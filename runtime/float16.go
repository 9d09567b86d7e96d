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
				v = toFloat32(c, v)
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
				outs[i] = fromFloat32(c, v, half)
			}
		}
		return outs, nil
	}
}

func toFloat32(c *Call, v *Value) *Value {
	src := v.Data.([]uint16)
	dst := scratchSlice[float32](c, len(src))
	if v.DType == tensor.BF16 {
		for i, h := range src {
			dst[i] = tensor.BF16ToF32(h)
		}
	} else {
		for i, h := range src {
			dst[i] = tensor.F16ToF32(h)
		}
	}
	return &Value{DType: tensor.F32, Shape: v.Shape, Data: dst}
}

func fromFloat32(c *Call, v *Value, half tensor.DType) *Value {
	src := v.Data.([]float32)
	dst := scratchSlice[uint16](c, len(src))
	if half == tensor.BF16 {
		for i, f := range src {
			dst[i] = tensor.F32ToBF16(f)
		}
	} else {
		for i, f := range src {
			dst[i] = tensor.F32ToF16(f)
		}
	}
	return &Value{DType: half, Shape: v.Shape, Data: dst}
}
