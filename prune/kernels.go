package prune

import (
	"math"
	"slices"
)

// MagnitudeKernel copies src to dst with the k elements of smallest |x| set to zero
// (ties broken by position, lower index first). len(dst) must equal len(src).
// It finds the k-th smallest magnitude with two histogram passes over the bit
// patterns instead of sorting, so a large tensor takes a fraction of a second and no
// extra memory; NaNs rank with the infinities.
func MagnitudeKernel(dst, src []float32, k int) {
	copy(dst, src)
	if k <= 0 {
		return
	}
	if k >= len(src) {
		clear(dst)
		return
	}
	t, below, _ := kthMagnitude(int64(k), func(fn func([]float32)) error { fn(src); return nil })
	// Everything under t, then the first ties in index order, as a stable sort would.
	ties := int64(k) - below
	for i, x := range src {
		switch m := magnitudeKey(x); {
		case m < t:
			dst[i] = 0
		case m == t && ties > 0:
			dst[i] = 0
			ties--
		}
	}
}

// kthMagnitude returns the magnitude key of the k-th smallest (1-based) of the values
// that each passes to fn, and how many values have a smaller key. each is called twice
// and must pass the same values both times, in any pieces: the values are counted in
// two histograms (high and low 16 bits of the key), never held. Magnitudes of
// non-negative floats order as their bit patterns do.
func kthMagnitude(k int64, each func(fn func([]float32)) error) (key uint32, below int64, err error) {
	var hist [1 << 16]int64
	err = each(func(v []float32) {
		for _, x := range v {
			hist[magnitudeKey(x)>>16]++
		}
	})
	if err != nil {
		return 0, 0, err
	}
	high, below := kthBucket(&hist, k)
	clear(hist[:])
	err = each(func(v []float32) {
		for _, x := range v {
			if m := magnitudeKey(x); m>>16 == high {
				hist[m&0xffff]++
			}
		}
	})
	if err != nil {
		return 0, 0, err
	}
	low, belowLow := kthBucket(&hist, k-below)
	return high<<16 | low, below + belowLow, nil
}

// magnitudeKey is the bit pattern of |x|, with every NaN mapped to +Inf's.
func magnitudeKey(x float32) uint32 {
	m := math.Float32bits(x) &^ (1 << 31)
	return min(m, 0x7f800000)
}

// kthBucket returns the bucket holding the k-th smallest counted value (1-based k)
// and how many values lie in the buckets below it.
func kthBucket(hist *[1 << 16]int64, k int64) (bucket uint32, below int64) {
	for b, n := range hist {
		if below+n >= k {
			return uint32(b), below
		}
		below += n
	}
	return 1<<16 - 1, below // unreachable for k <= the count
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
