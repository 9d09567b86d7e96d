//go:build !amd64 || purego

package blas

// packA6 interleaves six full rows of untransposed A.
func packA6(strip, a []float32, lda, row, pc, kc int) {
	r0 := a[row*lda+pc : row*lda+pc+kc]
	r1 := a[(row+1)*lda+pc:][:len(r0)]
	r2 := a[(row+2)*lda+pc:][:len(r0)]
	r3 := a[(row+3)*lda+pc:][:len(r0)]
	r4 := a[(row+4)*lda+pc:][:len(r0)]
	r5 := a[(row+5)*lda+pc:][:len(r0)]
	strip = strip[:6*len(r0)]
	for p := range r0 {
		out := (*[6]float32)(strip[p*6:])
		out[0], out[1], out[2] = r0[p], r1[p], r2[p]
		out[3], out[4], out[5] = r3[p], r4[p], r5[p]
	}
}
