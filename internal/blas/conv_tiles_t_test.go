package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSgemmShiftedT checks every transposed tile set this CPU runs (and the portable
// one) against im2col + the naive loop: rows wider than the widest tile, channel
// counts off the panel width, strided layouts, bias and Relu, one and two threads.
func TestSgemmShiftedT(t *testing.T) {
	saved := tilesT
	defer func() { tilesT = saved }()
	for _, set := range convTileSetsT() {
		tilesT = set
		t.Run(set.name, testSgemmShiftedT)
	}
}

func testSgemmShiftedT(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, tc := range []struct {
		name string
		m    int
		g    Conv2D
	}{
		{"resnet conv5", 40, convGeom(24, 7, 7, 3, 3, 1, 1, 1)},
		{"resnet conv4", 33, convGeom(16, 14, 14, 3, 3, 1, 1, 1)},
		{"rows past the widest tile", 9, convGeom(3, 11, 37, 3, 3, 1, 1, 1)},
		{"3x3 stride2", 17, convGeom(5, 15, 15, 3, 3, 2, 1, 1)},
		{"1x1 stride2", 70, convGeom(8, 14, 14, 1, 1, 2, 1, 0)},
		{"5x5 dilated", 5, convGeom(2, 13, 13, 5, 5, 1, 2, 4)},
		{"split panels", 160, convGeom(64, 7, 7, 3, 3, 1, 1, 1)},
	} {
		for _, threads := range []int{1, 2} {
			for _, relu := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/threads=%d/relu=%v", tc.name, threads, relu), func(t *testing.T) {
					g := tc.g
					k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
					x := randSlice(r, g.Channels*g.Height*g.Width)
					w := randSlice(r, tc.m*k)
					var bias []float32
					if relu {
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
					p := PackConvT(tc.m, k, w)
					got := make([]float32, tc.m*n+1)
					got[len(got)-1] = 42
					for i := range got[:tc.m*n] {
						got[i] = float32(math.NaN())
					}
					if !SgemmShiftedT(threads, p, img, &l, g, bias, relu, make([]float32, p.ScratchLen(n)), got[:tc.m*n]) {
						t.Fatalf("SgemmShiftedT refused weights packed for its own tiles")
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

// TestSgemmShiftedTOtherTiles checks that weights packed for another tile width are
// refused, not misread.
func TestSgemmShiftedTOtherTiles(t *testing.T) {
	saved := tilesT
	defer func() { tilesT = saved }()
	g := convGeom(2, 7, 7, 3, 3, 1, 1, 1)
	l, _ := NewShiftLayout(g)
	tilesT = goTileSetT
	p := PackConvT(4, 18, make([]float32, 4*18))
	tilesT = convTileSetT{"wider", []convTileTFunc{convTileTGo}, 16}
	if SgemmShiftedT(1, p, make([]float32, l.Len), &l, g, nil, false, make([]float32, 1024), make([]float32, 4*49)) {
		t.Fatal("weights packed 8 wide accepted by 16-wide tiles")
	}
}

// BenchmarkSgemmShiftedT runs ResNet-18's 14 x 14 and 7 x 7 convolutions through the
// transposed tiles (Fill included), for comparison with BenchmarkSgemmShifted; GFLOP
// counts useful work only. On the 2-core AMD EPYC (Zen 4) dev VM at one thread,
// loaded (load average ~22-38, GFLOP per CPU-second), transposed 7x64 tiles /
// SgemmShifted: conv4 91-92 / 90-94, conv5 (7 x 7, where SgemmShifted computes 56
// columns for 49) 91-94 / 80-86; the earlier 14x32 tiles reached 88 on conv5.
func BenchmarkSgemmShiftedT(b *testing.B) {
	for _, threads := range []int{1, 2} {
		for _, s := range []struct {
			name        string
			m, ch, side int
		}{{"conv4_256x196x2304", 256, 256, 14}, {"conv5_512x49x4608", 512, 512, 7}} {
			b.Run(fmt.Sprintf("threads=%d/%s", threads, s.name), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, 2))
				g := convGeom(s.ch, s.side, s.side, 3, 3, 1, 1, 1)
				m, n, k := s.m, g.OutH*g.OutW, s.ch*9
				p := PackConvT(m, k, randSlice(r, m*k))
				l, _ := NewShiftLayout(g)
				x, img, y := randSlice(r, s.ch*s.side*s.side), make([]float32, l.Len), make([]float32, m*n)
				ct := make([]float32, p.ScratchLen(n))
				cpu0 := processCPUTime()
				for b.Loop() {
					l.Fill(img, x, g)
					SgemmShiftedT(threads, p, img, &l, g, nil, true, ct, y)
				}
				reportGFLOPS(b, m, n, k, cpu0)
			})
		}
	}
}
