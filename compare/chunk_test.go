package compare

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestTensorsChunked checks that the chunked comparison of different types gives the
// figures of one pass over whole vectors, and that a done context stops it.
func TestTensorsChunked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3*floatChunk + 123
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	v[5], v[floatChunk+9] = float32(rng.NormFloat64())*1e6, -7
	a, err := tensor.NewF32("w", tensor.Shape{int64(n)}, v)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tensor.Cast(a, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Tensors(a, b)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	want := TensorDiff{}
	Floats(&want, v, fb)
	if got.Exact || got.MaxAbs != want.MaxAbs || got.MaxRel != want.MaxRel || got.Cosine != want.Cosine || got.NaNs != want.NaNs {
		t.Errorf("chunked = %+v, want %+v", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := TensorsContext(ctx, a, b); !errors.Is(err, context.Canceled) {
		t.Errorf("TensorsContext(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := TensorsContext(ctx, a, a); !errors.Is(err, context.Canceled) {
		t.Errorf("TensorsContext(cancelled, same type) = %v, want context.Canceled", err)
	}
}
