package qgemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkKernel times one micro-kernel call on L1-resident packed operands (K = 256)
// in GOP (two per multiply-add) per CPU-second. On the 2-core AMD EPYC (Zen 4; avx2,
// avx512f, avx512_vnni) dev VM, loaded (load average ~25): avx512vnni-8x32 250,
// avx2-8x32 66-98, go 3.3 (internal/blas's float32 SGEMM kernels: about 110 GFLOP).
func BenchmarkKernel(b *testing.B) {
	for _, k := range kernels() {
		b.Run(k.name, func(b *testing.B) {
			kg := 64
			a, bb := make([]byte, kg*mr*4), make([]byte, kg*nr*4)
			for i := range a {
				a[i] = byte(i * 7)
			}
			for i := range bb {
				bb[i] = byte(i * 5)
			}
			c := make([]int32, mr*nr)
			cpu0 := cpuTime()
			for b.Loop() {
				k.us(kg, &a[0], &bb[0], &c[0], nr, &zeroInit[0])
			}
			reportOps(b, 2*float64(mr*nr*kg*4)*float64(b.N), cpu0)
		})
	}
}

// BenchmarkGemm times whole products (packing A and the zero points included) of
// the shapes of the int8 transformer (128 tokens, d_model 256) and the MNIST CNN's
// second convolution (batch 32) with A unpacked, on one thread. On the dev VM above,
// loaded, GOP per CPU-second: 128x256x768 avx512vnni 236, avx2 96, go 3.9;
// 128x1024x256 225 / 77 / 3.6; 6272x288x64 123 / 73 / 3.8 (64 columns: two panels
// per packed strip of A, so packing A weighs more).
func BenchmarkGemm(b *testing.B) {
	for _, sz := range [][3]int{{128, 768, 256}, {128, 256, 1024}, {6272, 64, 288}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, kern := range kernels() {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, k, n, kern.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 1))
				a, bb := randBytes(r, m*k), randBytes(r, k*n)
				p := Pack(k, n, bb, n, 1, true)
				c := make([]int32, m*n)
				withKernel(b, kern, func() {
					cpu0 := cpuTime()
					for b.Loop() {
						Gemm(1, m, a, k, false, []int32{128}, p, []int32{0}, c, n)
					}
					reportOps(b, 2*float64(m*n*k)*float64(b.N), cpu0)
				})
			})
		}
	}
}

func reportOps(b *testing.B, ops float64, cpu0 time.Duration) {
	b.ReportMetric(ops/b.Elapsed().Seconds()/1e9, "GOP/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(ops/cpu.Seconds()/1e9, "GOP/cpu-s")
	}
}

// BenchmarkPackA times packing a 64 x 1024 block of A (the rows one task of Gemm
// packs for the int8 transformer's second feed-forward product) in GB of A per
// CPU-second. On the 2-core AMD EPYC (Zen 4) dev VM, load average ~23: 4.4-5.0
// (2.0-2.4 before packing group-major with word loads).
func BenchmarkPackA(b *testing.B) {
	const rows, k = 64, 1024
	r := rand.New(rand.NewPCG(1, 1))
	a := randBytes(r, rows*k)
	dst := make([]byte, rows*k)
	cpu0 := cpuTime()
	for b.Loop() {
		packA(dst, nil, a, k, rows, k, k/4, 0, false)
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(rows*k)*float64(b.N)/cpu.Seconds()/1e9, "GB/cpu-s")
	}
}

// BenchmarkGemmOffsets times the direct convolution's product (B read in place at
// per-group offsets) at the shape of the int8 MNIST CNN's second convolution (32
// filters, 3x3 taps of 16 channels, a 14x14 image at padded width 16) on one thread,
// in GOP per CPU-second. On the 2-core AMD EPYC (Zen 4) dev VM, load average ~23:
// avx512vnni-8x32 220, avx2-8x32 68, go 4.7.
func BenchmarkGemmOffsets(b *testing.B) {
	const m, cb, taps, n = 32, 4, 9, 14 * 16
	r := rand.New(rand.NewPCG(1, 1))
	kk := taps * cb * 4
	pa := PackA(m, kk, randBytes(r, m*kk), kk, true, false)
	plane := 256 + 2*16 + 2 + 32
	src := randBytes(r, cb*plane*4)
	var offs []int
	for t := 0; t < taps; t++ {
		for c := 0; c < cb; c++ {
			offs = append(offs, (c*plane+(t/3)*16+t%3)*4)
		}
	}
	c := make([]int32, m*n)
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			withKernel(b, kern, func() {
				cpu0 := cpuTime()
				for b.Loop() {
					GemmOffsets(1, pa, src, offs, 3, n, c, n)
				}
				reportOps(b, 2*float64(m*n*kk)*float64(b.N), cpu0)
			})
		})
	}
}

// BenchmarkEpilogues times the vectorized 8-bit epilogues on L2-resident data, on
// one thread, in G elements per CPU-second (path "vec" on this CPU, "go" the scalar
// loops). On the 2-core AMD EPYC (Zen 4) dev VM, load average ~30, vec / go:
// Range 26 / 1.1 (DynamicQuantizeLinear's 128x1024 input); Requantize 2.7 / 0.33
// (28 rows of 28 sums at stride 30, MNIST conv1's output plane); MaxPairs 12.7 /
// 0.67 and MaxBytes 27 / 1.4 (a 28x28 plane); fix 2.7 / 1.0 (32 columns).
func BenchmarkEpilogues(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	floats := make([]float32, 128*1024)
	for i := range floats {
		floats[i] = float32(r.NormFloat64())
	}
	sums := make([]int32, 28*30+8)
	for i := range sums {
		sums[i] = int32(r.IntN(40000)) - 20000
	}
	plane := randBytes(r, 28*28)
	out := make([]byte, 28*28)
	cols := make([]int32, 32)
	adj := make([]int32, 32)
	for i := range adj {
		adj[i] = int32(r.IntN(1000))
	}
	for _, vec := range []bool{true, false} {
		name := "vec"
		if !vec {
			name = "go"
		}
		saved := scaleUseAVX2
		scaleUseAVX2 = scaleUseAVX2 && vec
		for _, bc := range []struct {
			op string
			n  int
			f  func()
		}{
			{"Range", len(floats), func() { Range(floats) }},
			{"Requantize", 28 * 28, func() { Requantize(out, sums, 28, 28, 30, 3, 0.01, 0.5, 0.07, 0, 255, 128, false) }},
			{"MaxPairs", 28 * 14, func() { MaxPairs(out[:28*14], plane, 0) }},
			{"MaxBytes", 27 * 28, func() { MaxBytes(out[:27*28], plane, plane[28:]) }},
			{"fix", 32, func() { fix(cols, 7, 3, adj, adj, false) }},
		} {
			b.Run(bc.op+"/"+name, func(b *testing.B) {
				cpu0 := cpuTime()
				for b.Loop() {
					bc.f()
				}
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(bc.n)*float64(b.N)/cpu.Seconds()/1e9, "Gelem/cpu-s")
				}
			})
		}
		scaleUseAVX2 = saved
	}
}
