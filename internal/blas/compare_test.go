//go:build blascompare

// Comparison with the runtime's portable Sgemm, kept behind a build tag so this
// package's tests do not depend on the runtime package building:
//
//	go test -tags blascompare -run XXX -bench Compare ./internal/blas/
package blas_test

import (
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/runtime"
)

func BenchmarkCompareRuntimeSgemm(b *testing.B) {
	shapes := []struct {
		name    string
		m, n, k int
	}{
		{"square256", 256, 256, 256},
		{"square512", 512, 512, 512},
		{"conv2_64x3136x576", 64, 3136, 576},
		{"conv3_128x784x1152", 128, 784, 1152},
		{"conv4_256x196x2304", 256, 196, 2304},
		{"conv5_512x49x4608", 512, 49, 4608},
		{"attn_128x64x128", 128, 64, 128},
	}
	for _, threads := range []int{1, 2} {
		for _, s := range shapes {
			r := rand.New(rand.NewPCG(1, 2))
			x, y, z := make([]float32, s.m*s.k), make([]float32, s.k*s.n), make([]float32, s.m*s.n)
			for i := range x {
				x[i] = r.Float32()
			}
			for i := range y {
				y[i] = r.Float32()
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
			b.Run(fmt.Sprintf("threads=%d/%s/runtime", threads, s.name), func(b *testing.B) {
				defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(threads))
				cpu0 := blas.ProcessCPUTime()
				for b.Loop() {
					runtime.Sgemm(false, false, s.m, s.n, s.k, 1, x, s.k, y, s.n, 0, z, s.n)
				}
				report(b, flops, cpu0)
			})
			b.Run(fmt.Sprintf("threads=%d/%s/blas", threads, s.name), func(b *testing.B) {
				cpu0 := blas.ProcessCPUTime()
				for b.Loop() {
					blas.Sgemm(threads, false, false, s.m, s.n, s.k, 1, x, s.k, y, s.n, 0, z, s.n)
				}
				report(b, flops, cpu0)
			})
		}
	}
}

func report(b *testing.B, flops float64, cpu0 time.Duration) {
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := blas.ProcessCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}
