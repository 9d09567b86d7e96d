package runtime

import (
	"math/rand/v2"
	"testing"
)

func opset18ORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(71, 72))
	return []ortCase{
		{name: "Col2Im/basic", op: "Col2Im", opset: 18, attrs: map[string]any{},
			inputs: []*Value{randValue(t, r, 2, 3*2*2, 4*5), mustValue(t, []int64{5, 6}, 2), mustValue(t, []int64{2, 2}, 2)}, outputs: 1},
		{name: "Col2Im/strided_padded_dilated", op: "Col2Im", opset: 18, attrs: map[string]any{"strides": []int64{2, 1}, "pads": []int64{1, 0, 1, 2}, "dilations": []int64{1, 2}},
			inputs: []*Value{randValue(t, r, 1, 2*3*2, 3*6), mustValue(t, []int64{6, 6}, 2), mustValue(t, []int64{3, 2}, 2)}, outputs: 1},
		{name: "CenterCropPad/crop_and_pad", op: "CenterCropPad", opset: 18, attrs: map[string]any{},
			inputs: []*Value{randValue(t, r, 5, 4, 3), mustValue(t, []int64{3, 7, 3}, 3)}, outputs: 1},
		{name: "CenterCropPad/axes", op: "CenterCropPad", opset: 18, attrs: map[string]any{"axes": []int64{-1, 0}},
			inputs: []*Value{randValue(t, r, 5, 4, 3), mustValue(t, []int64{6, 2}, 2)}, outputs: 1},
	}
}

func TestOpset18AgainstORT(t *testing.T) {
	runORTCases(t, opset18ORTCases(t))
}
