package runtime

import "github.com/refit-ml/refit/internal/blas"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb and
// ldc are the row strides of A, B and C as stored. When beta is 0, C's old contents
// are ignored. It is internal/blas's packed, cache-blocked SGEMM (an AVX2/FMA
// micro-kernel where the CPU has one), parallel over up to GOMAXPROCS goroutines.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// A stride of 0 for an empty operand (k == 0) is fine here; blas wants >= 1.
	blas.Sgemm(transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, c, max(ldc, 1))
}

// sgemm is Sgemm for kernels. parallel is a hint from callers that already run
// inside parallelFor; internal/blas keeps products too small to split on the caller
// and shares one worker pool, so nested calls do not multiply goroutines.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, parallel bool) {
	_ = parallel
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
