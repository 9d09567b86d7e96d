//go:build amd64 && !purego

package qgemm

import "golang.org/x/sys/cpu"

// scaleAVX2 is Scale over n elements (a multiple of 8), eight at a time.
//
//go:noescape
func scaleAVX2(dst *float32, src *int32, n int, off int32, k, b float32, bias bool)

var scaleUseAVX2 = cpu.X86.HasAVX2

// scaleVec scales the longest multiple of 8 elements it can and returns how many.
func scaleVec(dst []float32, src []int32, off int32, k, b float32, bias bool) int {
	n := len(dst) &^ 7
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	scaleAVX2(&dst[0], &src[0], n, off, k, b, bias)
	return n
}
