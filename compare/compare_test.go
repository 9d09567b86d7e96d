package compare

import (
	"fmt"
	"math"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func f32(t *testing.T, name string, v ...float32) *tensor.Tensor {
	t.Helper()
	x, err := tensor.NewF32(name, tensor.Shape{int64(len(v))}, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestTensors(t *testing.T) {
	a := f32(t, "w", 1, -2, 3)
	tests := []struct {
		name      string
		b         *tensor.Tensor
		exact     bool
		maxAbs    float64
		shapeDiff bool
		nans      int64
	}{
		{"same bytes", f32(t, "w", 1, -2, 3), true, 0, false, 0},
		{"one value off", f32(t, "w", 1, -2, 3.5), false, 0.5, false, 0},
		{"shape", f32(t, "w", 1, -2), false, 0, true, 0},
		{"nan appears", f32(t, "w", 1, float32(math.NaN()), 3), false, 0, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Tensors(a, tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if d.Exact != tc.exact || d.MaxAbs != tc.maxAbs || d.ShapeMismatch() != tc.shapeDiff || d.NaNs != tc.nans {
				t.Errorf("Tensors = exact %v maxAbs %g shapeMismatch %v nans %d; want %v %g %v %d",
					d.Exact, d.MaxAbs, d.ShapeMismatch(), d.NaNs, tc.exact, tc.maxAbs, tc.shapeDiff, tc.nans)
			}
		})
	}
}

func TestTensorsAcrossTypes(t *testing.T) {
	a := f32(t, "w", 1, 0.1, -3)
	h, err := tensor.Cast(a, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Tensors(a, h)
	if err != nil {
		t.Fatal(err)
	}
	// 0.1 is not a float16 value: the nearest is 0.0999755859375.
	if d.Exact || d.MaxAbs != float64(float32(0.1))-0.0999755859375 || d.Cosine < 0.999999 || d.Types != "F32->F16" {
		t.Errorf("F32 vs F16: exact %v maxAbs %g cosine %g types %s", d.Exact, d.MaxAbs, d.Cosine, d.Types)
	}
}

func TestModels(t *testing.T) {
	a := &refit.Model{Tensors: []*tensor.Tensor{f32(t, "x", 1), f32(t, "only_a", 2)}}
	b := &refit.Model{Tensors: []*tensor.Tensor{f32(t, "x", 1), f32(t, "only_b", 2)}}
	r, err := Models(a, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tensors) != 1 || len(r.Missing) != 1 || r.Missing[0] != "only_a" || len(r.Extra) != 1 || r.Extra[0] != "only_b" {
		t.Fatalf("Models = %+v", r)
	}
	if r.Identical() {
		t.Error("Identical() with missing and extra names")
	}
	same, _ := Models(a, a, nil)
	if !same.Identical() {
		t.Error("a model is not identical to itself")
	}
}

// TestModelsDuplicateNames pins the rule for a repeated name in b: the first tensor
// with that name is compared, as Model.Tensor returns it.
func TestModelsDuplicateNames(t *testing.T) {
	a := &refit.Model{Tensors: []*tensor.Tensor{f32(t, "x", 1)}}
	b := &refit.Model{Tensors: []*tensor.Tensor{f32(t, "x", 1), f32(t, "x", 5)}}
	r, err := Models(a, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tensors) != 1 || !r.Tensors[0].Exact {
		t.Fatalf("Models with a repeated name in b = %+v, want the first x compared (exact)", r)
	}
}

// BenchmarkModels compares two models of many tiny tensors; the cost per tensor must
// not grow with the tensor count (name lookups once scanned the whole slice, which
// made verifying a 40k-member npz take seconds).
func BenchmarkModels(b *testing.B) {
	for _, n := range []int{1000, 10000, 40000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ta := make([]*tensor.Tensor, n)
			tb := make([]*tensor.Tensor, n)
			for i := range n {
				name := fmt.Sprintf("t%d", i)
				var err error
				if ta[i], err = tensor.NewF32(name, tensor.Shape{2}, []float32{1, 2}); err != nil {
					b.Fatal(err)
				}
				// b in reverse order, as another encoder may sort differently.
				if tb[n-1-i], err = tensor.NewF32(name, tensor.Shape{2}, []float32{1, 2}); err != nil {
					b.Fatal(err)
				}
			}
			ma, mb := &refit.Model{Tensors: ta}, &refit.Model{Tensors: tb}
			for b.Loop() {
				r, err := Models(ma, mb, nil)
				if err != nil || !r.Identical() {
					b.Fatalf("Models = %v, %v", r, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/tensor")
		})
	}
}
