package layout

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// Permute returns a lazy view of t with its axes reordered: output axis i is input
// axis perm[i] (numpy.transpose semantics). Block-quantized types are refused.
func Permute(t *tensor.Tensor, perm ...int) (*tensor.Tensor, error) {
	if t.DType.BlockSize() != 1 {
		return nil, fmt.Errorf("layout: permuting %v tensor %q: %w", t.DType, t.Name, tensor.ErrUnsupported)
	}
	if len(perm) != len(t.Shape) {
		return nil, fmt.Errorf("layout: permutation %v for %q of shape %v", perm, t.Name, t.Shape)
	}
	seen := make([]bool, len(perm))
	out := make(tensor.Shape, len(perm))
	for i, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return nil, fmt.Errorf("layout: %v is not a permutation", perm)
		}
		seen[p] = true
		out[i] = t.Shape[p]
	}
	src := t
	es := int64(t.DType.TypeSize())
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		in, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		return permuteBytes(in, src.Shape, perm, es), nil
	})
	return tensor.New(t.Name, t.DType, out, data)
}

// permuteBytes transposes row-major data of shape with element size es.
func permuteBytes(in []byte, shape tensor.Shape, perm []int, es int64) []byte {
	out := make([]byte, len(in))
	n := len(shape)
	if n == 0 || len(in) == 0 {
		copy(out, in)
		return out
	}
	inStride := make([]int64, n)
	s := es
	for i := n - 1; i >= 0; i-- {
		inStride[i] = s
		s *= shape[i]
	}
	outShape := make([]int64, n)
	stride := make([]int64, n) // input stride of each output axis
	for i, p := range perm {
		outShape[i] = shape[p]
		stride[i] = inStride[p]
	}
	idx := make([]int64, n)
	var src int64
	for dst := int64(0); dst < int64(len(out)); dst += es {
		copy(out[dst:dst+es], in[src:src+es])
		for k := n - 1; k >= 0; k-- {
			idx[k]++
			src += stride[k]
			if idx[k] < outShape[k] {
				break
			}
			src -= stride[k] * idx[k]
			idx[k] = 0
		}
	}
	return out
}

// Reshape returns t with a new shape of the same element count, sharing its data.
func Reshape(t *tensor.Tensor, shape ...int64) (*tensor.Tensor, error) {
	return tensor.New(t.Name, t.DType, tensor.Shape(shape), t.Data)
}

// reorderBlocks splits axis 0 into len(order) equal blocks and returns them in the
// given order (block i of the output is block order[i] of the input).
func reorderBlocks(t *tensor.Tensor, order []int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || t.Shape[0]%int64(len(order)) != 0 {
		return nil, fmt.Errorf("layout: %q of shape %v does not split into %d gate blocks", t.Name, t.Shape, len(order))
	}
	src := t
	block := t.Size() / int64(len(order))
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		in, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(in))
		for _, o := range order {
			out = append(out, in[int64(o)*block:int64(o+1)*block]...)
		}
		return out, nil
	})
	return tensor.New(t.Name, t.DType, t.Shape.Clone(), data)
}

// zerosLike returns a tensor of zeros with t's type and shape.
func zerosLike(name string, t *tensor.Tensor) (*tensor.Tensor, error) {
	size := t.Size()
	return tensor.New(name, t.DType, t.Shape.Clone(), tensor.NewLazy(size, func() ([]byte, error) {
		return make([]byte, size), nil
	}))
}

func renamed(t *tensor.Tensor, name string) *tensor.Tensor {
	c := *t
	c.Name = name
	return &c
}
