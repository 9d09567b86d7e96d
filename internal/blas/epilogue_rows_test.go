package blas

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRowOps compares Max, MulScalar and DivScalar with their scalar code (vector
// epilogues off) bit for bit, NaNs and infinities included.
func TestRowOps(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	nan := float32(math.NaN())
	for _, n := range []int{0, 1, 7, 8, 9, 17, 128, 1000} {
		for _, special := range []float32{0, nan, float32(math.Inf(1))} {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(r.NormFloat64() * 10)
			}
			if n > 3 && special != 0 {
				src[n/2], src[n-1] = special, special
			}
			type result struct {
				mx       float32
				mul, div []float32
			}
			run := func() result {
				res := result{mx: Max(src), mul: make([]float32, n), div: make([]float32, n)}
				MulScalar(res.mul, src, 0.37)
				DivScalar(res.div, src, 5.656854)
				return res
			}
			vec := run()
			if !setVectorEpilogues(false) {
				setVectorEpilogues(true)
				return
			}
			ref := run()
			setVectorEpilogues(true)
			if math.Float32bits(vec.mx) != math.Float32bits(ref.mx) {
				t.Fatalf("n %d: Max = %v vectorized, %v scalar", n, vec.mx, ref.mx)
			}
			for i := range ref.mul {
				if math.Float32bits(vec.mul[i]) != math.Float32bits(ref.mul[i]) || math.Float32bits(vec.div[i]) != math.Float32bits(ref.div[i]) {
					t.Fatalf("n %d: [%d] mul %v div %v vectorized, %v %v scalar", n, i, vec.mul[i], vec.div[i], ref.mul[i], ref.div[i])
				}
			}
		}
	}
}
