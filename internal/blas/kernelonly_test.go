package blas

import (
	"testing"
)

// BenchmarkMicroKernel times one micro-kernel call on L1-resident packed operands
// (kc = 256): the kernel's own ceiling, without packing or memory traffic. On the
// 2-core AMD EPYC (Zen 4) dev VM, loaded: avx512-16x16 111, avx2-6x16 109, go-4x4 4.0
// GFLOP per CPU-second. Zen 4 splits 512-bit FMAs into two 256-bit halves, so the
// AVX-512 tile only saves instructions there; CPUs with two 512-bit FMA units gain
// more.
func BenchmarkMicroKernel(b *testing.B) {
	for _, k := range append(cpuKernels(), genericKernel) {
		b.Run(k.name, func(b *testing.B) {
			kc := gemmKC
			a := make([]float32, k.mr*kc)
			bb := make([]float32, k.nr*kc)
			c := make([]float32, k.mr*k.nr)
			for i := range a {
				a[i] = float32(i%7) * 0.01
			}
			for i := range bb {
				bb[i] = float32(i%5) * 0.01
			}
			cpu0 := processCPUTime()
			for b.Loop() {
				k.fn(kc, &a[0], &bb[0], &c[0], k.nr, 1, 0)
			}
			flops := 2 * float64(k.mr*k.nr*kc) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// BenchmarkEdgeKernels times the kernels for narrow right edges on L1-resident packed
// operands (kc = 256), in GFLOP of the full tile's work per CPU-second, so a figure
// above the full kernel's is the saving on an edge panel. On the 2-core AMD EPYC
// (Zen 4) dev VM, loaded: avx512 full 16x16 108, half 16x8 206, 16x4 by columns 370;
// avx2 6x8 half 190.
func BenchmarkEdgeKernels(b *testing.B) {
	for _, k := range cpuKernels() {
		for _, e := range []struct {
			name string
			fn   kernelFunc
		}{{"full", k.fn}, {"half", k.half}, {"cols", k.cols}} {
			if e.fn == nil {
				continue
			}
			b.Run(k.name+"/"+e.name, func(b *testing.B) {
				kc := gemmKC
				a := make([]float32, k.mr*kc)
				bb := make([]float32, k.nr*kc)
				c := make([]float32, k.mr*k.nr)
				for i := range a {
					a[i] = float32(i%7) * 0.01
				}
				for i := range bb {
					bb[i] = float32(i%5) * 0.01
				}
				cpu0 := processCPUTime()
				for b.Loop() {
					e.fn(kc, &a[0], &bb[0], &c[0], k.nr, 1, 0)
				}
				flops := 2 * float64(k.mr*k.nr*kc) * float64(b.N)
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
