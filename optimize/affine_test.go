package optimize

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// Conv -> Mul by [M, 1, 1] -> Add of [1, M, 1, 1] becomes one Conv computing the same
// outputs; a Mul whose constant varies along a spatial axis, or a Conv output read
// twice, stays.
func TestFoldConvAffine(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	floats := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	build := func(scaleShape tensor.Shape, extraReader bool) *builder {
		b := newBuilder("x")
		b.g.Input[0] = valueInfo("x", 4)
		b.init(t, "W", tensor.Shape{3, 2, 1, 1}, floats(6))
		b.init(t, "B", tensor.Shape{3}, floats(3))
		n := 1
		for _, d := range scaleShape {
			n *= int(d)
		}
		b.init(t, "s", scaleShape, floats(n))
		b.init(t, "a", tensor.Shape{1, 3, 1, 1}, floats(3))
		b.node("Conv", []string{"x", "W", "B"}, []string{"c"})
		b.node("Mul", []string{"s", "c"}, []string{"m"})
		b.node("Add", []string{"m", "a"}, []string{"y"})
		if extraReader {
			b.node("Relu", []string{"c"}, []string{"z"})
		}
		return b
	}
	x, err := runtime.FromSlice(floats(16), 2, 2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		scaleShape tensor.Shape
		extra      bool
		wantOps    []string
	}{
		{"per channel", tensor.Shape{3, 1, 1}, false, []string{"Conv"}},
		{"scalar", tensor.Shape{1}, false, []string{"Conv"}},
		{"spatial scale stays", tensor.Shape{3, 2, 1}, false, []string{"Conv", "Mul", "Add"}},
		{"conv output read twice", tensor.Shape{3, 1, 1}, true, []string{"Conv", "Mul", "Add", "Relu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs := []string{"y"}
			if tc.extra {
				outs = append(outs, "z")
			}
			m := build(tc.scaleShape, tc.extra).model(outs...)
			m.Graph.Output[0] = valueInfo("y", 4)
			out, _ := run(t, m, "fold-conv-affine", "remove-unused-initializers")
			if got := ops(out); !equalOps(got, tc.wantOps) {
				t.Fatalf("ops = %v, want %v", got, tc.wantOps)
			}
			want := runY(t, m, x)
			got := runY(t, out, x)
			for i := range want {
				if d := math.Abs(got[i] - want[i]); d > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("y[%d] = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}

func runY(t *testing.T, mp *onnxpb.ModelProto, x *runtime.Value) []float64 {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*runtime.Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].AsFloat64s()
}
