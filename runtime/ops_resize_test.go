package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func resizeORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(21, 22))
	x := randValue(t, r, 1, 2, 5, 7)
	empty := mustValue(t, []float32{}, 0)
	var cases []ortCase
	coords := []string{"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "half_pixel_symmetric"}
	scaleSets := map[string]*Value{
		"up":   mustValue(t, []float32{1, 1, 2, 1.5}, 4),
		"down": mustValue(t, []float32{1, 1, 0.6, 0.45}, 4),
	}
	for _, mode := range []string{"nearest", "linear", "cubic"} {
		for _, coord := range coords {
			if mode != "nearest" && coord == "tf_half_pixel_for_nn" {
				continue
			}
			for _, dir := range []string{"up", "down"} {
				attrs := map[string]any{"mode": mode, "coordinate_transformation_mode": coord}
				cases = append(cases, ortCase{name: fmt.Sprintf("%s/%s/%s/scales", mode, coord, dir), op: "Resize", opset: 19,
					attrs: attrs, inputs: []*Value{x, empty, scaleSets[dir]}, outputs: 1})
			}
			attrs := map[string]any{"mode": mode, "coordinate_transformation_mode": coord}
			cases = append(cases, ortCase{name: fmt.Sprintf("%s/%s/sizes", mode, coord), op: "Resize", opset: 19,
				attrs: attrs, inputs: []*Value{x, nil, nil, mustValue(t, []int64{1, 2, 9, 3}, 4)}, outputs: 1})
		}
	}
	for _, nm := range []string{"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"} {
		cases = append(cases, ortCase{name: "nearest_mode/" + nm, op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "nearest", "nearest_mode": nm, "coordinate_transformation_mode": "asymmetric"},
			inputs: []*Value{x, nil, mustValue(t, []float32{1, 1, 2.5, 0.7}, 4)}, outputs: 1})
	}
	cases = append(cases,
		ortCase{name: "cubic/exclude_outside/A-0.5", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": float32(-0.5)},
			inputs: []*Value{x, nil, mustValue(t, []float32{1, 1, 1.7, 0.6}, 4)}, outputs: 1},
		ortCase{name: "tf_crop_and_resize/linear", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": float32(3)},
			inputs: []*Value{x, mustValue(t, []float32{0, 0, -0.2, 0.3, 1, 1, 0.8, 1.4}, 8), nil, mustValue(t, []int64{1, 2, 4, 6}, 4)}, outputs: 1},
		ortCase{name: "tf_crop_and_resize/nearest", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": float32(-1)},
			inputs: []*Value{x, mustValue(t, []float32{0, 0, 0.1, -0.3, 1, 1, 0.9, 0.6}, 8), nil, mustValue(t, []int64{1, 2, 3, 5}, 4)}, outputs: 1},
		ortCase{name: "axes/sizes", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "linear", "axes": []int64{3, 2}},
			inputs: []*Value{x, nil, nil, mustValue(t, []int64{4, 8}, 2)}, outputs: 1},
		ortCase{name: "keep_aspect/not_larger", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "linear", "axes": []int64{2, 3}, "keep_aspect_ratio_policy": "not_larger"},
			inputs: []*Value{x, nil, nil, mustValue(t, []int64{9, 9}, 2)}, outputs: 1},
		ortCase{name: "keep_aspect/not_smaller", op: "Resize", opset: 19,
			attrs:  map[string]any{"mode": "nearest", "axes": []int64{2, 3}, "keep_aspect_ratio_policy": "not_smaller"},
			inputs: []*Value{x, nil, nil, mustValue(t, []int64{9, 9}, 2)}, outputs: 1},
		ortCase{name: "opset10/nearest", op: "Resize", opset: 10,
			attrs: map[string]any{"mode": "nearest"}, inputs: []*Value{x, mustValue(t, []float32{1, 1, 0.5, 2.5}, 4)}, outputs: 1},
		ortCase{name: "opset10/linear", op: "Resize", opset: 10,
			attrs: map[string]any{"mode": "linear"}, inputs: []*Value{x, mustValue(t, []float32{1, 1, 1.5, 0.5}, 4)}, outputs: 1},
		ortCase{name: "opset11/uint8/nearest", op: "Resize", opset: 11,
			attrs:  map[string]any{"mode": "nearest"},
			inputs: []*Value{mustValue(t, []uint8{1, 200, 3, 40, 5, 60, 7, 8, 9, 10, 11, 255}, 1, 1, 3, 4), empty, mustValue(t, []float32{1, 1, 2, 1.5}, 4)}, outputs: 1},
		ortCase{name: "opset13/uint8/linear", op: "Resize", opset: 13,
			attrs:  map[string]any{"mode": "linear"},
			inputs: []*Value{mustValue(t, []uint8{1, 200, 3, 40, 5, 60, 7, 8, 9, 10, 11, 255}, 1, 1, 3, 4), empty, mustValue(t, []float32{1, 1, 1.7, 2.5}, 4)}, outputs: 1, atol: 1e-9},
		ortCase{name: "opset13/int8/linear", op: "Resize", opset: 13,
			attrs:  map[string]any{"mode": "linear"},
			inputs: []*Value{mustValue(t, []int8{1, -100, 3, 40, 5, 60, -7, 8, 9, 127, 11, -128}, 1, 1, 3, 4), empty, mustValue(t, []float32{1, 1, 1.7, 2.5}, 4)}, outputs: 1, atol: 1e-9},
		ortCase{name: "upsample9/nearest", op: "Upsample", opset: 9,
			attrs: map[string]any{"mode": "nearest"}, inputs: []*Value{x, mustValue(t, []float32{1, 1, 2, 3}, 4)}, outputs: 1},
		ortCase{name: "upsample9/linear", op: "Upsample", opset: 9,
			attrs: map[string]any{"mode": "linear"}, inputs: []*Value{x, mustValue(t, []float32{1, 1, 2, 1.5}, 4)}, outputs: 1},
	)
	return cases
}

func TestResizeAgainstORT(t *testing.T) {
	runORTCases(t, resizeORTCases(t))
}

func TestResizeErrors(t *testing.T) {
	x := mustValue(t, []float32{1, 2, 3, 4}, 1, 1, 2, 2)
	for _, tc := range []struct {
		name  string
		attrs map[string]*Attr
		ins   []*Value
	}{
		{"no scales or sizes", nil, []*Value{x}},
		{"scales rank", nil, []*Value{x, nil, mustValue(t, []float32{2, 2}, 2)}},
		{"negative scale", nil, []*Value{x, nil, mustValue(t, []float32{1, 1, -2, 2}, 4)}},
		{"huge size", nil, []*Value{x, nil, nil, mustValue(t, []int64{1, 1, 1 << 40, 2}, 4)}},
		{"bad mode", map[string]*Attr{"mode": stringAttr("lanczos")}, []*Value{x, nil, mustValue(t, []float32{1, 1, 2, 2}, 4)}},
		{"bad coordinate mode", map[string]*Attr{"coordinate_transformation_mode": stringAttr("diagonal")}, []*Value{x, nil, mustValue(t, []float32{1, 1, 2, 2}, 4)}},
		{"repeated axes", map[string]*Attr{"axes": intsAttr(2, 2)}, []*Value{x, nil, mustValue(t, []float32{2, 2}, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", "Resize", 19, tc.attrs, 1, tc.ins...); err == nil {
				t.Fatal("Resize accepted bad input")
			}
		})
	}
}

func antialiasORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(91, 92))
	x := randValue(t, r, 1, 2, 9, 11)
	u := make([]uint8, 1*2*9*11)
	for i := range u {
		u[i] = uint8(r.IntN(256))
	}
	xu := mustValue(t, u, 1, 2, 9, 11)
	var cases []ortCase
	for _, mode := range []string{"linear", "cubic"} {
		for _, excl := range []int{0, 1} {
			for name, sc := range map[string][]float32{"down": {1, 1, 0.45, 0.6}, "up": {1, 1, 1.7, 2}, "mixed": {1, 1, 0.34, 1.5}} {
				attrs := map[string]any{"mode": mode, "antialias": 1, "exclude_outside": excl}
				cases = append(cases,
					ortCase{name: fmt.Sprintf("%s/exclude%d/%s/float", mode, excl, name), op: "Resize", opset: 18, attrs: attrs,
						inputs: []*Value{x, nil, mustValue(t, sc, 4)}, outputs: 1},
					ortCase{name: fmt.Sprintf("%s/exclude%d/%s/uint8", mode, excl, name), op: "Resize", opset: 18, attrs: attrs,
						inputs: []*Value{xu, nil, mustValue(t, sc, 4)}, outputs: 1, atol: 1e-9})
			}
		}
	}
	cases = append(cases, ortCase{name: "linear/sizes/align_corners", op: "Resize", opset: 18,
		attrs:  map[string]any{"mode": "linear", "antialias": 1, "coordinate_transformation_mode": "align_corners"},
		inputs: []*Value{x, nil, nil, mustValue(t, []int64{1, 2, 4, 3}, 4)}, outputs: 1})
	return cases
}

func TestResizeAntialiasAgainstORT(t *testing.T) {
	runORTCases(t, antialiasORTCases(t))
}
