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

// dequantizeAVX2 is Dequantize over n elements (a multiple of 8), eight at a time.
//
//go:noescape
func dequantizeAVX2(dst *float32, src *byte, n int, z, s float32, signed bool)

func dequantizeVec(dst []float32, src []byte, signed bool, z, s float32) int {
	n := len(dst) &^ 7
	if !scaleUseAVX2 || n == 0 {
		return 0
	}
	dequantizeAVX2(&dst[0], &src[0], n, z, s, signed)
	return n
}
