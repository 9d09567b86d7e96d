package runtime

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestReduceSumContiguousMatchesGeneric checks the float32 fast path of ReduceSum and
// ReduceMean against the generic path, run on the same values as float64 (exact in
// float32), bit for bit, over runs of axes at every position, with 1 and 3 threads.
func TestReduceSumContiguousMatchesGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shape := []int64{3, 5, 7, 11}
	n := 3 * 5 * 7 * 11
	x32 := NewValue(tensor.F32, shape)
	x64 := NewValue(tensor.F64, shape)
	for i := range n {
		v := float32(rng.NormFloat64() * 100)
		x32.Float32s()[i] = v
		x64.Data.([]float64)[i] = float64(v)
	}
	axesRuns := [][]int64{{0}, {1}, {3}, {1, 2}, {0, 1, 2, 3}, {2, 3}, {-1}}
	for _, op := range []string{"ReduceSum", "ReduceMean"} {
		for _, axes := range axesRuns {
			for _, keep := range []int64{0, 1} {
				attrs := map[string]*Attr{"keepdims": {Kind: AttrInt, Int: keep}}
				axesIn := &Value{DType: tensor.I64, Shape: []int64{int64(len(axes))}, Data: axes}
				want, err := runOp("", op, 18, attrs, 1, x64, axesIn)
				if err != nil {
					t.Fatal(err)
				}
				for _, threads := range []int{1, 3} {
					got, err := reduceWithThreads(threads, op, keep, x32, axesIn)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got.Shape, want[0].Shape) {
						t.Fatalf("%s axes %v keepdims %d: shape %v, want %v", op, axes, keep, got.Shape, want[0].Shape)
					}
					for i, w := range want[0].Data.([]float64) {
						if g := got.Float32s()[i]; math.Float32bits(g) != math.Float32bits(float32(w)) {
							t.Fatalf("%s axes %v keepdims %d threads %d: [%d] = %v, want %v", op, axes, keep, threads, i, g, float32(w))
						}
					}
				}
			}
		}
	}
}

// reduceWithThreads runs op (opset 18) on x and axes in a session of the given threads.
func reduceWithThreads(threads int, op string, keep int64, x, axes *Value) (*Value, error) {
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "x", DType: x.DType}, {Name: "axes", DType: tensor.I64}},
		Outputs: []ValueInfo{{Name: "y"}},
		Nodes:   []*Node{node(op, []string{"x", "axes"}, []string{"y"}, &Attr{Name: "keepdims", Kind: AttrInt, Int: keep})},
	}
	s, err := NewSession(g, map[string]int64{"": 18}, &Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	out, err := s.Run(context.Background(), map[string]*Value{"x": x, "axes": axes})
	if err != nil {
		return nil, err
	}
	return out["y"], nil
}
