package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// shiftedConv computes alpha*W*im2col(x) + beta*c through a ShiftLayout and returns
// it compacted to m x (OutH*OutW), or false when the layout does not apply.
func shiftedConv(threads int, w *PackedA, alpha float32, x []float32, g Conv2D, beta float32, c []float32) ([]float32, bool) {
	l, ok := NewShiftLayout(g)
	if !ok {
		return nil, false
	}
	img := make([]float32, l.Len)
	for i := range img {
		img[i] = float32(math.NaN()) // Fill must write every value
	}
	l.Fill(img, x, g)
	m, n := w.m, g.OutH*g.OutW
	wide := make([]float32, m*l.N)
	for i := 0; i < m; i++ {
		for oh := 0; oh < g.OutH; oh++ {
			copy(wide[i*l.N+oh*l.RowLen:][:g.OutW], c[i*n+oh*g.OutW:][:g.OutW])
		}
	}
	SgemmShifted(threads, w, alpha, img, l.Offsets, l.N, beta, wide, l.N)
	out := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for oh := 0; oh < g.OutH; oh++ {
			copy(out[i*n+oh*g.OutW:][:g.OutW], wide[i*l.N+oh*l.RowLen:][:g.OutW])
		}
	}
	return out, true
}

func TestSgemmShifted(t *testing.T) { eachKernel(t, testSgemmShifted) }

func testSgemmShifted(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, tc := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"3x3 pad1", 8, convGeom(3, 20, 21, 3, 3, 1, 1, 1)},
		{"3x3 nopad", 5, convGeom(3, 12, 19, 3, 3, 1, 1, 0)},
		{"1x1", 16, convGeom(40, 9, 9, 1, 1, 1, 1, 0)},
		{"2x2 pad1", 7, convGeom(5, 9, 10, 2, 2, 1, 1, 1)},
		{"dilated", 6, convGeom(4, 19, 19, 3, 3, 1, 2, 2)},
		{"wide rows", 9, convGeom(2, 5, 70, 3, 3, 1, 1, 1)},
		{"5x5 pad2", 17, convGeom(3, 11, 13, 5, 5, 1, 1, 2)},
		{"resnet conv5", 32, convGeom(64, 7, 7, 3, 3, 1, 1, 1)},
		{"mnist conv1", 16, convGeom(1, 28, 28, 3, 3, 1, 1, 1)},
		{"asymmetric", 4, Conv2D{Channels: 2, Height: 9, Width: 30, KernelH: 2, KernelW: 5, PadTop: 1, PadLeft: 2, OutH: 9, OutW: 28}},
		{"kernel wider than rows", 3, convGeom(2, 3, 4, 5, 5, 1, 1, 4)},
		{"3x3 stride2", 7, convGeom(5, 17, 33, 3, 3, 2, 1, 1)},
		{"1x1 stride2", 5, convGeom(6, 14, 14, 1, 1, 2, 1, 0)},
		{"7x7 stride2 pad3", 13, convGeom(3, 40, 38, 7, 7, 2, 1, 3)},
		{"5x5 stride3 dilated", 6, convGeom(3, 30, 31, 5, 5, 3, 2, 2)},
		{"strided asymmetric", 4, Conv2D{Channels: 2, Height: 9, Width: 30, KernelH: 2, KernelW: 5, StrideH: 1, StrideW: 3, PadTop: 1, PadLeft: 2, OutH: 9, OutW: 10}},
	} {
		// alpha 1, beta 0 reads B in place (the tiles of conv_inplace.go); other
		// scalings pack B.
		for _, ab := range [][2]float32{{1.5, 0.5}, {1, 0}} {
			for _, threads := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/alpha=%v/threads=%d", tc.name, ab[0], threads), func(t *testing.T) {
					g := tc.g
					k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
					x := randSlice(r, g.Channels*g.Height*g.Width)
					w := randSlice(r, tc.m*k)
					c := randSlice(r, tc.m*n)
					want := append([]float32(nil), c...)
					naiveGemm(false, false, tc.m, n, k, ab[0], w, k, im2col(x, g), n, ab[1], want, n)
					got, ok := shiftedConv(threads, PackA(false, tc.m, k, w, k), ab[0], x, g, ab[1], c)
					if !ok {
						t.Fatalf("no shift layout for %+v", g)
					}
					for i := range got {
						if math.Abs(float64(got[i]-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("C[%d][%d] = %v, want %v", i/n, i%n, got[i], want[i])
						}
					}
				})
			}
		}
	}
}

func TestShiftLayoutRejects(t *testing.T) {
	for _, g := range []Conv2D{
		convGeom(40, 9, 9, 1, 1, 1, 1, 1), // pads on both sides wider than the kernel
		{Channels: 1, Height: 4, Width: 4, KernelH: 1, KernelW: 1, PadLeft: 3, OutH: 4, OutW: 10},
		{Channels: 1, Height: 4, Width: 4, KernelH: 1, KernelW: 1, PadLeft: -1, OutH: 4, OutW: 4},
	} {
		if _, ok := NewShiftLayout(g); ok {
			t.Errorf("NewShiftLayout(%+v) accepted", g)
		}
	}
}

func TestSgemmShiftedPanics(t *testing.T) {
	l, _ := NewShiftLayout(convGeom(2, 5, 5, 3, 3, 1, 1, 1))
	w := PackA(false, 3, 18, make([]float32, 3*18), 18)
	img := make([]float32, l.Len)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short image", func() {
			SgemmShifted(0, w, 1, img[:slices.Max(l.Offsets)+l.N-1], l.Offsets, l.N, 0, make([]float32, 3*l.N), l.N)
		}},
		{"offsets", func() { SgemmShifted(0, w, 1, img, l.Offsets[1:], l.N, 0, make([]float32, 3*l.N), l.N) }},
		{"negative offset", func() {
			offs := append([]int{-1}, l.Offsets[1:]...)
			SgemmShifted(0, w, 1, img, offs, l.N, 0, make([]float32, 3*l.N), l.N)
		}},
		{"short C", func() { SgemmShifted(0, w, 1, img, l.Offsets, l.N, 0, make([]float32, 3*l.N-1), l.N) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.call()
		})
	}
}

// FuzzSgemmShifted compares the shifted layout with im2col + the naive loop on random
// geometries, including ones whose output size does not match the input.
func FuzzSgemmShifted(f *testing.F) {
	f.Add(uint8(3), uint8(10), uint8(9), uint8(3), uint8(3), uint8(1), uint8(1), uint8(4), uint64(1))
	f.Add(uint8(2), uint8(20), uint8(30), uint8(5), uint8(2), uint8(2), uint8(0), uint8(7), uint64(2))
	f.Add(uint8(1), uint8(3), uint8(40), uint8(1), uint8(7), uint8(1), uint8(3), uint8(1), uint64(3))
	f.Fuzz(func(t *testing.T, ch, h, w, kh, kw, dil, pad, m uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 7))
		g := Conv2D{Channels: int(ch)%6 + 1, Height: int(h)%40 + 1, Width: int(w)%40 + 1,
			KernelH: int(kh)%7 + 1, KernelW: int(kw)%7 + 1, StrideH: int(dil>>4)%3 + 1, StrideW: int(dil>>6)%3 + 1,
			DilationH: int(dil)%3 + 1, DilationW: int(dil>>2)%3 + 1, PadTop: int(pad) % 4, PadLeft: int(pad>>2) % 4,
			OutH: int(h>>1)%20 + 1, OutW: int(w>>1)%40 + 1}
		rows := int(m)%20 + 1
		k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
		x := randSlice(r, g.Channels*g.Height*g.Width)
		wt := randSlice(r, rows*k)
		c := randSlice(r, rows*n)
		want := append([]float32(nil), c...)
		naiveGemm(false, false, rows, n, k, 1, wt, k, im2col(x, g), n, 1, want, n)
		got, ok := shiftedConv(0, PackA(false, rows, k, wt, k), 1, x, g, 1, c)
		if !ok {
			return
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%+v: C[%d][%d] = %v, want %v", g, i/n, i%n, got[i], want[i])
			}
		}
	})
}

// BenchmarkSgemmShifted runs ResNet-18's 3x3 stride-1 convolutions (batch 1) and the
// MNIST CNN's second one through a ShiftLayout (Fill included), for comparison with
// BenchmarkSgemmConv; GFLOP counts the useful columns only. On the 2-core AMD EPYC
// (Zen 4) dev VM at one thread, loaded (load average ~20, GFLOP per CPU-second, best
// of 2), B packed / read in place by the conv tiles (alpha 1, beta 0): conv2 81 / 92,
// conv3 85 / 98, conv4 90 / 92, conv5 81 / 87, mnist2 65 / 91.
func BenchmarkSgemmShifted(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range []struct {
			name        string
			m, ch, side int
		}{{"conv2_64x3136x576", 64, 64, 56}, {"conv3_128x784x1152", 128, 128, 28}, {"conv4_256x196x2304", 256, 256, 14},
			{"conv5_512x49x4608", 512, 512, 7}, {"mnist2_32x196x144", 32, 16, 14}} {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				g := convGeom(s.ch, s.side, s.side, 3, 3, 1, 1, 1)
				m, n, k := s.m, g.OutH*g.OutW, s.ch*9
				w := PackA(false, m, k, randSlice(r, m*k), k)
				l, _ := NewShiftLayout(g)
				x, img, z := randSlice(r, s.ch*s.side*s.side), make([]float32, l.Len), make([]float32, m*l.N)
				cpu0 := processCPUTime()
				for b.Loop() {
					l.Fill(img, x, g)
					SgemmShifted(threads, w, 1, img, l.Offsets, l.N, 0, z, l.N)
				}
				reportGFLOPS(b, m, n, k, cpu0)
			})
		}
	}
}

// BenchmarkPackBShifted measures Fill plus the packing of every block of B for
// ResNet-18 shapes, per im2col element, against BenchmarkPackBConv's gather. On the
// 2-core AMD EPYC (Zen 4) dev VM, loaded (CPU ns per element, shifted / gather):
// conv1_7x7s2 0.31 / 0.94, conv2_3x3 0.28 / 0.56, conv3_3x3s2 0.53 / 1.0, conv3_1x1s2
// 0.82 / 1.04, conv4_3x3 0.32 / 1.09, conv5_3x3 0.45 / 1.60.
func BenchmarkPackBShifted(b *testing.B) {
	for _, s := range []struct {
		name string
		g    Conv2D
	}{
		{"conv1_7x7s2", convGeom(3, 224, 224, 7, 7, 2, 1, 3)},
		{"conv2_3x3", convGeom(64, 56, 56, 3, 3, 1, 1, 1)},
		{"conv3_3x3s2", convGeom(64, 56, 56, 3, 3, 2, 1, 1)},
		{"conv3_1x1s2", convGeom(64, 56, 56, 1, 1, 2, 1, 0)},
		{"conv4_3x3", convGeom(256, 14, 14, 3, 3, 1, 1, 1)},
		{"conv5_3x3", convGeom(512, 7, 7, 3, 3, 1, 1, 1)},
	} {
		b.Run(s.name, func(b *testing.B) {
			g := s.g.normalized()
			r := rand.New(rand.NewPCG(1, 2))
			x := randSlice(r, g.Channels*g.Height*g.Width)
			l, _ := NewShiftLayout(g)
			img := make([]float32, l.Len)
			k, n := g.Channels*g.KernelH*g.KernelW, l.N
			ws := newWorkspace()
			cpu0 := processCPUTime()
			for b.Loop() {
				l.Fill(img, x, g)
				for jc := 0; jc < n; jc += gemmNC {
					nc := min(gemmNC, n-jc)
					for pc := 0; pc < k; pc += gemmKC {
						packBShifted(ws.b, img, l.Offsets, pc, min(gemmKC, k-pc), jc, nc, 16)
					}
				}
			}
			reportPerElem(b, k*g.OutH*g.OutW, cpu0)
		})
	}
}

// BenchmarkPackA16 packs a 144 x 256 block of A into 16-row strips (the AVX-512
// kernel's), as Sgemm and SgemmPackedB do for every block of the activations. On the
// 2-core AMD EPYC (Zen 4) dev VM, loaded: 0.36-0.6 ns per value.
func BenchmarkPackA16(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	a := randSlice(r, gemmMC*gemmKC)
	dst := make([]float32, gemmMC*gemmKC)
	for b.Loop() {
		packA(dst, a, gemmKC, false, 0, gemmMC, 0, gemmKC, 16)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(gemmMC*gemmKC), "ns/value")
}
