package runtime

import (
	"github.com/refit-ml/refit/internal/parallel"
)

// exactChunk is the longest run of K whose int8 dot product float32 holds exactly:
// operands minus their zero points lie in [-255, 255], so each product is at most
// 65025 in magnitude and any partial sum of 256 of them at most 16,646,400 < 2^24.
// Every intermediate value of an FMA chain over such a run is then an integer that
// float32 represents, in any order of summation.
const exactChunk = 256

// intGemmExact computes acc (m x n, row stride n) = a (m x k, stride lda) x b
// (k x n, stride ldb), where a and b hold small integers (|v| <= 255) as float32:
// the float SGEMM over runs of exactChunk k steps, each result converted back to
// int32 and summed in int32, so the result is the exact integer product.
// tmp holds at least m*n floats.
func intGemmExact(threads, m, n, k int, a []float32, lda int, b []float32, ldb int, acc []int32, tmp []float32) {
	clear(acc[:m*n])
	for p0 := 0; p0 < k; p0 += exactChunk {
		kc := min(exactChunk, k-p0)
		Sgemm(threads, false, false, m, n, kc, 1, a[p0:], lda, b[p0*ldb:], ldb, 0, tmp, n)
		addRounded(threads, acc[:m*n], tmp[:m*n])
	}
}

// addRounded adds the integer-valued floats of src to dst.
func addRounded(threads int, dst []int32, src []float32) {
	parallel.For(threads, len(dst), 1<<15, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += int32(s[i])
		}
	})
}
