package blas

// ExpShifted sets dst[i] = exp(src[i] - shift) for src[i] <= shift (Softmax's
// shifted exponentials) and returns their sum; results below exp(-87.34) are 0 and
// a NaN stays NaN. On amd64 with AVX2 and FMA eight lanes run at once (a degree-7
// polynomial after range reduction, relative error about 2e-7); elsewhere exp
// computes each value. The sum is accumulated in float32 lanes.
func ExpShifted(dst, src []float32, shift float32, exp func(float32) float32) float32 {
	src = src[:len(dst)]
	done, sum := expShiftedVec(dst, src, shift)
	for i := done; i < len(dst); i++ {
		e := exp(src[i] - shift)
		dst[i] = e
		sum += e
	}
	return sum
}
