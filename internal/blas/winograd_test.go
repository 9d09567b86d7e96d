package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// naiveConv3x3 is the float64 reference of a 3 x 3, stride-1 convolution of NCHW
// images with top/left padding, bias and optional Relu.
func naiveConv3x3(x, w, bias []float32, k, c int, g WinogradConv, relu bool) []float64 {
	y := make([]float64, g.Batch*k*g.OutH*g.OutW)
	for n := 0; n < g.Batch; n++ {
		for ko := 0; ko < k; ko++ {
			for oy := 0; oy < g.OutH; oy++ {
				for ox := 0; ox < g.OutW; ox++ {
					var s float64
					if bias != nil {
						s = float64(bias[ko])
					}
					for ci := 0; ci < c; ci++ {
						for i := 0; i < 3; i++ {
							iy := oy + i - g.PadTop
							if iy < 0 || iy >= g.Height {
								continue
							}
							for j := 0; j < 3; j++ {
								ix := ox + j - g.PadLeft
								if ix < 0 || ix >= g.Width {
									continue
								}
								s += float64(x[((n*c+ci)*g.Height+iy)*g.Width+ix]) * float64(w[((ko*c+ci)*3+i)*3+j])
							}
						}
					}
					if relu && s < 0 {
						s = 0
					}
					y[((n*k+ko)*g.OutH+oy)*g.OutW+ox] = s
				}
			}
		}
	}
	return y
}

// winogradGeom makes the geometry of an h x w image padded by top/left and
// bottom/right.
func winogradGeom(batch, h, w, top, left, bottom, right int) WinogradConv {
	return WinogradConv{Batch: batch, Height: h, Width: w, PadTop: top, PadLeft: left,
		OutH: h + top + bottom - 2, OutW: w + left + right - 2}
}

// TestSgemmWinograd checks F(2x2) and F(4x4) on every micro-kernel against the
// float64 direct convolution: odd sizes, paddings 0 to 2 (asymmetric too), channel
// counts off the panel widths and past the k block, batches, bias and Relu, one to
// three threads (chunked and split-step schedules).
func TestSgemmWinograd(t *testing.T) {
	eachKernel(t, testSgemmWinograd)
}

func testSgemmWinograd(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for _, tc := range []struct {
		name string
		k, c int
		g    WinogradConv
	}{
		{"resnet 7x7", 40, 24, winogradGeom(1, 7, 7, 1, 1, 1, 1)},
		{"resnet 14x14 batch 2", 57, 33, winogradGeom(2, 14, 14, 1, 1, 1, 1)},
		{"no padding", 8, 8, winogradGeom(1, 11, 13, 0, 0, 0, 0)},
		{"padding 2", 5, 3, winogradGeom(3, 9, 10, 2, 2, 2, 2)},
		{"asymmetric padding", 7, 6, winogradGeom(1, 10, 9, 0, 2, 1, 0)},
		{"one pixel", 3, 2, winogradGeom(1, 1, 1, 1, 1, 1, 1)},
		{"wide", 20, 5, winogradGeom(2, 5, 61, 1, 1, 1, 1)},
		{"channels past the k block", 9, 300, winogradGeom(1, 6, 6, 1, 1, 1, 1)},
		{"many tiles", 12, 16, winogradGeom(4, 23, 21, 1, 1, 1, 1)},
		{"chunks across images", 6, 5, winogradGeom(9, 5, 6, 0, 2, 1, 0)},
		{"tall", 4, 7, winogradGeom(2, 70, 3, 1, 1, 1, 1)},
	} {
		x := randSlice(r, tc.g.Batch*tc.c*tc.g.Height*tc.g.Width)
		w := randSlice(r, tc.k*tc.c*9)
		bias := randSlice(r, tc.k)
		for _, tile := range []int{2, 4} {
			p := PackWinograd(tile, tc.k, tc.c, w)
			for _, threads := range []int{1, 2, 3} {
				for _, relu := range []bool{false, true} {
					b := bias
					if !relu {
						b = nil
					}
					t.Run(fmt.Sprintf("%s/F%d/threads=%d/relu=%v", tc.name, tile, threads, relu), func(t *testing.T) {
						want := naiveConv3x3(x, w, b, tc.k, tc.c, tc.g, relu)
						got := make([]float32, len(want)+1)
						got[len(want)] = 42 // must stay
						for i := range want {
							got[i] = float32(math.NaN()) // every output is written
						}
						SgemmWinograd(threads, p, x, tc.g, b, relu, got[:len(want)])
						if got[len(want)] != 42 {
							t.Fatalf("wrote past y")
						}
						// Rounding grows with the channel count and the tile's constants.
						tol := 2e-6 * math.Sqrt(float64(9*tc.c)) * float64(tile*tile)
						worst := 0.0
						for i, v := range want {
							worst = max(worst, math.Abs(float64(got[i])-v))
						}
						t.Logf("max |diff| %.3g, tolerance %.3g", worst, tol)
						for i, v := range want {
							if d := math.Abs(float64(got[i]) - v); !(d <= tol) {
								t.Fatalf("y[%d] = %v, want %v (|diff| %.3g > %.3g)", i, got[i], v, d, tol)
							}
						}
					})
				}
			}
		}
	}
}

// TestSgemmWinogradPanics checks the programmer errors: another tile, short
// slices, weights packed for another kernel.
func TestSgemmWinogradPanics(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	w := make([]float32, 2*3*9)
	mustPanic("tile 3", func() { PackWinograd(3, 2, 3, w) })
	mustPanic("short weights", func() { PackWinograd(4, 2, 3, w[:10]) })
	p := PackWinograd(4, 2, 3, w)
	g := winogradGeom(1, 5, 5, 1, 1, 1, 1)
	mustPanic("short x", func() {
		SgemmWinograd(1, p, make([]float32, 10), g, nil, false, make([]float32, 50))
	})
	mustPanic("short y", func() {
		SgemmWinograd(1, p, make([]float32, 75), g, nil, false, make([]float32, 49))
	})
	saved := kernel
	defer func() { kernel = saved }()
	kernel = microKernel{name: "other", mr: p.mr + 1, nr: p.nr, fn: kernel.fn}
	mustPanic("other kernel", func() {
		SgemmWinograd(1, p, make([]float32, 75), g, nil, false, make([]float32, 50))
	})
}

// BenchmarkSgemmWinograd runs ResNet-18's 3 x 3 stride-1 convolutions through
// F(2x2) and F(4x4) (padding and transforms included); GFLOP counts the direct
// convolution's work, so it compares with BenchmarkSgemmShiftedOut and
// BenchmarkSgemmShiftedT (90-105 GFLOP per CPU-second on the same shapes). On the
// 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~28, GFLOP per CPU-second,
// one thread, F(4x4) / F(2x2)): 64@56 230 / 55, 128@28 253 / 92, 256@14 254 / 107,
// 512@7 55 / 117 (four tiles: the 37 MB of transformed weights are read for 64
// columns), 512@7 batch 16 245 / 125; with AVX-512 turned off (GODEBUG, AVX2
// transforms, Go gathers) F(4x4) 107, 157, 197 on the first three.
func BenchmarkSgemmWinograd(b *testing.B) {
	for _, s := range []struct {
		name            string
		batch, ch, side int
	}{
		{"conv2_64x56", 1, 64, 56}, {"conv3_128x28", 1, 128, 28},
		{"conv4_256x14", 1, 256, 14}, {"conv5_512x7", 1, 512, 7},
		{"conv5_512x7_b16", 16, 512, 7},
	} {
		for _, threads := range []int{1, 2} {
			for _, tile := range []int{2, 4} {
				b.Run(fmt.Sprintf("%s/threads=%d/F%d", s.name, threads, tile), func(b *testing.B) {
					r := rand.New(rand.NewPCG(1, 2))
					g := winogradGeom(s.batch, s.side, s.side, 1, 1, 1, 1)
					p := PackWinograd(tile, s.ch, s.ch, randSlice(r, s.ch*s.ch*9))
					x := randSlice(r, s.batch*s.ch*s.side*s.side)
					y, bias := make([]float32, len(x)), randSlice(r, s.ch)
					cpu0 := processCPUTime()
					for b.Loop() {
						SgemmWinograd(threads, p, x, g, bias, true, y)
					}
					reportGFLOPS(b, s.ch, s.batch*s.side*s.side, s.ch*9, cpu0)
				})
			}
		}
	}
}

// TestSgemmWinogradThreads checks that the output is bit for bit the same for every
// thread count (one goroutine per chunk of tiles, or each step split over the
// threads), as the package promises.
func TestSgemmWinogradThreads(t *testing.T) {
	r := rand.New(rand.NewPCG(73, 74))
	for _, g := range []WinogradConv{winogradGeom(3, 30, 29, 1, 1, 1, 1), winogradGeom(1, 7, 7, 1, 1, 1, 1),
		winogradGeom(16, 7, 7, 1, 1, 1, 1), winogradGeom(5, 9, 5, 2, 0, 0, 2)} {
		const k, c = 35, 21
		x, w, bias := randSlice(r, g.Batch*c*g.Height*g.Width), randSlice(r, k*c*9), randSlice(r, k)
		for _, tile := range []int{2, 4} {
			p := PackWinograd(tile, k, c, w)
			want := make([]float32, g.Batch*k*g.OutH*g.OutW)
			SgemmWinograd(1, p, x, g, bias, true, want)
			for _, threads := range []int{2, 3, 8} {
				got := make([]float32, len(want))
				SgemmWinograd(threads, p, x, g, bias, true, got)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%+v F%d threads=%d: y[%d] = %v, one thread gives %v", g, tile, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}
