package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ m, n, k int }{{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {17, 33, 300}, {65, 9, 513}, {128, 64, 128}, {0, 3, 3}, {3, 3, 0}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				t.Run(fmt.Sprintf("%dx%dx%d/%v%v", tc.m, tc.n, tc.k, ta, tb), func(t *testing.T) {
					a := randSlice(r, tc.m*tc.k)
					b := randSlice(r, tc.k*tc.n)
					c := randSlice(r, tc.m*tc.n)
					want := append([]float32(nil), c...)
					lda, ldb := tc.k, tc.n
					if ta {
						lda = tc.m
					}
					if tb {
						ldb = tc.k
					}
					naiveGemm(ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, want, tc.n)
					Sgemm(ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, c, tc.n)
					for i := range c {
						if math.Abs(float64(c[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("Sgemm element %d = %v, want %v", i, c[i], want[i])
						}
					}
				})
			}
		}
	}
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
			b.ResetTimer()
			for b.Loop() {
				Sgemm(false, false, s.m, s.n, s.k, 1, x, s.k, y, s.n, 0, z, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
