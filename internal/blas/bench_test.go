package blas

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchShapes are square sizes, ResNet-18 convolutions as GEMM (m = output channels,
// n = output pixels, k = input channels x kernel area) and an attention-sized product.
var benchShapes = []struct {
	name    string
	m, n, k int
}{
	{"square256", 256, 256, 256},
	{"square512", 512, 512, 512},
	{"square1024", 1024, 1024, 1024},
	{"conv2_64x3136x576", 64, 3136, 576},
	{"conv3_128x784x1152", 128, 784, 1152},
	{"conv4_256x196x2304", 256, 196, 2304},
	{"conv5_512x49x4608", 512, 49, 4608},
	{"attn_128x64x128", 128, 64, 128},
}

// reportGFLOPS reports GFLOP/s of wall time and, where the OS tells, GFLOP per
// CPU-second, which stays meaningful when other processes share the cores.
func reportGFLOPS(b *testing.B, m, n, k int, cpu0 time.Duration) {
	flops := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemm: GFLOP per CPU-second on the 2-core AMD EPYC (Zen 4; avx2, avx512f) dev
// VM at one thread, load ~27 (go test -bench 'Sgemm$' -benchtime 5x ./internal/blas):
// square256 70, square512 80, square1024 90, conv2 66, conv3 79, conv4 57, conv5 58,
// attn 48.
func BenchmarkSgemm(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range benchShapes {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				cpu0 := processCPUTime()
				for b.Loop() {
					Sgemm(threads, false, false, s.m, s.n, s.k, 1, x, s.k, y, s.n, 0, z, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k, cpu0)
			})
		}
	}
}

// BenchmarkSgemmPackedB packs B once, as MatMul/Gemm do with constant weights. GFLOP
// per CPU-second, as BenchmarkSgemm: square256 83, square512 89, square1024 91, conv2 89,
// conv3 90, conv4 85, conv5 60, attn 29.
func BenchmarkSgemmPackedB(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range benchShapes {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				p := PackB(false, s.k, s.n, y, s.n)
				cpu0 := processCPUTime()
				for b.Loop() {
					SgemmPackedB(threads, false, s.m, 1, x, s.k, p, 0, z, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k, cpu0)
			})
		}
	}
}

// BenchmarkSgemmPackedA packs A once, as Conv does with its constant weights in
// C = W * im2col. GFLOP per CPU-second, as BenchmarkSgemm: square256 85, square512 92,
// square1024 94, conv2 67, conv3 56, conv4 83, conv5 76, attn 59.
func BenchmarkSgemmPackedA(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range benchShapes {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				p := PackA(false, s.m, s.k, x, s.k)
				cpu0 := processCPUTime()
				for b.Loop() {
					SgemmPackedA(threads, p, false, s.n, 1, y, s.n, 0, z, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k, cpu0)
			})
		}
	}
}

// BenchmarkSgemmConv runs ResNet-18's 3x3 stride-1 convolutions (batch 1) through
// SgemmConv, gathering im2col columns while packing.
//
// On the 2-core AMD EPYC (Zen 4) dev VM at one thread, loaded: about 75-90 GFLOP per
// CPU-second (conv2 75, conv3 85, conv4 80, conv5 70).
func BenchmarkSgemmConv(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range []struct {
			name     string
			ch, side int
		}{{"conv2_64x3136x576", 64, 56}, {"conv3_128x784x1152", 128, 28}, {"conv4_256x196x2304", 256, 14}, {"conv5_512x49x4608", 512, 7}} {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				g := convGeom(s.ch, s.side, s.side, 3, 3, 1, 1, 1)
				m, n, k := s.ch, g.OutH*g.OutW, s.ch*9
				w := PackA(false, m, k, randSlice(r, m*k), k)
				x, z := randSlice(r, s.ch*s.side*s.side), make([]float32, m*n)
				cpu0 := processCPUTime()
				for b.Loop() {
					SgemmConv(threads, w, 1, x, g, 0, z, n)
				}
				reportGFLOPS(b, m, n, k, cpu0)
			})
		}
	}
}

// BenchmarkSgemmKernels compares the micro-kernels this CPU runs on the ResNet-18
// convolution shapes at one thread, with A packed once (as Conv does). On the 2-core
// AMD EPYC (Zen 4) dev VM, loaded (GFLOP per CPU-second, best of 3): avx512-16x16
// conv3 87, conv4 85, conv5 71; avx2-6x16 conv3 90, conv4 88, conv5 74: packing and
// the 49-column edge of conv5, not the micro-kernel (111), bound these products.
func BenchmarkSgemmKernels(b *testing.B) {
	saved := kernel
	defer func() { kernel = saved }()
	for _, k := range append(cpuKernels(), genericKernel) {
		kernel = k
		for _, s := range benchShapes[3:] {
			b.Run(fmt.Sprintf("%s/%s", k.name, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
				p := PackA(false, s.m, s.k, x, s.k)
				cpu0 := processCPUTime()
				for b.Loop() {
					SgemmPackedA(1, p, false, s.n, 1, y, s.n, 0, z, s.n)
				}
				reportGFLOPS(b, s.m, s.n, s.k, cpu0)
			})
		}
	}
}
