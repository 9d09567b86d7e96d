package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmShiftedInPlaceLarge checks the in-place tiles on products large enough to
// be split over goroutines, by columns (large images) and by output channels (small
// ones), with ragged row and column edges, for every kernel the CPU runs.
func TestSgemmShiftedInPlaceLarge(t *testing.T) { eachKernel(t, testSgemmShiftedInPlaceLarge) }

func testSgemmShiftedInPlaceLarge(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"columns", 37, convGeom(16, 40, 38, 3, 3, 1, 1, 1)},
		{"channels", 101, convGeom(64, 7, 7, 3, 3, 1, 1, 1)},
		{"strided", 45, convGeom(24, 29, 29, 3, 3, 2, 1, 1)},
	} {
		for _, threads := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/threads=%d", tc.name, threads), func(t *testing.T) {
				g := tc.g
				k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
				x := randSlice(r, g.Channels*g.Height*g.Width)
				w := randSlice(r, tc.m*k)
				want := make([]float32, tc.m*n)
				naiveGemm(false, false, tc.m, n, k, 1, w, k, im2col(x, g), n, 0, want, n)
				c := randSlice(r, tc.m*n) // beta 0 must ignore it
				got, ok := shiftedConv(threads, PackA(false, tc.m, k, w, k), 1, x, g, 0, c)
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

// TestSgemmShiftedNoSlack checks that an image without room for the last column
// tile's full-width reads falls back to packing and still gives the product.
func TestSgemmShiftedNoSlack(t *testing.T) {
	eachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(43, 44))
		g := convGeom(3, 9, 10, 3, 3, 1, 1, 1)
		l, _ := NewShiftLayout(g)
		k, m := 27, 5
		x := randSlice(r, 3*9*10)
		img := make([]float32, l.Len)
		l.Fill(img, x, g)
		last := 0
		for _, o := range l.Offsets {
			last = max(last, o)
		}
		w := randSlice(r, m*k)
		p := PackA(false, m, k, w, k)
		want := make([]float32, m*l.N)
		SgemmShifted(1, p, 1, img, l.Offsets, l.N, 0, want, l.N)
		got := make([]float32, m*l.N)
		SgemmShifted(1, p, 1, img[:last+l.N], l.Offsets, l.N, 0, got, l.N)
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("C[%d] = %v, want %v", i, got[i], want[i])
			}
		}
	})
}

// TestSgemmShiftedOut checks the tiles that store a convolution's output (bias, Relu,
// the layout's extra columns dropped) against im2col + the naive loop, on small and
// split products, with ragged edges, for every kernel the CPU runs (kernels without
// such tiles must say so).
func TestSgemmShiftedOut(t *testing.T) { eachKernel(t, testSgemmShiftedOut) }

func testSgemmShiftedOut(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	_, _, supported := convEpilogueTiles(kernel)
	for _, tc := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"3x3 pad1", 16, convGeom(3, 20, 21, 3, 3, 1, 1, 1)},
		{"ragged rows", 21, convGeom(5, 9, 9, 3, 3, 1, 1, 1)},
		{"1x1", 32, convGeom(40, 9, 9, 1, 1, 1, 1, 0)},
		{"resnet conv5", 48, convGeom(64, 7, 7, 3, 3, 1, 1, 1)},
		{"k over one block", 32, convGeom(40, 14, 14, 3, 3, 1, 1, 1)},
		{"3x3 stride2", 16, convGeom(5, 17, 33, 3, 3, 2, 1, 1)},
		{"7x7 stride2 pad3", 16, convGeom(3, 40, 38, 7, 7, 2, 1, 3)},
		{"wide gap", 16, convGeom(2, 12, 12, 9, 9, 3, 1, 4)},
		{"split columns", 37, convGeom(16, 40, 38, 3, 3, 1, 1, 1)},
		{"split channels", 101, convGeom(64, 7, 7, 3, 3, 1, 1, 1)},
	} {
		for _, threads := range []int{1, 2} {
			for _, relu := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/threads=%d/relu=%v", tc.name, threads, relu), func(t *testing.T) {
					g := tc.g
					k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
					x := randSlice(r, g.Channels*g.Height*g.Width)
					w := randSlice(r, tc.m*k)
					var bias []float32
					if !relu {
						bias = randSlice(r, tc.m)
					}
					want := make([]float32, tc.m*n)
					naiveGemm(false, false, tc.m, n, k, 1, w, k, im2col(x, g), n, 0, want, n)
					for i := range want {
						if bias != nil {
							want[i] += bias[i/n]
						}
						if relu {
							want[i] = max(want[i], 0)
						}
					}
					l, ok := NewShiftLayout(g)
					if !ok {
						t.Fatalf("no shift layout for %+v", g)
					}
					img := make([]float32, l.Len)
					l.Fill(img, x, g)
					got := make([]float32, tc.m*n+1)
					got[len(got)-1] = 42 // must stay: nothing is written past the output
					for i := range got[:tc.m*n] {
						got[i] = float32(math.NaN()) // every output must be written
					}
					partial := make([]float32, tc.m*l.N)
					if ok := SgemmShiftedOut(threads, PackA(false, tc.m, k, w, k), img, &l, g, bias, relu, partial, got[:tc.m*n]); ok != supported {
						t.Fatalf("SgemmShiftedOut reports %v on kernel %s", ok, kernel.name)
					}
					if !supported {
						return
					}
					if got[len(got)-1] != 42 {
						t.Fatalf("wrote past the output")
					}
					for i, v := range got[:tc.m*n] {
						if math.IsNaN(float64(v)) || math.Abs(float64(v-want[i])) > 1e-5*float64(k)*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("y[%d][%d] = %v, want %v", i/n, i%n, v, want[i])
						}
					}
				})
			}
		}
	}
}

// BenchmarkSgemmShiftedOut compares, per ResNet-18 shape at one thread, SgemmShifted
// into the layout's wide product ("wide", no bias, Relu or compaction) with
// SgemmShiftedOut storing the finished output ("out"); Fill excluded, GFLOP counts
// useful work. On the 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~20, GFLOP
// per CPU-second, best of 2), wide / out: stem 85-89 / 79-80, conv2 100 / 93, conv4
// 94 / 95; "wide" still needs the compaction, bias and Relu passes "out" saves (about
// the difference, end to end on ResNet-18).
func BenchmarkSgemmShiftedOut(b *testing.B) {
	for _, s := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"stem_64x12544x147", 64, convGeom(3, 224, 224, 7, 7, 2, 1, 3)},
		{"conv2_64x3136x576", 64, convGeom(64, 56, 56, 3, 3, 1, 1, 1)},
		{"conv4_256x196x2304", 256, convGeom(256, 14, 14, 3, 3, 1, 1, 1)},
	} {
		for _, out := range []bool{false, true} {
			name := "wide"
			if out {
				name = "out"
			}
			b.Run(s.name+"/"+name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				g := s.g.normalized()
				k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
				w := PackA(false, s.m, k, randSlice(r, s.m*k), k)
				l, _ := NewShiftLayout(g)
				img := make([]float32, l.Len)
				l.Fill(img, randSlice(r, g.Channels*g.Height*g.Width), g)
				wide, y, bias := make([]float32, s.m*l.N), make([]float32, s.m*n), randSlice(r, s.m)
				if out {
					if _, _, ok := convEpilogueTiles(kernel); !ok {
						b.Skip("no output tiles on this CPU")
					}
				}
				cpu0 := processCPUTime()
				for b.Loop() {
					if out {
						SgemmShiftedOut(1, w, img, &l, g, bias, true, wide, y)
					} else {
						SgemmShifted(1, w, 1, img, l.Offsets, l.N, 0, wide, l.N)
					}
				}
				reportGFLOPS(b, s.m, n, k, cpu0)
			})
		}
	}
}

// A steady SgemmShiftedOut allocates nothing: a network runs thousands of them, and
// per-call garbage made the runtime's heap (and resident set) grow between
// collections.
func TestSgemmShiftedOutAllocates(t *testing.T) {
	g := convGeom(16, 20, 21, 3, 3, 1, 1, 1)
	const m = 32
	k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
	r := rand.New(rand.NewPCG(47, 48))
	l, ok := NewShiftLayout(g)
	if !ok {
		t.Fatalf("no shift layout for %+v", g)
	}
	img := make([]float32, l.Len)
	l.Fill(img, randSlice(r, g.Channels*g.Height*g.Width), g)
	w := PackA(false, m, k, randSlice(r, m*k), k)
	bias, y, partial := randSlice(r, m), make([]float32, m*n), make([]float32, m*l.N)
	if !SgemmShiftedOut(1, w, img, &l, g, bias, true, partial, y) {
		t.Skipf("kernel %s has no conv epilogue tiles", kernel.name)
	}
	if a := testing.AllocsPerRun(20, func() { SgemmShiftedOut(1, w, img, &l, g, bias, true, partial, y) }); a != 0 {
		t.Errorf("SgemmShiftedOut allocates %v times per call, want 0", a)
	}
}
