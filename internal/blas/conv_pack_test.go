package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestPackBConvMatchesIm2col checks packBConv against packB of the materialized
// im2col matrix, bit for bit, for blocks that start and end mid-row and mid-panel.
func TestPackBConvMatchesIm2col(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	geoms := []Conv2D{
		convGeom(3, 20, 21, 3, 3, 1, 1, 1),
		convGeom(5, 17, 33, 3, 3, 2, 1, 1),
		convGeom(4, 9, 9, 1, 1, 1, 1, 0),
		convGeom(6, 14, 14, 1, 1, 2, 1, 0),
		convGeom(3, 40, 38, 7, 7, 2, 1, 3),
		convGeom(4, 19, 19, 3, 3, 1, 2, 2),
		convGeom(2, 5, 70, 3, 3, 1, 1, 1),
		convGeom(3, 11, 13, 5, 5, 3, 1, 2),
		convGeom(2, 3, 4, 5, 5, 1, 1, 4), // kernel wider than the padded input rows
		{Channels: 2, Height: 9, Width: 30, KernelH: 2, KernelW: 5, StrideH: 1, StrideW: 3, DilationH: 1, DilationW: 1, PadTop: 1, PadLeft: 2, OutH: 9, OutW: 10},
	}
	for gi, g := range geoms {
		t.Run(fmt.Sprintf("%d_%dx%d_s%d", gi, g.KernelH, g.KernelW, g.StrideW), func(t *testing.T) {
			x := randSlice(r, g.Channels*g.Height*g.Width)
			x[0] = float32(math.Copysign(0, -1)) // a negative zero must survive the copy
			cols := im2col(x, g)
			k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
			for _, nr := range []int{4, 16} {
				for _, blk := range [][4]int{{0, k, 0, n}, {1, k - 2, 3, n - 5}, {k / 2, k - k/2, n / 3, n - n/3}, {0, 1, n - 1, 1}} {
					pc, kc, j0, nc := blk[0], blk[1], blk[2], blk[3]
					if kc <= 0 || nc <= 0 {
						continue
					}
					np := (nc + nr - 1) / nr * nr
					want := make([]float32, kc*np)
					packB(want, cols, n, false, pc, kc, j0, nc, nr)
					got := make([]float32, kc*np)
					for i := range got {
						got[i] = float32(math.NaN())
					}
					scratch := make([]float32, convRowsPerPass*np)
					packBConv(got, scratch, x, &g, pc, kc, j0, nc, nr)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("nr=%d block %v: packed[%d] = %v, want %v", nr, blk, i, got[i], want[i])
						}
					}
				}
			}
		})
	}
}

// BenchmarkPackBConv measures the im2col gather alone on ResNet-18 shapes. On the 2-core
// AMD EPYC (Zen 4) dev VM at load ~27, CPU ns per element: conv1_7x7s2 0.88, conv2_3x3
// 0.64, conv3_3x3s2 1.05, conv3_1x1s2 2.26, conv4_3x3 1.01, conv5_3x3 1.66.
func BenchmarkPackBConv(b *testing.B) {
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
			k, n := g.Channels*g.KernelH*g.KernelW, g.OutH*g.OutW
			ws := newWorkspace()
			cpu0 := processCPUTime()
			for b.Loop() {
				for jc := 0; jc < n; jc += gemmNC {
					nc := min(gemmNC, n-jc)
					for pc := 0; pc < k; pc += gemmKC {
						packBConv(ws.b, ws.convRows(), x, &g, pc, min(gemmKC, k-pc), jc, nc, 16)
					}
				}
			}
			reportPerElem(b, k*n, cpu0)
		})
	}
}

// reportPerElem reports wall and CPU nanoseconds per im2col element.
func reportPerElem(b *testing.B, elems int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(elems), "ns/elem")
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(elems), "cpu-ns/elem")
	}
}
