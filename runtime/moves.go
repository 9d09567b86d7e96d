package runtime

import (
	"fmt"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Dtype-independent data movement: the shape operators compute index maps or block
// copies, then these helpers move elements of whatever Go type the value holds.

// takeIdx sets dst[i] = src[idx[i]]; dst and src hold the same slice type.
func takeIdx(threads int, dst, src any, idx []int) {
	switch d := dst.(type) {
	case []float32:
		take(threads, d, src.([]float32), idx)
	case []float64:
		take(threads, d, src.([]float64), idx)
	case []uint16:
		take(threads, d, src.([]uint16), idx)
	case []int8:
		take(threads, d, src.([]int8), idx)
	case []int16:
		take(threads, d, src.([]int16), idx)
	case []int32:
		take(threads, d, src.([]int32), idx)
	case []int64:
		take(threads, d, src.([]int64), idx)
	case []uint8:
		take(threads, d, src.([]uint8), idx)
	case []uint32:
		take(threads, d, src.([]uint32), idx)
	case []uint64:
		take(threads, d, src.([]uint64), idx)
	case []bool:
		take(threads, d, src.([]bool), idx)
	default:
		panic(fmt.Sprintf("takeIdx: unsupported %T", dst))
	}
}

func take[T any](threads int, dst, src []T, idx []int) {
	parallel.For(threads, len(dst), 32768, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = src[idx[i]]
		}
	})
}

// sliceRange returns data[lo:hi] for any of the runtime's slice types.
func sliceRange(data any, lo, hi int) any {
	switch d := data.(type) {
	case []float32:
		return d[lo:hi]
	case []float64:
		return d[lo:hi]
	case []uint16:
		return d[lo:hi]
	case []int8:
		return d[lo:hi]
	case []int16:
		return d[lo:hi]
	case []int32:
		return d[lo:hi]
	case []int64:
		return d[lo:hi]
	case []uint8:
		return d[lo:hi]
	case []uint32:
		return d[lo:hi]
	case []uint64:
		return d[lo:hi]
	case []bool:
		return d[lo:hi]
	}
	panic(fmt.Sprintf("sliceRange: unsupported %T", data))
}

// copyAt copies n elements from src[so:] to dst[do:].
func copyAt(dst any, do int, src any, so, n int) {
	switch d := dst.(type) {
	case []float32:
		copy(d[do:do+n], src.([]float32)[so:so+n])
	case []float64:
		copy(d[do:do+n], src.([]float64)[so:so+n])
	case []uint16:
		copy(d[do:do+n], src.([]uint16)[so:so+n])
	case []int8:
		copy(d[do:do+n], src.([]int8)[so:so+n])
	case []int16:
		copy(d[do:do+n], src.([]int16)[so:so+n])
	case []int32:
		copy(d[do:do+n], src.([]int32)[so:so+n])
	case []int64:
		copy(d[do:do+n], src.([]int64)[so:so+n])
	case []uint8:
		copy(d[do:do+n], src.([]uint8)[so:so+n])
	case []uint32:
		copy(d[do:do+n], src.([]uint32)[so:so+n])
	case []uint64:
		copy(d[do:do+n], src.([]uint64)[so:so+n])
	case []bool:
		copy(d[do:do+n], src.([]bool)[so:so+n])
	default:
		panic(fmt.Sprintf("copyAt: unsupported %T", dst))
	}
}

// stridesOf returns row-major element strides.
func stridesOf(shape []int64) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= int(shape[i])
	}
	return s
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

func numElements(shape []int64) (int, error) {
	n, err := tensor.Shape(shape).NumElements()
	if err != nil {
		return 0, err
	}
	if n > 1<<40 {
		return 0, fmt.Errorf("shape %v has too many elements: %w", tensor.Shape(shape), ErrTooLarge)
	}
	return int(n), nil
}

// fillFrom sets every element of v to the single element of scalar (cast).
func fillFrom(v *Value, scalar *Value) error {
	s, err := castValue(nil, scalar, v.DType)
	if err != nil {
		return err
	}
	n := v.Len()
	if n == 0 {
		return nil
	}
	copyAt(v.Data, 0, s.Data, 0, 1)
	// Doubling copies: log2(n) calls instead of one type switch per element.
	for done := 1; done < n; done *= 2 {
		copyAt(v.Data, done, v.Data, 0, min(done, n-done))
	}
	return nil
}

// takeOrZero sets dst[i] = src[idx[i]], leaving dst[i] zero where idx[i] < 0.
func takeOrZero(threads int, dst, src any, idx []int) {
	switch d := dst.(type) {
	case []float32:
		takeZ(threads, d, src.([]float32), idx)
	case []float64:
		takeZ(threads, d, src.([]float64), idx)
	case []uint16:
		takeZ(threads, d, src.([]uint16), idx)
	case []int8:
		takeZ(threads, d, src.([]int8), idx)
	case []int16:
		takeZ(threads, d, src.([]int16), idx)
	case []int32:
		takeZ(threads, d, src.([]int32), idx)
	case []int64:
		takeZ(threads, d, src.([]int64), idx)
	case []uint8:
		takeZ(threads, d, src.([]uint8), idx)
	case []uint32:
		takeZ(threads, d, src.([]uint32), idx)
	case []uint64:
		takeZ(threads, d, src.([]uint64), idx)
	case []bool:
		takeZ(threads, d, src.([]bool), idx)
	default:
		panic(fmt.Sprintf("takeOrZero: unsupported %T", dst))
	}
}

func takeZ[T any](threads int, dst, src []T, idx []int) {
	parallel.For(threads, len(dst), 32768, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if j := idx[i]; j >= 0 {
				dst[i] = src[j]
			}
		}
	})
}

// gatherValue returns a new value of shape holding v's elements at idx (-1 = zero).
func gatherValue(c *Call, v *Value, shape []int64, idx []int) (*Value, error) {
	out, err := c.Alloc(v.DType, shape)
	if err != nil {
		return nil, err
	}
	takeOrZero(c.Threads(), out.Data, v.Data, idx)
	return out, nil
}

// splitAxis returns the products of the dims before, at and after axis.
func splitAxis(shape []int64, axis int) (outer, dim, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= int(d)
	}
	for _, d := range shape[axis+1:] {
		inner *= int(d)
	}
	return outer, int(shape[axis]), inner
}
