package blas

import (
	"errors"
	"testing"

	"github.com/refit-ml/refit/internal/parallel"
)

// TestSgemmPiecePanicReachesCaller makes the micro-kernel panic in a product split
// over goroutines: the caller must get the panic (as a *parallel.Panic wrapping the
// value) after every piece is done, and the process must survive.
func TestSgemmPiecePanicReachesCaller(t *testing.T) {
	boom := errors.New("boom")
	saved := kernel
	defer func() { kernel = saved }()
	kernel.fn = func(kc int, a, b, c *float32, ldc int, alpha, beta float32) { panic(boom) }
	kernel.half, kernel.cols = nil, nil
	const m, n, k = 256, 256, 256 // above parallelMinFlops
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for range 3 { // the pooled gemm must come back clean
		func() {
			defer func() {
				p, ok := recover().(*parallel.Panic)
				if !ok || !errors.Is(p, boom) {
					t.Fatalf("recovered %v, want a *parallel.Panic wrapping %v", p, boom)
				}
			}()
			Sgemm(2, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		}()
	}
	kernel = saved
	Sgemm(2, false, false, m, n, k, 1, a, k, b, n, 0, c, n) // still works
}
