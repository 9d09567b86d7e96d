package compare

import (
	"context"
	"errors"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func TestWritten(t *testing.T) {
	ctx := context.Background()
	a := f32(t, "a", 1, 2.0001, 3)
	b := f32(t, "b", 4, 5)
	base := &refit.Model{Tensors: []*tensor.Tensor{a, b}}
	half, err := tensor.Cast(a, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	want := &refit.Model{Tensors: []*tensor.Tensor{half, b}}
	r, err := Written(ctx, base, want, want)
	if err != nil {
		t.Fatalf("Written = %v", err)
	}
	if r.Exact != 1 || r.MaxAbs == 0 || r.MinCos >= 1 || r.Tensors[0].Types != "F32->F16" {
		t.Errorf("Written = exact %d, max %g, min cos %g, %v; want the cast tensor measured against F32", r.Exact, r.MaxAbs, r.MinCos, r.Tensors)
	}
	var me *MismatchError
	other := &refit.Model{Tensors: []*tensor.Tensor{half, f32(t, "b", 4, 6)}}
	if _, err := Written(ctx, base, want, other); !errors.As(err, &me) {
		t.Errorf("changed values: %v, want a MismatchError", err)
	}
	if _, err := Written(ctx, base, want, &refit.Model{Tensors: []*tensor.Tensor{b}}); !errors.As(err, &me) {
		t.Errorf("missing tensor: %v, want a MismatchError", err)
	}
}
