package tf2onnx

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
)

func TestStridedSlice(t *testing.T) {
	begin, end, strides := []int64{1, 2, 3}, []int64{4, 5, 6}, []int64{1, -1, 2}
	// axis 0: begin mask; axis 1: end mask with a negative stride; axis 2: shrink.
	starts, ends, axes, steps, squeeze, err := stridedSlice(begin, end, strides, 0b001, 0b010, 0b100)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int64{{0, 2, 3}, {4, math.MinInt64, 4}, {0, 1, 2}, {1, -1, 1}, {2}}
	for i, got := range [][]int64{starts, ends, axes, steps, squeeze} {
		if !slices.Equal(got, want[i]) {
			t.Errorf("result %d = %v, want %v", i, got, want[i])
		}
	}
	if !slices.Equal(begin, []int64{1, 2, 3}) || !slices.Equal(strides, []int64{1, -1, 2}) {
		t.Error("stridedSlice modified its arguments")
	}
	if _, _, _, _, _, err := stridedSlice([]int64{0}, []int64{1}, []int64{0}, 0, 0, 0); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("stride 0: err = %v, want ErrFormat", err)
	}
	if _, _, _, _, _, err := stridedSlice([]int64{0, 1}, []int64{1}, []int64{1}, 0, 0, 0); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("length mismatch: err = %v, want ErrFormat", err)
	}
}
