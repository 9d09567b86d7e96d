//go:build amd64 && !purego

package blas

// sum64AVX2 is Sum64 of the first n values at p; n is a positive multiple of 8.
//
//go:noescape
func sum64AVX2(p *float32, n int) float64

// sqDev64AVX2 is SqDev64 of the first n values at p; n is a positive multiple of 8.
//
//go:noescape
func sqDev64AVX2(p *float32, n int, mean float64) float64

// normAffineAVX2 is NormAffine on the first n values; n is a positive multiple of 8.
//
//go:noescape
func normAffineAVX2(dst, src, scale, bias *float32, n int, mean, inv float64)

// s holds a multiple of 8 values.
func sum64Vec(s []float32) (float64, bool) {
	if len(s) == 0 || !haveAVX2 {
		return 0, false
	}
	return sum64AVX2(&s[0], len(s)), true
}

func sqDev64Vec(s []float32, mean float64) (float64, bool) {
	if len(s) == 0 || !haveAVX2 {
		return 0, false
	}
	return sqDev64AVX2(&s[0], len(s), mean), true
}

// normAffineVec runs normAffineAVX2 over a prefix of dst and returns its length; the
// other slices are as long as dst.
func normAffineVec(dst, src, scale, bias []float32, mean, inv float64) int {
	n := len(dst) &^ 7
	if n == 0 || !haveAVX2 {
		return 0
	}
	_, _, _ = src[n-1], scale[n-1], bias[n-1]
	normAffineAVX2(&dst[0], &src[0], &scale[0], &bias[0], n, mean, inv)
	return n
}
