package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestEinsumMatmulPath checks the batched-Sgemm path against the generic loop.
func TestEinsumMatmulPath(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, tc := range []struct {
		eq     string
		shapes [][]int64
	}{
		{"bhqd,bhkd->bhqk", [][]int64{{2, 3, 17, 16}, {2, 3, 19, 16}}},
		{"bhqk,bhkd->bqhd", [][]int64{{2, 3, 17, 19}, {2, 3, 19, 16}}},
		{"ij,jk", [][]int64{{40, 30}, {30, 50}}},
		{"...ij,...kj->...ik", [][]int64{{3, 20, 30}, {3, 25, 30}}},
		{"abc,cd->dba", [][]int64{{10, 11, 12}, {12, 13}}},
	} {
		t.Run(tc.eq, func(t *testing.T) {
			a, b := randValue(t, r, tc.shapes[0]...), randValue(t, r, tc.shapes[1]...)
			attrs := map[string]*Attr{"equation": stringAttr(tc.eq)}
			fast, err := runOp("", "Einsum", 12, attrs, 1, a, b)
			if err != nil {
				t.Fatal(err)
			}
			// Float64 inputs take the generic loop.
			slow, err := runOp("", "Einsum", 12, attrs, 1, mustCast(t, a, tensor.F64), mustCast(t, b, tensor.F64))
			if err != nil {
				t.Fatal(err)
			}
			if err := allClose(fast[0], mustCast(t, slow[0], tensor.F32), 1e-4, 1e-5); err != nil {
				t.Fatalf("Einsum(%q): %v", tc.eq, err)
			}
		})
	}
}
