package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			c[i*ldc+j] = alpha*float32(s) + beta*c[i*ldc+j]
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func TestSgemm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ m, n, k int }{{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {17, 33, 300}, {65, 9, 513}, {128, 64, 128}, {100, 600, 40}, {0, 3, 3}, {3, 3, 0}} {
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				t.Run(fmt.Sprintf("%dx%dx%d/%v%v", tc.m, tc.n, tc.k, ta, tb), func(t *testing.T) {
					a := randSlice(r, tc.m*tc.k)
					b := randSlice(r, tc.k*tc.n)
					c := randSlice(r, tc.m*tc.n)
					want := append([]float32(nil), c...)
					lda, ldb := tc.k, tc.n
					if ta {
						lda = tc.m
					}
					if tb {
						ldb = tc.k
					}
					naiveGemm(ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, want, tc.n)
					Sgemm(0, ta, tb, tc.m, tc.n, tc.k, 0.5, a, lda, b, ldb, 2, c, tc.n)
					for i := range c {
						if math.Abs(float64(c[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
							t.Fatalf("Sgemm element %d = %v, want %v", i, c[i], want[i])
						}
					}
				})
			}
		}
	}
}

// BenchmarkSgemm reports GFLOP/s for square sizes.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range []struct{ m, n, k int }{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
			for b.Loop() {
				Sgemm(0, false, false, s.m, s.n, s.k, 1, x, s.k, y, s.n, 0, z, s.n)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkMatMulAttention runs a batched MatMul of attention size: 12 heads of
// [128, 64] x [64, 128] (Q x K^T), through the executor.
func BenchmarkMatMulAttention(b *testing.B) {
	const heads, seq, dim = 12, 128, 64
	g := &Graph{
		Inputs:  []ValueInfo{input("q", tensor.F32, 1, heads, seq, dim), input("k", tensor.F32, 1, heads, dim, seq)},
		Outputs: []ValueInfo{{Name: "s"}},
		Nodes:   []*Node{node("MatMul", []string{"q", "k"}, []string{"s"})},
	}
	benchGraph(b, g, 2*heads*seq*seq*dim)
}

// BenchmarkConv runs ResNet-18's 3x3 convolution shapes (batch 1, stride 1, pad 1) and
// the 7x7 stride-2 stem.
func BenchmarkConv(b *testing.B) {
	for _, s := range []struct {
		name              string
		c, m, hw, k, strd int
	}{
		{"stem_3x224_64_7x7s2", 3, 64, 224, 7, 2},
		{"layer1_64x56", 64, 64, 56, 3, 1},
		{"layer2_128x28", 128, 128, 28, 3, 1},
		{"layer3_256x14", 256, 256, 14, 3, 1},
		{"layer4_512x7", 512, 512, 7, 3, 1},
	} {
		b.Run(s.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			pad := int64(s.k / 2)
			w, _ := FromSlice(randSlice(r, s.m*s.c*s.k*s.k), int64(s.m), int64(s.c), int64(s.k), int64(s.k))
			g := &Graph{
				Inputs:       []ValueInfo{input("x", tensor.F32, 1, int64(s.c), int64(s.hw), int64(s.hw))},
				Outputs:      []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"w": w},
				Nodes: []*Node{node("Conv", []string{"x", "w"}, []string{"y"},
					&Attr{Name: "pads", Kind: AttrInts, Ints: []int64{pad, pad, pad, pad}},
					&Attr{Name: "strides", Kind: AttrInts, Ints: []int64{int64(s.strd), int64(s.strd)}})},
			}
			out := (s.hw+2*int(pad)-s.k)/s.strd + 1
			benchGraph(b, g, 2*s.m*out*out*s.c*s.k*s.k)
		})
	}
}

func benchGraph(b *testing.B, g *Graph, flops int) {
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		b.Fatal(err)
	}
	in, err := RandomInputs(s, 1, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(flops)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
