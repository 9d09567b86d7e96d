package runtime

import (
	"math"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
)

// softmaxRows computes Softmax (or LogSoftmax when logOut) over each of the rows
// contiguous rows of length dim: exp(x - max) once per element (eight lanes at a
// time through blas.ExpShifted for Softmax; exp32 for LogSoftmax, its sum in float64);
// the max and the final scaling are vectorized too (blas.Max, blas.MulScalar).
func softmaxRows(threads int, y, x []float32, rows, dim int, logOut bool) {
	parallel.For(threads, rows, max(1, 4096/max(1, dim)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src, dst := x[r*dim:(r+1)*dim], y[r*dim:(r+1)*dim]
			mx := blas.Max(src)
			var sum float64
			if logOut {
				for _, v := range src {
					sum += float64(exp32(v - mx))
				}
				ls := float32(math.Log(sum))
				for i, v := range src {
					dst[i] = v - mx - ls
				}
				continue
			}
			sum = float64(blas.ExpShifted(dst, src, mx, exp32)) // vectorized
			blas.MulScalar(dst, dst, float32(1/sum))
		}
	})
}

// exp32 is e^x in float32 arithmetic, within 2 ulp of math.Exp over the float32
// range: x = n*ln2 + r with |r| <= ln2/2, e^r by a degree-7 Taylor polynomial,
// scaled by 2^n through the exponent bits. Results below the normal range are 0;
// NaN gives NaN and +Inf for x above 88.72.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2Hi = 0.693145751953125 // ln2 with its low bits cleared, so n*ln2Hi is exact
		ln2Lo = 1.42860682030941723212e-6
	)
	if !(x > -87.33654) { // also NaN
		if x != x {
			return x
		}
		return 0
	}
	if x > 88.72283 {
		return float32(math.Inf(1))
	}
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2Hi - n*ln2Lo
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	// p is in [0.7, 1.42]; n in [-126, 128]: split the scale so neither factor overflows.
	ni := int32(n)
	h := ni / 2
	return p * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(ni-h+127)<<23)
}
