package ggml

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// TestSIMDMatchesScalar checks that the vector candidate search gives the scalar code's
// bytes for every type, with and without an importance matrix, on inputs that reach its
// corner cases: constant and zero groups, outliers, tiny values and non-finite values.
func TestSIMDMatchesScalar(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	const nrows, rowLen = 4, 512
	r := rand.New(rand.NewPCG(11, 3))
	inputs := map[string]func(i int) float32{
		"normal":   func(int) float32 { return float32(r.NormFloat64()) },
		"positive": func(int) float32 { return float32(r.Float64() + 0.5) },
		"integers": func(int) float32 { return float32(r.IntN(5) - 2) },
		"outliers": func(int) float32 {
			if r.IntN(50) == 0 {
				return float32(r.NormFloat64() * 100)
			}
			return float32(r.NormFloat64() * 0.01)
		},
		"tiny-and-flat": func(i int) float32 {
			if i%512 < 96 {
				return 0
			}
			if i%512 < 200 {
				return 0.25
			}
			return float32(r.NormFloat64() * 1e-20)
		},
		"nonfinite": func(i int) float32 {
			if i%97 == 5 {
				return []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38}[i%4]
			}
			return float32(r.NormFloat64())
		},
	}
	im := randomRows(5, rowLen)
	for i := range im {
		im[i] *= im[i]
	}
	for name, gen := range inputs {
		x := make([]float32, nrows*rowLen)
		for i := range x {
			x[i] = gen(i)
		}
		for _, d := range Types() {
			for _, w := range [][]float32{nil, im} {
				if w != nil && !UsesImatrix(d) {
					continue
				}
				rs, _ := RowSize(d, rowLen)
				vec, scalar := make([]byte, nrows*rs), make([]byte, nrows*rs)
				if err := QuantizeRows(d, vec, x, nrows, rowLen, w); err != nil {
					t.Fatal(err)
				}
				useSIMD = false
				err := QuantizeRows(d, scalar, x, nrows, rowLen, w)
				useSIMD = true
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(vec, scalar) {
					t.Errorf("%s %v (imatrix %v): %s", name, d, w != nil, firstDiff(d, vec, scalar))
				}
			}
		}
	}
}
