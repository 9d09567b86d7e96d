package refit

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// CastFloats returns a model whose floating-point tensors are cast to d, lazily;
// integer and boolean tensors are shared unchanged. m is not modified.
func CastFloats(m *Model, d tensor.DType) (*Model, error) {
	return CastFloatsWatched(m, d, nil)
}

// CastFloatsWatched is CastFloats whose cast tensors report what their WriteTo
// writes to the watcher that watch returns for each (tensor.CastWatched), so that
// a caller can verify and measure the cast in the pass that writes it. A nil watch
// watches nothing.
func CastFloatsWatched(m *Model, d tensor.DType, watch func(src *tensor.Tensor, to tensor.DType) tensor.CastWatcher) (*Model, error) {
	if !d.Valid() || d.Quantized() || !d.Float() {
		return nil, fmt.Errorf("refit: cannot cast to %v: choose a float type (quantization is a separate step)", d)
	}
	out := make([]*tensor.Tensor, len(m.Tensors))
	for i, t := range m.Tensors {
		if !t.DType.Float() || t.DType == d {
			out[i] = t
			continue
		}
		var (
			c   *tensor.Tensor
			err error
		)
		if watch != nil {
			c, err = tensor.CastWatched(t, d, watch(t, d))
		} else {
			c, err = tensor.Cast(t, d)
		}
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return m.Derive(out), nil
}
