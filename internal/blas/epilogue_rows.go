package blas

import "math"

// Max returns the largest value of s, ignoring NaNs: -Inf when s is empty or all NaN
// (Softmax's shift). Of a +0 and a -0 either may be returned.
func Max(s []float32) float32 {
	mx, done := maxVec(s)
	for _, v := range s[done:] {
		if v > mx {
			mx = v
		}
	}
	return mx
}

// MulScalar sets dst[i] = src[i] * f; DivScalar sets dst[i] = src[i] / d. Both round
// each result once as the scalar operation does. src holds at least len(dst) values
// and may be dst.
func MulScalar(dst, src []float32, f float32) { scalarOp(dst, src, f, false) }

// DivScalar: see MulScalar.
func DivScalar(dst, src []float32, d float32) { scalarOp(dst, src, d, true) }

func scalarOp(dst, src []float32, f float32, div bool) {
	src = src[:len(dst)]
	done := scalarOpVec(dst, src, f, div)
	for i := done; i < len(dst); i++ {
		if div {
			dst[i] = src[i] / f
		} else {
			dst[i] = src[i] * f
		}
	}
}

var negInf = float32(math.Inf(-1))
