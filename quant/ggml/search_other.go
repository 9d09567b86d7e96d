//go:build !amd64 || purego

package ggml

// Stubs for the vector kernels: other CPUs, and -tags purego on amd64.
// haveSIMD is false, so none of them is ever called.

const haveSIMD = false

// noKernel panics. A function value, so that staticcheck does not take the code after
// the qkx kernel calls in qkxSearchSIMD for unreachable (SA4009 on its bestErr).
var noKernel = func() { panic("ggml: vector kernel called in a build without them") }

func qkxSumsAVX2(x, w *float32, n int, num *[16]float32, rng, min float32, nmax int32, lv *[32][16]float32, sums *[48]float32) {
	noKernel()
}

func qkxFitAVX2(sums *[48]float32, sumW, sumX float32, scale, min *[16]float32) uint32 {
	noKernel()
	return 0
}

func qkxErrAVX2(x, w *float32, n int, lv *[32][16]float32, scale, min *[16]float32, mad bool, err *[16]float32) {
	noKernel()
}

func qxSumsAVX2(x, w *float32, n int, num *[24]float32, max float32, nmax int32, sums *[48]float32) {
	panic("unreachable")
}

func absMax16AVX2(x *float32) (amax float32, first int, nan bool) { panic("unreachable") }

func iq4SumsAVX2(x, w *float32, n int, id *[8]float32, tab *[16]float32, bcast *[16][8]float32, sums *[16]float32) {
	panic("unreachable")
}

func q8RoundAVX2(x *float32, id float32, y *byte) { panic("unreachable") }

func q40AVX2(x *float32, id float32, y *byte) { panic("unreachable") }

func absMax32AVX2(x *float32) (amax float32, first int, nan bool) { panic("unreachable") }

const haveF16C = false

func f32ToF16F16C(dst *byte, src *float32, n int) int { panic("unreachable") }

func f32ToBF16AVX2(dst *byte, src *float32, n int) { panic("unreachable") }

func mxfp4IdxAVX2(x *float32, level *[16]float32, y *byte) { panic("unreachable") }

func qLevelsAVX2(x *float32, min, id, bias float32, cap int32, y *byte) { panic("unreachable") }

func minMax32AVX2(x *float32) (min, max float32) { panic("unreachable") }

var useRows = false

func q80RowAVX2(x *float32, y *byte, nb int) int { panic("unreachable") }

func q40RowAVX2(x *float32, y *byte, nb int) { panic("unreachable") }

func kLevelsAVX2(x, d, dm *float32, L *byte, nsub, sub int, lo, hi, off int32) {
	panic("unreachable")
}

func neighbourD2AVX2(grid *[8]float32, nb *uint16, n int, xval, weight *float32, scale float32, pos0 int32, best *[8]float32, pos *[8]int32) {
	panic("unreachable")
}

func iq3BatchAVX2(tab *iq3Tables, xval, waux, weight *[32]float32, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64) {
	panic("unreachable")
}

func iq2BatchAVX2(tab *iq2Tables, xval, waux, weight *float32, ngroups int, id, scale *[8]float32, lt *[32][8]int32, sums *[16]float32) (onGrid uint64) {
	panic("unreachable")
}
