package compare

import (
	"context"
	"math"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func TestQuantized(t *testing.T) {
	v := make([]float32, 2*64)
	for i := range v {
		v[i] = float32(i%17) - 8
	}
	src, err := tensor.NewF32("w", tensor.Shape{2, 64}, v)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := tensor.FromBytes("ids", tensor.I32, tensor.Shape{1}, []byte{1, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	// Q8_0 blocks: an f16 scale of 1, then 32 int8 values, every other one off by one.
	var raw []byte
	for blk := range 4 {
		raw = append(raw, 0x00, 0x3c)
		for i := range 32 {
			x := int8(v[blk*32+i])
			if i%2 == 1 {
				x++
			}
			raw = append(raw, byte(x))
		}
	}
	q, err := tensor.FromBytes("w", tensor.Q8_0, tensor.Shape{2, 64}, raw)
	if err != nil {
		t.Fatal(err)
	}
	a := &refit.Model{Tensors: []*tensor.Tensor{src, ids}}
	b := &refit.Model{Tensors: []*tensor.Tensor{q, ids}}
	r, err := Quantized(context.Background(), a, b)
	if err != nil {
		t.Fatalf("Quantized = %v", err)
	}
	if len(r.Tensors) != 1 || r.Tensors[0].Name != "w" {
		t.Fatalf("Quantized compared %v, want only w (integers skipped)", r.Tensors)
	}
	want, err := Tensors(src, q)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Tensors[0]
	if d.MaxAbs != want.MaxAbs || d.Cosine != want.Cosine || r.MaxAbs != want.MaxAbs {
		t.Errorf("Quantized = max %g cos %g, Tensors = max %g cos %g", d.MaxAbs, d.Cosine, want.MaxAbs, want.Cosine)
	}
	if d.MaxAbs != 1 || !(r.Cosine > 0.95 && r.Cosine < 1) || math.Abs(r.Cosine-d.Cosine) > 1e-12 {
		t.Errorf("Q8_0 off by one: max %g, overall cosine %g (tensor %g)", d.MaxAbs, r.Cosine, d.Cosine)
	}
	if _, err := Quantized(context.Background(), &refit.Model{}, b); err == nil {
		t.Error("Quantized with a tensor missing from the source succeeded")
	}
}
