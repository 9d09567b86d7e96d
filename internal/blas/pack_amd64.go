//go:build amd64 && !purego

package blas

// packA6SSE interleaves kc columns of six rows (src, row stride lda) into dst, six
// values per column.
//
//go:noescape
func packA6SSE(dst, src *float32, lda, kc int)

// packA6 interleaves six full rows of untransposed A.
func packA6(strip, a []float32, lda, row, pc, kc int) {
	if kc == 0 {
		return
	}
	_ = strip[6*kc-1]
	_ = a[(row+5)*lda+pc+kc-1]
	packA6SSE(&strip[0], &a[row*lda+pc], lda, kc)
}
