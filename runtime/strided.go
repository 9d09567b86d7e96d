package runtime

import "github.com/refit-ml/refit/internal/parallel"

// stridedCopy sets dst (row-major, shape out) to the elements of src at
// base + sum(index[k]*strides[k]): the gather of Transpose and Slice, one
// contiguous run or strided row at a time instead of through an index table.
// dst and src hold the same slice type; it reports false for a type it does not
// handle.
func stridedCopy(threads int, dst, src any, out []int64, base int, strides []int) bool {
	switch d := dst.(type) {
	case []float32:
		stridedCopyT(threads, d, src.([]float32), out, base, strides)
	case []int64:
		stridedCopyT(threads, d, src.([]int64), out, base, strides)
	case []int32:
		stridedCopyT(threads, d, src.([]int32), out, base, strides)
	case []float64:
		stridedCopyT(threads, d, src.([]float64), out, base, strides)
	case []uint16:
		stridedCopyT(threads, d, src.([]uint16), out, base, strides)
	case []uint8:
		stridedCopyT(threads, d, src.([]uint8), out, base, strides)
	case []int8:
		stridedCopyT(threads, d, src.([]int8), out, base, strides)
	case []bool:
		stridedCopyT(threads, d, src.([]bool), out, base, strides)
	default:
		return false
	}
	return true
}

func stridedCopyT[T any](threads int, dst, src []T, out []int64, base int, strides []int) {
	r := len(out)
	if len(dst) == 0 {
		return
	}
	if r == 0 {
		dst[0] = src[base]
		return
	}
	inner, s := int(out[r-1]), strides[r-1]
	rows := len(dst) / inner
	outer := out[:r-1]
	parallel.For(threads, rows, max(1, 16384/inner), func(lo, hi int) {
		// Offset and multi-index of row lo.
		counter := make([]int, r-1)
		off := base
		for k, rem := r-2, lo; k >= 0; k-- {
			counter[k] = rem % int(outer[k])
			rem /= int(outer[k])
			off += counter[k] * strides[k]
		}
		for row := lo; row < hi; row++ {
			d := dst[row*inner : (row+1)*inner]
			if s == 1 {
				copy(d, src[off:off+inner])
			} else {
				for j := range d {
					d[j] = src[off+j*s]
				}
			}
			for k := r - 2; k >= 0; k-- {
				counter[k]++
				off += strides[k]
				if counter[k] < int(outer[k]) {
					break
				}
				off -= strides[k] * counter[k]
				counter[k] = 0
			}
		}
	})
}
