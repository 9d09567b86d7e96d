package cli

import (
	"errors"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/prune"
	"github.com/refit-ml/refit/tensor"
)

type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

func TestExpandSparse(t *testing.T) {
	w, err := tensor.NewF32("w", tensor.Shape{2, 8}, []float32{0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tensor.NewF32("b", tensor.Shape{2}, []float32{3, 4})
	if err != nil {
		t.Fatal(err)
	}
	dense := &refit.Model{Format: "safetensors", Tensors: []*tensor.Tensor{w, b}}
	sparse, _, err := prune.EncodeSparse(dense)
	if err != nil {
		t.Fatal(err)
	}
	if !prune.IsSparse(sparse) {
		t.Fatal("EncodeSparse did not mark the model sparse")
	}
	broken := &refit.Model{Format: "safetensors", Metadata: sparse.Metadata.Clone(), Tensors: []*tensor.Tensor{b}}

	t.Run("dense unchanged", func(t *testing.T) {
		got, err := expandSparse(dense)
		if err != nil || got != dense {
			t.Errorf("expandSparse(dense) = %p, %v; want the same model", got, err)
		}
	})
	t.Run("sparse expanded", func(t *testing.T) {
		c := &closeCounter{}
		sparse.AddCloser(c)
		got, err := expandSparse(sparse)
		if err != nil {
			t.Fatal(err)
		}
		if prune.IsSparse(got) || len(got.Tensors) != 2 || got.Tensor("w.mask") != nil {
			t.Errorf("expanded model still has the layout: %v", got.Tensors)
		}
		gw := got.Tensor("w")
		if gw == nil || !gw.Shape.Equal(w.Shape) {
			t.Fatalf("w = %v, want shape %v", gw, w.Shape)
		}
		gf, err := gw.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		wf, _ := w.Float32s()
		for i := range wf {
			if gf[i] != wf[i] {
				t.Fatalf("w[%d] = %g, want %g", i, gf[i], wf[i])
			}
		}
		if c.n != 0 {
			t.Errorf("source closed %d times before the result", c.n)
		}
		if err := got.Close(); err != nil {
			t.Fatal(err)
		}
		if c.n != 1 {
			t.Errorf("closing the result closed the source %d times, want 1", c.n)
		}
	})
	t.Run("malformed closes source", func(t *testing.T) {
		c := &closeCounter{}
		broken.AddCloser(c)
		got, err := expandSparse(broken)
		if !errors.Is(err, refit.ErrFormat) || got != nil {
			t.Errorf("expandSparse(broken) = %v, %v; want ErrFormat", got, err)
		}
		if c.n != 1 {
			t.Errorf("source closed %d times, want 1", c.n)
		}
	})
}
