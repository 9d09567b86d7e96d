package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestAddCast checks the vector kernel's figures against add's on values that take
// every path: Inf and NaN on either side, overflow to Inf, zeros, subnormals, exact
// values, and groups that hold a new maximum relative error.
func TestAddCast(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, to := range []tensor.DType{tensor.F16, tensor.BF16} {
		for _, specials := range []bool{false, true} {
			a := make([]float32, 10_000+5)
			for i := range a {
				a[i] = float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(30)-20)))
				if i%97 == 0 {
					a[i] = float32(int(a[i])) // exact in both types
				}
				if specials {
					switch i % 1013 {
					case 1:
						a[i] = float32(math.NaN())
					case 2:
						a[i] = float32(math.Inf(-1))
					case 3:
						a[i] = 70000 // Inf in binary16
					case 4:
						a[i] = 1e-9 // a binary16 subnormal or zero
					case 5:
						a[i] = 0
					}
				}
			}
			h := make([]byte, 2*len(a))
			if err := tensor.FromFloat32(h, a, to); err != nil {
				t.Fatal(err)
			}
			back := make([]float32, len(a))
			if err := tensor.ToFloat32(back, h, to); err != nil {
				t.Fatal(err)
			}
			var want, got TensorDiff
			var ws, gs floatStats
			ws.add(&want, a, back)
			ws.finish(&want)
			// In two calls, as chunks arrive.
			for _, part := range [][2]int{{0, 4099}, {4099, len(a)}} {
				if err := gs.addCast(&got, a[part[0]:part[1]], h[2*part[0]:2*part[1]], to, make([]float32, len(a))); err != nil {
					t.Fatal(err)
				}
			}
			gs.finish(&got)
			if got.MaxAbs != want.MaxAbs || got.MaxRel != want.MaxRel || got.NaNs != want.NaNs || got.Exact != want.Exact ||
				math.Abs(got.Cosine-want.Cosine) > 1e-12 {
				t.Errorf("%v specials %v: addCast = %+v, want %+v", to, specials, got, want)
			}
		}
	}
}
