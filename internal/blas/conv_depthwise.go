package blas

// FMARow sets dst[i] = v*src[i] + dst[i] with one rounding (a fused multiply-add), for
// the taps of depthwise convolutions: ONNX Runtime fuses them too, and a multiply and
// an add rounded apart drift from it on large activations. len(src) >= len(dst).
//
// BenchmarkFMARow on the 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~20),
// ns per value, FMARow / the Go multiply-add loop it replaced: 56-value rows 0.7 /
// 2.3-2.8, 112-value rows 0.32-0.4 / 2.1-2.6; 14-value rows are call-bound (~2.3 both).
func FMARow(dst, src []float32, v float32) {
	src = src[:len(dst)]
	i := fmaRowVec(dst, src, v)
	fmaRowGo(dst[i:], src[i:], v)
}
