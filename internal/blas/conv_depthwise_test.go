package blas

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// fusedRef is v*s + d rounded once to float32, computed exactly.
func fusedRef(v, s, d float32) float32 {
	x := new(big.Float).SetPrec(256).SetFloat64(float64(v))
	x.Mul(x, new(big.Float).SetPrec(256).SetFloat64(float64(s)))
	x.Add(x, new(big.Float).SetPrec(256).SetFloat64(float64(d)))
	f, _ := x.Float32()
	return f
}

// testFMARow checks fn against the exactly rounded fused multiply-add on rows of every
// length up to 70 (vector bodies and tails), with values whose products need more
// than float32's precision, and that nothing past the row is written.
func testFMARow(t *testing.T, fn func(dst, src []float32, v float32)) {
	r := rand.New(rand.NewPCG(51, 52))
	for n := 0; n <= 70; n++ {
		v := float32(r.NormFloat64() * 30)
		src := randSlice(r, n)
		dst := make([]float32, n+1)
		for i := range dst {
			dst[i] = float32(r.NormFloat64() * 100)
		}
		want := make([]float32, n)
		for i := range want {
			want[i] = fusedRef(v, src[i], dst[i])
		}
		guard := dst[n]
		fn(dst[:n], src, v)
		if dst[n] != guard {
			t.Fatalf("n=%d: wrote past the row", n)
		}
		for i := range want {
			// The Go path may differ by one ulp in the rare double-rounding case.
			if got := dst[i]; got != want[i] && math.Abs(float64(got-want[i])) > float64(math.Nextafter32(want[i], float32(math.Inf(1)))-want[i]) {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, got, want[i])
			}
		}
	}
}

func TestFMARow(t *testing.T) {
	t.Run("dispatch", func(t *testing.T) { testFMARow(t, FMARow) })
	t.Run("go", func(t *testing.T) { testFMARow(t, fmaRowGo) })
}

// BenchmarkFMARow runs one tap of a depthwise convolution over rows of MobileNet-like
// widths, beside the Go loop it replaced; the figures on the dev VM are in FMARow's
// doc comment.
func BenchmarkFMARow(b *testing.B) {
	for _, n := range []int{14, 56, 112} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			dst, src := randSlice(r, n), randSlice(r, n)
			for b.Loop() {
				FMARow(dst, src, 0.5)
				FMARow(dst, src, -0.5)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/value")
		})
		// The loop it replaces (two roundings), for comparison.
		b.Run(fmt.Sprintf("mulAdd/n=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			dst, src := randSlice(r, n), randSlice(r, n)
			for b.Loop() {
				for _, v := range []float32{0.5, -0.5} {
					for i, s := range src {
						dst[i] += v * s
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n), "ns/value")
		})
	}
}
