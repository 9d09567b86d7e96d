package prune

import (
	"slices"
)

// MagnitudeKernel copies src to dst with the k elements of smallest |x| set to zero
// (ties broken by position, lower index first). len(dst) must equal len(src).
func MagnitudeKernel(dst, src []float32, k int) {
	copy(dst, src)
	if k <= 0 {
		return
	}
	if k >= len(src) {
		clear(dst)
		return
	}
	idx := make([]int32, len(src))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(a, b int32) int {
		x, y := abs32(src[a]), abs32(src[b])
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for _, i := range idx[:k] {
		dst[i] = 0
	}
}

// ThresholdKernel copies src to dst, zeroing every element with |x| < t and the first
// `ties` elements with |x| == t. It returns how many ties it zeroed.
func ThresholdKernel(dst, src []float32, t float32, ties int64) int64 {
	var used int64
	for i, x := range src {
		a := abs32(x)
		switch {
		case a < t:
			dst[i] = 0
		case a == t && used < ties:
			dst[i] = 0
			used++
		default:
			dst[i] = x
		}
	}
	return used
}

// NMKernel copies src (shape [outer, dim, inner], row-major) to dst keeping, in every
// group of m consecutive positions along dim, the n largest |x| (ties: lower index).
// dim must be a multiple of m.
func NMKernel(dst, src []float32, outer, dim, inner, n, m int) {
	copy(dst, src)
	var order [64]int
	for o := 0; o < outer; o++ {
		for g := 0; g < dim; g += m {
			for in := 0; in < inner; in++ {
				at := func(j int) int { return (o*dim+g+j)*inner + in }
				// Selection by repeated scan: m is small (4, 8, 16).
				ord := order[:0]
				if m > len(order) {
					ord = make([]int, 0, m)
				}
				for j := 0; j < m; j++ {
					ord = append(ord, j)
				}
				slices.SortStableFunc(ord, func(a, b int) int {
					x, y := abs32(src[at(a)]), abs32(src[at(b)])
					switch {
					case x > y:
						return -1
					case x < y:
						return 1
					}
					return 0
				})
				for _, j := range ord[n:] {
					dst[at(j)] = 0
				}
			}
		}
	}
}
