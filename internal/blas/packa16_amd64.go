//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// packA16AVX2 interleaves the first k8 (a multiple of 8) columns of sixteen rows
// (src, row stride lda floats) into dst, sixteen values per column, transposing
// 8x8 blocks in registers.
//
//go:noescape
func packA16AVX2(dst, src *float32, lda, k8 int)

var havePackA16 = cpu.X86.HasAVX2

// packA16Vec packs a prefix of the kc columns of packA16 and returns its length.
func packA16Vec(strip, a []float32, lda, row, pc, kc int) int {
	k8 := kc &^ 7
	if k8 == 0 || !havePackA16 {
		return 0
	}
	_ = strip[16*k8-1]
	_ = a[(row+15)*lda+pc+k8-1]
	packA16AVX2(&strip[0], &a[row*lda+pc], lda, k8)
	return k8
}
