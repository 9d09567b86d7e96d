package refit

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// CastFloats returns a model whose floating-point tensors are cast to d, lazily;
// integer and boolean tensors are shared unchanged. m is not modified.
func CastFloats(m *Model, d tensor.DType) (*Model, error) {
	if !d.Valid() || d.Quantized() || !d.Float() {
		return nil, fmt.Errorf("refit: cannot cast to %v: choose a float type (quantization is a separate step)", d)
	}
	out := make([]*tensor.Tensor, len(m.Tensors))
	for i, t := range m.Tensors {
		if !t.DType.Float() || t.DType == d {
			out[i] = t
			continue
		}
		c, err := tensor.Cast(t, d)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return m.Derive(out), nil
}
