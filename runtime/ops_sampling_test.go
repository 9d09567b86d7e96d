package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func samplingORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(51, 52))
	x := randValue(t, r, 2, 3, 5, 6)
	grid := randValue(t, r, 2, 4, 7, 2)
	for i, v := range grid.Float32s() {
		grid.Float32s()[i] = v * 1.6 // reach outside [-1, 1]
	}
	var cases []ortCase
	for _, mode := range []string{"bilinear", "nearest", "bicubic"} {
		for _, pad := range []string{"zeros", "border", "reflection"} {
			for _, align := range []int{0, 1} {
				cases = append(cases, ortCase{name: "GridSample/" + mode + "/" + pad + map[int]string{0: "", 1: "/align"}[align], op: "GridSample", opset: 16,
					attrs: map[string]any{"mode": mode, "padding_mode": pad, "align_corners": align}, inputs: []*Value{x, grid}, outputs: 1})
			}
		}
	}
	rois := mustValue(t, []float32{0, 0, 4, 3, 1.2, 0.5, 5.5, 4.8, -1, -1, 2, 7, 2.5, 1.5, 2.6, 1.7}, 4, 4)
	bidx := mustValue(t, []int64{0, 1, 1, 0}, 4)
	for _, mode := range []string{"avg", "max"} {
		for _, coord := range []string{"half_pixel", "output_half_pixel"} {
			for _, ratio := range []int{0, 2} {
				cases = append(cases, ortCase{name: "RoiAlign/" + mode + "/" + coord, op: "RoiAlign", opset: 16,
					attrs: map[string]any{"mode": mode, "coordinate_transformation_mode": coord, "output_height": 3, "output_width": 2,
						"sampling_ratio": ratio, "spatial_scale": float32(0.9)}, inputs: []*Value{x, rois, bidx}, outputs: 1})
			}
		}
	}
	return cases
}

func TestSamplingAgainstORT(t *testing.T) {
	runORTCases(t, samplingORTCases(t))
}

func gridSample3DORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(111, 112))
	x := randValue(t, r, 2, 2, 4, 5, 6)
	grid := randValue(t, r, 2, 3, 2, 4, 3)
	for i, v := range grid.Float32s() {
		grid.Float32s()[i] = v * 1.5
	}
	var cases []ortCase
	for _, mode := range []string{"linear", "nearest"} {
		for _, pad := range []string{"zeros", "border", "reflection"} {
			for _, align := range []int{0, 1} {
				cases = append(cases, ortCase{name: fmt.Sprintf("GridSample3D/%s/%s/align%d", mode, pad, align), op: "GridSample", opset: 20,
					attrs: map[string]any{"mode": mode, "padding_mode": pad, "align_corners": align}, inputs: []*Value{x, grid}, outputs: 1})
			}
		}
	}
	// The 2-D path at opset 20 with the new mode names.
	cases = append(cases, ortCase{name: "GridSample2D/opset20/cubic", op: "GridSample", opset: 20,
		attrs: map[string]any{"mode": "cubic"}, inputs: []*Value{randValue(t, r, 1, 2, 5, 6), randValue(t, r, 1, 3, 4, 2)}, outputs: 1})
	return cases
}

func TestGridSample3DAgainstORT(t *testing.T) {
	runORTCases(t, gridSample3DORTCases(t))
}
