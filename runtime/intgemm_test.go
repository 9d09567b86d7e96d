package runtime

import (
	"math/rand/v2"
	"testing"
)

// TestIntMatmulExact checks the float path of the int8 products against int32
// arithmetic, with the extreme operands (|a - za| = |b - zb| = 255) that make every
// 256-step run reach its largest sum, and K not a multiple of the run length.
func TestIntMatmulExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct{ m, n, k int }{{3, 5, 700}, {17, 33, 257}, {64, 64, 1024}, {1, 100, 4096}} {
		for _, extreme := range []bool{false, true} {
			a, b := make([]int32, s.m*s.k), make([]int32, s.k*s.n)
			for i := range a {
				a[i] = int32(r.IntN(256))
				if extreme {
					a[i] = 255
				}
			}
			for i := range b {
				b[i] = int32(r.IntN(256))
				if extreme {
					b[i] = 0
				}
			}
			za := []int32{int32(r.IntN(256))}
			zb := make([]int32, s.n) // per column
			for j := range zb {
				zb[j] = int32(r.IntN(256))
				if extreme {
					zb[j] = 255
				}
			}
			if extreme {
				za[0] = 0
			}
			want := make([]int32, s.m*s.n)
			for i := 0; i < s.m; i++ {
				for j := 0; j < s.n; j++ {
					var sum int32
					for p := 0; p < s.k; p++ {
						sum += (a[i*s.k+p] - za[0]) * (b[p*s.n+j] - zb[j])
					}
					want[i*s.n+j] = sum
				}
			}
			mm, err := newIntMatmul([]int64{int64(s.m), int64(s.k)}, []int64{int64(s.k), int64(s.n)})
			if err != nil {
				t.Fatal(err)
			}
			for _, threads := range []int{1, 2} {
				got := make([]int32, s.m*s.n)
				mm.run(threads, got, a, b, za, zb, false)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v extreme=%v threads=%d: C[%d] = %d, want %d", s, extreme, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkIntMatmul times the int8 product of MatMulInteger/QLinearMatMul (uint8 x
// int8, 256 x 1024 x 1024, per-column zero points) at one thread: the exact float
// path, and the int32 loop it replaces (the saturating arithmetic still uses that
// loop). On the 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~15): exact path
// 29 GOP/s of wall time, int32 loop 0.28 GOP/s.
func BenchmarkIntMatmul(b *testing.B) {
	const m, n, k = 256, 1024, 1024
	r := rand.New(rand.NewPCG(1, 2))
	a, w := make([]int32, m*k), make([]int32, k*n)
	for i := range a {
		a[i] = int32(r.IntN(256))
	}
	for i := range w {
		w[i] = int32(r.IntN(256)) - 128
	}
	zb := make([]int32, n)
	mm, _ := newIntMatmul([]int64{m, k}, []int64{k, n})
	acc := make([]int32, m*n)
	for _, path := range []string{"exact", "int32"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if path == "exact" {
					mm.run(1, acc, a, w, []int32{3}, zb, false)
				} else {
					mm.runInt32(1, acc, a, w, []int32{3}, zb, false)
				}
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
		})
	}
}
