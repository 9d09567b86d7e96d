package cli

import (
	"math"
	"testing"

	"github.com/refit-ml/refit/compare"
)

func TestOptimizeChanged(t *testing.T) {
	const tol = 1e-4 // the default
	for _, c := range []struct {
		name          string
		maxAbs, scale float64
		note          string
		fail          bool
	}{
		// PP-OCRv4 det after BatchNorm folding: sigmoid maps, 1.07e-5 of reassociation.
		{"reassociation noise", 1.07e-5, 0.98, "", false},
		{"noise on large logits", 2e-3, 40, "", false},
		// A real change: one channel's scale off by 1%, or a bias dropped.
		{"real change", 0.01, 0.98, "", true},
		{"real change on large logits", 0.5, 40, "", true},
		// An output that is ~0 everywhere gets an absolute bound of tol/100.
		{"zero output unchanged", 5e-7, 0, "", false},
		{"zero output moved", 1e-5, 1e-9, "", true},
		{"not comparable", 0, 1, "shape [1] != [2]", true},
		{"NaN", math.NaN(), 1, "", true},
	} {
		err := optimizeChanged(compare.OutputDiff{Name: "y", MaxAbs: c.maxAbs, Scale: c.scale, Note: c.note}, tol)
		if (err != nil) != c.fail {
			t.Errorf("%s: optimizeChanged(max abs %g, scale %g) = %v, want failure %v", c.name, c.maxAbs, c.scale, err, c.fail)
		}
	}
}
