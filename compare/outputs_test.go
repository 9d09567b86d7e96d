package compare

import (
	"math"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func logits(t *testing.T, name string, rows, cols int64, v ...float32) *tensor.Tensor {
	t.Helper()
	x, err := tensor.NewF32(name, tensor.Shape{rows, cols}, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestOutputs(t *testing.T) {
	a := logits(t, "out", 2, 3, 1, 2, 3, 3, 2, 1)
	b := logits(t, "renamed", 2, 3, 1, 2, 3, 1, 2, 3) // row 1 now picks class 2
	r := Outputs([]*tensor.Tensor{a}, []*tensor.Tensor{b}, []int64{2, 0})
	if len(r.Outputs) != 1 {
		t.Fatalf("Outputs = %d diffs, want 1 (matched by position)", len(r.Outputs))
	}
	d := r.Outputs[0]
	if d.Note != "" || d.MaxAbs != 2 || r.MaxAbs != 2 {
		t.Errorf("MaxAbs = %g (report %g), note %q; want 2", d.MaxAbs, r.MaxAbs, d.Note)
	}
	if d.Top1 == nil || *d.Top1 != 0.5 {
		t.Errorf("Top1 = %v, want 0.5", d.Top1)
	}
	if d.AccuracyA == nil || *d.AccuracyA != 1 || *d.AccuracyB != 0.5 {
		t.Errorf("accuracy = %v / %v, want 1 / 0.5", d.AccuracyA, d.AccuracyB)
	}
	// Row 0 is identical (KL 0); row 1 swaps the logits of classes 0 and 2.
	p := []float64{math.Exp(2), math.Exp(1), 1}
	sum := p[0] + p[1] + p[2]
	want := (p[0]/sum*(2-0) + p[2]/sum*(0-2)) / 2
	if d.KL == nil || math.Abs(*d.KL-want) > 1e-9 {
		t.Errorf("KL = %v, want %g", d.KL, want)
	}

	t.Run("notes", func(t *testing.T) {
		short := logits(t, "out", 1, 3, 1, 2, 3)
		r := Outputs([]*tensor.Tensor{a, logits(t, "other", 1, 1, 0)}, []*tensor.Tensor{short}, nil)
		if r.Outputs[0].Note == "" || r.Outputs[1].Note == "" || !math.IsInf(r.MaxAbs, 1) {
			t.Errorf("shape mismatch and missing output: %+v, max %g", r.Outputs, r.MaxAbs)
		}
	})
}
