package layout

import (
	"fmt"
	"io"

	"github.com/refit-ml/refit/tensor"
)

// Each rule converts one Keras weight to its PyTorch layout and has an inverse.
// Keras stores channels last; PyTorch stores output channels first.

// DenseKernel turns a Dense kernel [in, out] into a Linear weight [out, in].
func DenseKernel(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 2, 1, 0) }

// LinearWeight turns a Linear weight [out, in] into a Dense kernel [in, out] (inverse of DenseKernel).
func LinearWeight(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 2, 1, 0) }

// Conv1DKernel turns a Conv1D kernel [W, in, out] into a Conv1d weight [out, in, W].
func Conv1DKernel(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 3, 2, 1, 0) }

// Conv1dWeight is the inverse of Conv1DKernel.
func Conv1dWeight(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 3, 2, 1, 0) }

// Conv2DKernel turns a Conv2D kernel HWIO [H, W, in, out] into a Conv2d weight OIHW.
// It also maps a Conv2DTranspose kernel [H, W, out, in] to ConvTranspose2d's [in, out, H, W].
func Conv2DKernel(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 4, 3, 2, 0, 1) }

// Conv2dWeight is the inverse of Conv2DKernel: OIHW to HWIO.
func Conv2dWeight(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 4, 2, 3, 1, 0) }

// Conv3DKernel turns a Conv3D kernel [D, H, W, in, out] into a Conv3d weight [out, in, D, H, W].
func Conv3DKernel(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 5, 4, 3, 0, 1, 2) }

// Conv3dWeight is the inverse of Conv3DKernel.
func Conv3dWeight(t *tensor.Tensor) (*tensor.Tensor, error) { return permute2(t, 5, 2, 3, 4, 1, 0) }

// DepthwiseKernel turns a DepthwiseConv2D kernel [H, W, C, M] (M the depth multiplier)
// into a grouped Conv2d weight [C*M, 1, H, W] (groups = C): output channel c*M+m
// filters input channel c, as in both frameworks.
func DepthwiseKernel(t *tensor.Tensor) (*tensor.Tensor, error) {
	p, err := permute2(t, 4, 2, 3, 0, 1) // [C, M, H, W]
	if err != nil {
		return nil, err
	}
	s := p.Shape
	return Reshape(p, s[0]*s[1], 1, s[2], s[3])
}

// DepthwiseWeight is the inverse of DepthwiseKernel; multiplier is M.
func DepthwiseWeight(t *tensor.Tensor, multiplier int64) (*tensor.Tensor, error) {
	s := t.Shape
	if len(s) != 4 || s[1] != 1 || multiplier <= 0 || s[0]%multiplier != 0 {
		return nil, fmt.Errorf("layout: depthwise weight %q of shape %v with multiplier %d", t.Name, s, multiplier)
	}
	r, err := Reshape(t, s[0]/multiplier, multiplier, s[2], s[3])
	if err != nil {
		return nil, err
	}
	return Permute(r, 2, 3, 0, 1)
}

// Keras GRU gates are ordered z, r, h; PyTorch's r, z, n. LSTM gates (i, f, c, o and
// i, f, g, o) are in the same order and need no reordering.
var (
	gruToTorch = []int{1, 0, 2}
	gruToKeras = []int{1, 0, 2} // the swap is its own inverse
)

// RecurrentKernel turns an LSTM or GRU kernel [in, G*H] (or recurrent kernel [H, G*H])
// into a weight [G*H, in]; gru reorders the gate blocks to PyTorch's order.
func RecurrentKernel(t *tensor.Tensor, gru bool) (*tensor.Tensor, error) {
	w, err := permute2(t, 2, 1, 0)
	if err != nil || !gru {
		return w, err
	}
	return reorderBlocks(w, gruToTorch)
}

// RecurrentWeight is the inverse of RecurrentKernel.
func RecurrentWeight(t *tensor.Tensor, gru bool) (*tensor.Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("layout: recurrent weight %q of shape %v is not 2-D", t.Name, t.Shape)
	}
	if gru {
		var err error
		if t, err = reorderBlocks(t, gruToKeras); err != nil {
			return nil, err
		}
	}
	return Permute(t, 1, 0)
}

// GRUBias splits a Keras GRU bias with reset_after=True, shape [2, 3H] (input and
// recurrent biases), into PyTorch's bias_ih and bias_hh [3H], gates reordered.
// reset_after=False (bias [3H]) computes a different function and is refused.
func GRUBias(t *tensor.Tensor) (ih, hh *tensor.Tensor, err error) {
	if len(t.Shape) != 2 || t.Shape[0] != 2 {
		return nil, nil, fmt.Errorf("layout: GRU bias %q of shape %v: only reset_after=True ([2, 3H]) maps to PyTorch: %w", t.Name, t.Shape, tensor.ErrUnsupported)
	}
	n := t.Shape[1]
	half := t.Size() / 2
	row := func(i int64) (*tensor.Tensor, error) {
		r, err := tensor.New(t.Name, t.DType, tensor.Shape{n}, sectionOf(t, i*half, half))
		if err != nil {
			return nil, err
		}
		return reorderBlocks(r, gruToTorch)
	}
	if ih, err = row(0); err != nil {
		return nil, nil, err
	}
	hh, err = row(1)
	return ih, hh, err
}

// GRUBiasInverse joins PyTorch's bias_ih and bias_hh into a Keras GRU bias [2, 3H].
func GRUBiasInverse(ih, hh *tensor.Tensor) (*tensor.Tensor, error) {
	if !ih.Shape.Equal(hh.Shape) || len(ih.Shape) != 1 || ih.DType != hh.DType {
		return nil, fmt.Errorf("layout: GRU biases %v and %v differ", ih.Shape, hh.Shape)
	}
	a, err := reorderBlocks(ih, gruToKeras)
	if err != nil {
		return nil, err
	}
	b, err := reorderBlocks(hh, gruToKeras)
	if err != nil {
		return nil, err
	}
	size := a.Size() + b.Size()
	return tensor.New(ih.Name, ih.DType, tensor.Shape{2, ih.Shape[0]}, tensor.NewLazy(size, func() ([]byte, error) {
		x, err := a.Bytes()
		if err != nil {
			return nil, err
		}
		y, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		return append(x, y...), nil
	}))
}

// LSTMBias maps a Keras LSTM bias [4H] to PyTorch's bias_ih (the same values) and
// bias_hh (zeros): PyTorch adds both, Keras has one.
func LSTMBias(t *tensor.Tensor) (ih, hh *tensor.Tensor, err error) {
	if len(t.Shape) != 1 || t.Shape[0]%4 != 0 {
		return nil, nil, fmt.Errorf("layout: LSTM bias %q of shape %v", t.Name, t.Shape)
	}
	hh, err = zerosLike(t.Name, t)
	return t, hh, err
}

func permute2(t *tensor.Tensor, rank int, perm ...int) (*tensor.Tensor, error) {
	if len(t.Shape) != rank {
		return nil, fmt.Errorf("layout: %q has shape %v, want rank %d", t.Name, t.Shape, rank)
	}
	return Permute(t, perm...)
}

type section struct {
	t        *tensor.Tensor
	off, len int64
}

func sectionOf(t *tensor.Tensor, off, n int64) tensor.Data { return &section{t, off, n} }

func (s *section) Size() int64 { return s.len }

func (s *section) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.len {
		return 0, io.EOF
	}
	if rem := s.len - off; int64(len(p)) > rem {
		n, err := s.t.Data.ReadAt(p[:rem], s.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.t.Data.ReadAt(p, s.off+off)
}
