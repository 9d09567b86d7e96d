package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// im2col materializes the matrix SgemmConv reads implicitly.
func im2col(x []float32, g Conv2D) []float32 {
	g = g.normalized()
	n := g.OutH * g.OutW
	out := make([]float32, g.Channels*g.KernelH*g.KernelW*n)
	for c := 0; c < g.Channels; c++ {
		for i := 0; i < g.KernelH; i++ {
			for j := 0; j < g.KernelW; j++ {
				row := ((c*g.KernelH+i)*g.KernelW + j) * n
				for oh := 0; oh < g.OutH; oh++ {
					for ow := 0; ow < g.OutW; ow++ {
						ih := oh*g.StrideH + i*g.DilationH - g.PadTop
						iw := ow*g.StrideW + j*g.DilationW - g.PadLeft
						if ih >= 0 && ih < g.Height && iw >= 0 && iw < g.Width {
							out[row+oh*g.OutW+ow] = x[(c*g.Height+ih)*g.Width+iw]
						}
					}
				}
			}
		}
	}
	return out
}

func convGeom(c, h, w, kh, kw, s, d, pad int) Conv2D {
	g := Conv2D{Channels: c, Height: h, Width: w, KernelH: kh, KernelW: kw, StrideH: s, StrideW: s,
		DilationH: d, DilationW: d, PadTop: pad, PadLeft: pad}
	g.OutH = (h+2*pad-d*(kh-1)-1)/s + 1
	g.OutW = (w+2*pad-d*(kw-1)-1)/s + 1
	return g
}

func TestSgemmConv(t *testing.T) { eachKernel(t, testSgemmConv) }

func testSgemmConv(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"3x3 pad1", 8, convGeom(3, 20, 21, 3, 3, 1, 1, 1)},
		{"3x3 stride2", 7, convGeom(5, 17, 33, 3, 3, 2, 1, 1)},
		{"1x1", 16, convGeom(40, 9, 9, 1, 1, 1, 1, 0)},
		{"1x1 stride2", 5, convGeom(6, 14, 14, 1, 1, 2, 1, 0)},
		{"7x7 stride2 pad3", 13, convGeom(3, 40, 38, 7, 7, 2, 1, 3)},
		{"dilated", 6, convGeom(4, 19, 19, 3, 3, 1, 2, 2)},
		{"wide rows", 9, convGeom(2, 5, 70, 3, 3, 1, 1, 1)},
		{"resnet conv4", 32, convGeom(64, 14, 14, 3, 3, 1, 1, 1)},
		{"asymmetric", 4, Conv2D{Channels: 2, Height: 9, Width: 30, KernelH: 2, KernelW: 5, StrideW: 3, PadTop: 1, PadLeft: 2, OutH: 9, OutW: 10}},
	} {
		for _, threads := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/threads=%d", tc.name, threads), func(t *testing.T) {
				g := tc.g
				k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
				x := randSlice(r, g.Channels*g.Height*g.Width)
				w := randSlice(r, tc.m*k)
				c := randSlice(r, tc.m*n)
				want := append([]float32(nil), c...)
				naiveGemm(false, false, tc.m, n, k, 1.5, w, k, im2col(x, g), n, 0.5, want, n)
				SgemmConv(threads, PackA(false, tc.m, k, w, k), 1.5, x, g, 0.5, c, n)
				for i := range c {
					if math.Abs(float64(c[i]-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("SgemmConv: C[%d][%d] = %v, want %v", i/n, i%n, c[i], want[i])
					}
				}
			})
		}
	}
}

func TestSgemmConvPanics(t *testing.T) {
	g := convGeom(2, 5, 5, 3, 3, 1, 1, 1)
	w := PackA(false, 3, 18, make([]float32, 3*18), 18)
	for _, tc := range []struct {
		name string
		call func()
	}{
		{"short input", func() { SgemmConv(0, w, 1, make([]float32, 49), g, 0, make([]float32, 75), 25) }},
		{"k mismatch", func() { g := g; g.Channels = 3; SgemmConv(0, w, 1, make([]float32, 75), g, 0, make([]float32, 75), 25) }},
		{"negative pad", func() { g := g; g.PadTop = -1; SgemmConv(0, w, 1, make([]float32, 50), g, 0, make([]float32, 75), 25) }},
		{"short C", func() { SgemmConv(0, w, 1, make([]float32, 50), g, 0, make([]float32, 74), 25) }},
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

// FuzzSgemmConv compares SgemmConv with im2col + the naive loop on random
// geometries, including ones whose output size does not match the input.
func FuzzSgemmConv(f *testing.F) {
	f.Add(uint8(3), uint8(10), uint8(9), uint8(3), uint8(3), uint8(1), uint8(1), uint8(1), uint8(4), uint64(1))
	f.Add(uint8(2), uint8(20), uint8(30), uint8(5), uint8(2), uint8(2), uint8(2), uint8(0), uint8(7), uint64(2))
	f.Add(uint8(1), uint8(3), uint8(40), uint8(1), uint8(7), uint8(3), uint8(1), uint8(3), uint8(1), uint64(3))
	f.Fuzz(func(t *testing.T, ch, h, w, kh, kw, stride, dil, pad, m uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, 7))
		g := Conv2D{Channels: int(ch)%6 + 1, Height: int(h)%40 + 1, Width: int(w)%40 + 1,
			KernelH: int(kh)%7 + 1, KernelW: int(kw)%7 + 1, StrideH: int(stride)%3 + 1, StrideW: int(stride>>2)%3 + 1,
			DilationH: int(dil)%3 + 1, DilationW: int(dil>>2)%3 + 1, PadTop: int(pad) % 4, PadLeft: int(pad>>2) % 4,
			OutH: int(h>>1)%20 + 1, OutW: int(w>>1)%40 + 1}
		rows := int(m)%20 + 1
		k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
		x := randSlice(r, g.Channels*g.Height*g.Width)
		wt := randSlice(r, rows*k)
		c := randSlice(r, rows*n)
		want := append([]float32(nil), c...)
		naiveGemm(false, false, rows, n, k, 1, wt, k, im2col(x, g), n, 1, want, n)
		SgemmConv(0, PackA(false, rows, k, wt, k), 1, x, g, 1, c, n)
		for i := range c {
			if math.Abs(float64(c[i]-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("SgemmConv(%+v): C[%d][%d] = %v, want %v", g, i/n, i%n, c[i], want[i])
			}
		}
	})
}
