package numpy

import (
	"bytes"
	"errors"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TestInflateBudget checks that the bytes deflated members inflate to are charged to the
// call's budget, every time they are inflated.
func TestInflateBudget(t *testing.T) {
	zeros, err := tensor.New("z", tensor.F32, tensor.Shape{1 << 16}, bytes.NewReader(make([]byte, 1<<18)))
	if err != nil {
		t.Fatal(err)
	}
	z := buildZip(t, zipMember{name: "z.npy", data: npyOf(t, zeros), deflate: true, usize: -1})
	f, err := refit.Lookup("numpy")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		budget int64
		reads  int // successful reads before the budget is spent
	}{
		{1 << 17, 0}, // smaller than the tensor
		{3 << 17, 1}, // one inflation of 256 KiB
		{5 << 17, 2}, // two
		{-1, 3},      // no limit
	} {
		m, err := f.Decode(bytes.NewReader(z), int64(len(z)), &refit.DecodeOptions{MaxMemory: tc.budget})
		if err != nil {
			t.Fatalf("Decode = %v; the headers fit any budget", err)
		}
		for i := range 3 {
			_, err := m.Tensors[0].Bytes()
			if i < tc.reads && err != nil {
				t.Errorf("budget %d: read %d = %v, want nil", tc.budget, i, err)
			}
			if i >= tc.reads && !errors.Is(err, refit.ErrBudget) {
				t.Errorf("budget %d: read %d = %v, want ErrBudget", tc.budget, i, err)
			}
		}
	}
}
