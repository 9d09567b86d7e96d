//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// biasReluAVX2 is BiasRelu on the first n values at p; n is a multiple of 16.
//
//go:noescape
func biasReluAVX2(p *float32, n int, b float32, relu bool)

var haveAVX2 = cpu.X86.HasAVX2

// biasReluVec runs the vector epilogue over a prefix of s and returns its length.
func biasReluVec(s []float32, b float32, relu bool) int {
	n := len(s) &^ 15
	if n == 0 || !haveAVX2 {
		return 0
	}
	biasReluAVX2(&s[0], n, b, relu)
	return n
}

// maxPool2x2AVX2 is MaxPool2x2 on the first n outputs; n is a multiple of 8.
//
//go:noescape
func maxPool2x2AVX2(out, r0, r1 *float32, n int)

// maxPool2x2Vec runs the vector pool over a prefix of out and returns its length.
func maxPool2x2Vec(out, r0, r1 []float32) int {
	n := len(out) &^ 7
	if n == 0 || !haveAVX2 {
		return 0
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	maxPool2x2AVX2(&out[0], &r0[0], &r1[0], n)
	return n
}
