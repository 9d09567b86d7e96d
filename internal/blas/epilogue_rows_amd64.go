//go:build amd64 && !purego

package blas

// maxAVX2 is Max of the first n values at p; n is a positive multiple of 8.
//
//go:noescape
func maxAVX2(p *float32, n int) float32

// scalarOpAVX2 is MulScalar (DivScalar when div) on the first n values; n is a
// positive multiple of 8.
//
//go:noescape
func scalarOpAVX2(dst, src *float32, n int, f float32, div bool)

func maxVec(s []float32) (float32, int) {
	n := len(s) &^ 7
	if n == 0 || !haveAVX2 {
		return negInf, 0
	}
	return maxAVX2(&s[0], n), n
}

// src is as long as dst.
func scalarOpVec(dst, src []float32, f float32, div bool) int {
	n := len(dst) &^ 7
	if n == 0 || !haveAVX2 {
		return 0
	}
	_ = src[n-1]
	scalarOpAVX2(&dst[0], &src[0], n, f, div)
	return n
}
