package runtime

import "github.com/refit-ml/refit/internal/blas"

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major float32 matrices, where
// op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is m x n; lda, ldb and
// ldc are the row strides of A, B and C as stored. When beta is 0, C's old contents
// are ignored. It is internal/blas's packed, cache-blocked SGEMM (an AVX2/FMA
// micro-kernel where the CPU has one), parallel over up to threads goroutines
// (threads <= 0 means GOMAXPROCS); the result does not depend on threads.
func Sgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	// A stride of 0 for an empty operand (k == 0) is fine here; blas wants >= 1.
	blas.Sgemm(threads, transA, transB, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), beta, c, max(ldc, 1))
}
