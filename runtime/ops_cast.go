package runtime

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit/tensor"
)

func init() {
	Register(Op{Type: "Cast", Since: 1, Kernel: castKernel})
	Register(Op{Type: "CastLike", Since: 15, Kernel: castLikeKernel})
}

func castKernel(c *Call) ([]*Value, error) {
	to, err := c.Node.Int("to", 0)
	if err != nil {
		return nil, err
	}
	if c.Opset < 6 {
		if s, err := c.Node.String("to", ""); err == nil && s != "" {
			return nil, fmt.Errorf("string-typed 'to' (opset <6): %w", errUnsupported)
		}
	}
	dt, ok := dtypeFromONNX(int32(to))
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("input is omitted")
	}
	if to == onnxString || x.Kind == KindString {
		out, err := castStrings(x, to == onnxString, dt)
		return []*Value{out}, err
	}
	if !ok {
		return nil, fmt.Errorf("cast to ONNX type %d: %w", to, errUnsupported)
	}
	r, err := castValue(c, c.Input(0), dt)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

func castLikeKernel(c *Call) ([]*Value, error) {
	x, like := c.Input(0), c.Input(1)
	if x == nil || like == nil {
		return nil, fmt.Errorf("needs two inputs")
	}
	if x.Kind == KindString || like.Kind == KindString {
		out, err := castStrings(x, like.Kind == KindString, like.DType)
		return []*Value{out}, err
	}
	r, err := castValue(c, x, like.DType)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

// castValue converts v to dtype dt (a view when the type already matches), allocating
// through c (nil: outside a run, uncharged). Floats
// convert to integers by truncation toward zero, as C and ONNX do; integers convert
// among themselves exactly modulo wrap-around; bool is 0 or 1.
func castValue(c *Call, v *Value, dt tensor.DType) (*Value, error) {
	if v.DType == dt {
		return View(v, v.Shape), nil
	}
	out, err := newOutput(c, dt, v.Shape)
	if err != nil {
		return nil, err
	}
	n := v.Len()
	srcInt := v.DType.Integer() || v.DType == tensor.Bool
	dstInt := dt.Integer() || dt == tensor.Bool
	if srcInt && dstInt {
		for i := 0; i < n; i++ {
			setInt64(out, i, elemInt64(v, i))
		}
		return out, nil
	}
	// Fast paths between float types.
	if src, ok := v.Data.([]float32); ok {
		switch d := out.Data.(type) {
		case []float64:
			for i, x := range src {
				d[i] = float64(x)
			}
			return out, nil
		case []uint16:
			if dt == tensor.F16 {
				for i, x := range src {
					d[i] = tensor.F32ToF16(x)
				}
				return out, nil
			}
			if dt == tensor.BF16 {
				for i, x := range src {
					d[i] = tensor.F32ToBF16(x)
				}
				return out, nil
			}
		}
	}
	for i := 0; i < n; i++ {
		setFloat64(out, i, elemFloat64(v, i))
	}
	return out, nil
}

func elemInt64(v *Value, i int) int64 {
	switch d := v.Data.(type) {
	case []int8:
		return int64(d[i])
	case []int16:
		return int64(d[i])
	case []int32:
		return int64(d[i])
	case []int64:
		return d[i]
	case []uint8:
		return int64(d[i])
	case []uint16:
		return int64(d[i])
	case []uint32:
		return int64(d[i])
	case []uint64:
		return int64(d[i])
	case []bool:
		if d[i] {
			return 1
		}
		return 0
	}
	return int64(elemFloat64(v, i))
}

func setInt64(v *Value, i int, x int64) {
	switch d := v.Data.(type) {
	case []int8:
		d[i] = int8(x)
	case []int16:
		d[i] = int16(x)
	case []int32:
		d[i] = int32(x)
	case []int64:
		d[i] = x
	case []uint8:
		d[i] = uint8(x)
	case []uint16:
		d[i] = uint16(x)
	case []uint32:
		d[i] = uint32(x)
	case []uint64:
		d[i] = uint64(x)
	case []bool:
		d[i] = x != 0
	default:
		setFloat64(v, i, float64(x))
	}
}

func setFloat64(v *Value, i int, x float64) {
	switch d := v.Data.(type) {
	case []float32:
		d[i] = float32(x)
	case []float64:
		d[i] = x
	case []uint16:
		switch v.DType {
		case tensor.F16:
			d[i] = tensor.F32ToF16(float32(x))
		case tensor.BF16:
			d[i] = tensor.F32ToBF16(float32(x))
		default:
			d[i] = uint16(floatToInt(x))
		}
	case []bool:
		d[i] = x != 0
	case []uint64:
		if x >= 1<<63 {
			d[i] = uint64(x)
			return
		}
		d[i] = uint64(floatToInt(x))
	default:
		setInt64(v, i, floatToInt(x))
	}
}

// floatToInt truncates toward zero; NaN becomes 0 and infinities saturate, so the
// result does not depend on the CPU.
func floatToInt(x float64) int64 {
	switch {
	case x != x:
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	case x <= math.MinInt64:
		return math.MinInt64
	}
	return int64(x)
}

// newOutput is c.Alloc, or NewValue when there is no call (values made outside a run).
func newOutput(c *Call, dt tensor.DType, shape []int64) (*Value, error) {
	if c == nil || c.sess == nil {
		return NewValue(dt, shape), nil
	}
	return c.Alloc(dt, shape)
}
