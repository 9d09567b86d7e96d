package arch

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// PermuteRoPE reorders the rows of a Q or K projection from Hugging Face's rotary
// layout (each head's first half of dimensions paired with its second half, rotate_half)
// to ggml's interleaved layout (dimension pairs 2i, 2i+1), as llama.cpp's llama
// architecture expects. Within each head of headDim rows, source row j*headDim/2+i goes
// to row 2i+j. dst and src hold rows of rowBytes bytes each; heads must divide the row
// count into even-sized heads. dst and src must not overlap.
func PermuteRoPE(dst, src []byte, heads, rowBytes int) error {
	return permuteRows(dst, src, heads, rowBytes, false)
}

// UnpermuteRoPE is the inverse of PermuteRoPE: ggml's interleaved rows back to
// Hugging Face's half-split rows.
func UnpermuteRoPE(dst, src []byte, heads, rowBytes int) error {
	return permuteRows(dst, src, heads, rowBytes, true)
}

func permuteRows(dst, src []byte, heads, rowBytes int, inverse bool) error {
	if heads <= 0 || rowBytes <= 0 || len(src)%rowBytes != 0 || len(dst) != len(src) {
		return fmt.Errorf("arch: rotary permutation of %d bytes into %d, rows of %d bytes, %d heads: bad layout", len(src), len(dst), rowBytes, heads)
	}
	rows := len(src) / rowBytes
	if rows%heads != 0 || (rows/heads)%2 != 0 {
		return fmt.Errorf("arch: rotary permutation: %d rows do not split into %d heads of even size", rows, heads)
	}
	headDim := rows / heads
	half := headDim / 2
	for h := range heads {
		base := h * headDim
		for i := range half {
			for j := range 2 {
				hfRow := base + j*half + i
				ggmlRow := base + 2*i + j
				from, to := hfRow, ggmlRow
				if inverse {
					from, to = ggmlRow, hfRow
				}
				copy(dst[to*rowBytes:(to+1)*rowBytes], src[from*rowBytes:(from+1)*rowBytes])
			}
		}
	}
	return nil
}

// permuteTensor returns t with its rows permuted lazily for heads heads. Bias vectors
// (1-D) are rows of one element.
func permuteTensor(t *tensor.Tensor, heads int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || len(t.Shape) > 2 || t.DType.Quantized() {
		return nil, fmt.Errorf("arch: cannot permute tensor %q of type %v and shape %v", t.Name, t.DType, t.Shape)
	}
	if t.Shape[0] == 0 || t.Size() == 0 {
		return t, nil
	}
	return lazyPermute(t, heads, PermuteRoPE)
}

// UnpermuteTensor undoes permuteTensor on whole rows, lazily. Any type is accepted:
// quantized blocks lie within rows.
func UnpermuteTensor(t *tensor.Tensor, heads int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || len(t.Shape) > 2 || t.Shape[0] == 0 {
		return nil, errorf("tensor %q of shape %v cannot be un-permuted", t.Name, t.Shape)
	}
	return lazyPermute(t, heads, UnpermuteRoPE)
}

// lazyPermute returns t with perm applied lazily to its rows, split into heads heads.
func lazyPermute(t *tensor.Tensor, heads int, perm func(dst, src []byte, heads, rowBytes int) error) (*tensor.Tensor, error) {
	rows := int(t.Shape[0])
	if heads <= 0 || rows%heads != 0 || (rows/heads)%2 != 0 {
		return nil, errorf("tensor %q: %d rows do not split into %d heads of even size", t.Name, rows, heads)
	}
	rowBytes := int(t.Size() / t.Shape[0])
	src := t
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(b))
		return out, perm(out, b, heads, rowBytes)
	})
	return &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape.Clone(), Data: data}, nil
}

// Transpose2D swaps the two dimensions of a row-major matrix of rows x cols elements
// of elemSize bytes: dst[c][r] = src[r][c].
func Transpose2D(dst, src []byte, rows, cols, elemSize int) error {
	if rows < 0 || cols < 0 || elemSize <= 0 || len(src) != rows*cols*elemSize || len(dst) != len(src) {
		return fmt.Errorf("arch: transpose of %dx%d elements of %d bytes: have %d and %d bytes", rows, cols, elemSize, len(src), len(dst))
	}
	for r := range rows {
		for c := range cols {
			s := (r*cols + c) * elemSize
			d := (c*rows + r) * elemSize
			copy(dst[d:d+elemSize], src[s:s+elemSize])
		}
	}
	return nil
}

// transposeTensor returns a 2-D tensor transposed lazily (GPT-2's Conv1D weights are
// stored [in, out]; ggml wants [out, in]).
func transposeTensor(t *tensor.Tensor) (*tensor.Tensor, error) {
	if len(t.Shape) != 2 || t.DType.Quantized() {
		return nil, fmt.Errorf("arch: cannot transpose tensor %q of type %v and shape %v", t.Name, t.DType, t.Shape)
	}
	rows, cols := int(t.Shape[0]), int(t.Shape[1])
	src := t
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(b))
		return out, Transpose2D(out, b, rows, cols, src.DType.TypeSize())
	})
	return &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: tensor.Shape{t.Shape[1], t.Shape[0]}, Data: data}, nil
}

// addOne returns t + 1 as F32, lazily: Gemma's RMSNorm multiplies by (1 + weight),
// ggml's by weight.
func addOne(t *tensor.Tensor) (*tensor.Tensor, error) {
	if !t.DType.Float() {
		return nil, fmt.Errorf("arch: norm tensor %q has type %v, not a float type", t.Name, t.DType)
	}
	size, err := tensor.ByteSize(tensor.F32, t.Shape)
	if err != nil {
		return nil, err
	}
	src := t
	data := tensor.NewLazy(size, func() ([]byte, error) {
		v, err := src.Float32s()
		if err != nil {
			return nil, err
		}
		for i := range v {
			v[i]++
		}
		return tensor.EncodeFloat32(nil, v), nil
	})
	return &tensor.Tensor{Name: t.Name, DType: tensor.F32, Shape: t.Shape.Clone(), Data: data}, nil
}

// Regroup reorders the rows of a matrix viewed as [outer][inner][rows per group] into
// [inner][outer][rows per group]: GPT-NeoX's fused QKV rows go from per head (outer =
// heads, inner = q,k,v) to per projection. Regrouping with outer and inner swapped is
// the inverse. dst and src hold rows of rowBytes bytes; they must not overlap.
func Regroup(dst, src []byte, outer, inner, rowBytes int) error {
	if outer <= 0 || inner <= 0 || rowBytes <= 0 || len(src)%rowBytes != 0 || len(dst) != len(src) {
		return fmt.Errorf("arch: regroup of %d bytes into %d, rows of %d bytes, %dx%d groups: bad layout", len(src), len(dst), rowBytes, outer, inner)
	}
	rows := len(src) / rowBytes
	if rows%(outer*inner) != 0 {
		return fmt.Errorf("arch: regroup: %d rows do not split into %dx%d groups", rows, outer, inner)
	}
	per := rows / (outer * inner) * rowBytes
	for o := range outer {
		for i := range inner {
			from := (o*inner + i) * per
			to := (i*outer + o) * per
			copy(dst[to:to+per], src[from:from+per])
		}
	}
	return nil
}

// regroupTensor applies Regroup to t's rows lazily (a 1-D bias is rows of one element).
func regroupTensor(t *tensor.Tensor, outer, inner int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || len(t.Shape) > 2 || t.Shape[0] == 0 || t.Shape[0]%int64(outer*inner) != 0 {
		return nil, errorf("tensor %q of shape %v does not split into %dx%d row groups", t.Name, t.Shape, outer, inner)
	}
	rowBytes := int(t.Size() / t.Shape[0])
	src := t
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(b))
		return out, Regroup(out, b, outer, inner, rowBytes)
	})
	return &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape.Clone(), Data: data}, nil
}

// GatherRows writes row group order[i] of src as row group i of dst, where a group is
// groupBytes bytes. order must be a permutation of the group indexes.
func GatherRows(dst, src []byte, groupBytes int, order []int) error {
	if groupBytes <= 0 || len(src) != groupBytes*len(order) || len(dst) != len(src) {
		return fmt.Errorf("arch: gathering %d groups of %d bytes from %d bytes into %d", len(order), groupBytes, len(src), len(dst))
	}
	for i, from := range order {
		if from < 0 || from >= len(order) {
			return fmt.Errorf("arch: gathering row group %d of %d", from, len(order))
		}
		copy(dst[i*groupBytes:(i+1)*groupBytes], src[from*groupBytes:(from+1)*groupBytes])
	}
	return nil
}

// invertOrder returns the permutation that undoes order.
func invertOrder(order []int) []int {
	inv := make([]int, len(order))
	for i, from := range order {
		inv[from] = i
	}
	return inv
}

// gatherTensor applies GatherRows to t's rows lazily, in len(order) equal groups.
func gatherTensor(t *tensor.Tensor, order []int) (*tensor.Tensor, error) {
	if len(t.Shape) == 0 || len(t.Shape) > 2 || len(order) == 0 || t.Shape[0]%int64(len(order)) != 0 {
		return nil, errorf("tensor %q of shape %v does not split into %d row groups", t.Name, t.Shape, len(order))
	}
	groupBytes := int(t.Size() / int64(len(order)))
	src := t
	data := tensor.NewLazy(t.Size(), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, len(b))
		return out, GatherRows(out, b, groupBytes, order)
	})
	return &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape.Clone(), Data: data}, nil
}
