package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func TestTopKTiesPreferLowerIndex(t *testing.T) {
	x := mustValue(t, []float32{1, 3, 3, 2, 3}, 5)
	out, err := runOp("", "TopK", 11, nil, 2, x, mustValue(t, []int64{3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[1].Int64s(); !slices.Equal(got, []int64{1, 2, 4}) {
		t.Fatalf("TopK indices = %v, want [1 2 4]", got)
	}
}

// TestTopKPaths checks the typed fast paths (full sort and window selection) against
// the generic comparison path (uint8 input).
func TestTopKPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, tc := range []struct{ dim, k int }{{10, 3}, {100, 2}, {1000, 50}, {257, 257}} {
		for _, largest := range []int64{0, 1} {
			t.Run(fmt.Sprintf("dim%d_k%d_largest%d", tc.dim, tc.k, largest), func(t *testing.T) {
				u := make([]uint8, 3*tc.dim)
				for i := range u {
					u[i] = uint8(r.IntN(7)) // many ties
				}
				xu := mustValue(t, u, 3, int64(tc.dim))
				xf := mustCast(t, xu, tensor.F32)
				attrs := map[string]*Attr{"largest": intAttr(largest)}
				k := mustValue(t, []int64{int64(tc.k)}, 1)
				want, err := runOp("", "TopK", 11, attrs, 2, xu, k)
				if err != nil {
					t.Fatal(err)
				}
				got, err := runOp("", "TopK", 11, attrs, 2, xf, k)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[1].Int64s(), want[1].Int64s()) {
					t.Fatalf("TopK indices differ:\n%v\n%v", got[1].Int64s(), want[1].Int64s())
				}
			})
		}
	}
}
