package runtime

import (
	"math/rand/v2"
	"testing"
)

func signalORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(101, 102))
	return []ortCase{
		{name: "DFT/real_onesided_length", op: "DFT", opset: 17, attrs: map[string]any{"onesided": 1, "axis": 1},
			inputs: []*Value{randValue(t, r, 2, 10, 1), mustValue(t, []int64{12}, 1)}, outputs: 1},
		{name: "DFT/complex_inverse_axis2", op: "DFT", opset: 17, attrs: map[string]any{"inverse": 1, "axis": 2},
			inputs: []*Value{randValue(t, r, 2, 3, 7, 2)}, outputs: 1},
		{name: "DFT/truncate", op: "DFT", opset: 17, attrs: map[string]any{},
			inputs: []*Value{randValue(t, r, 1, 9, 2), mustValue(t, []int64{5}, 1)}, outputs: 1},
		{name: "STFT/window_onesided", op: "STFT", opset: 17, attrs: map[string]any{},
			inputs: []*Value{randValue(t, r, 2, 40, 1), mustValue(t, []int64{6}, 1), randValue(t, r, 16)}, outputs: 1},
		{name: "STFT/frame_length_twosided", op: "STFT", opset: 17, attrs: map[string]any{"onesided": 0},
			inputs: []*Value{randValue(t, r, 1, 30, 1), mustValue(t, []int64{7}, 1), nil, mustValue(t, []int64{9}, 1)}, outputs: 1},
		{name: "MelWeightMatrix", op: "MelWeightMatrix", opset: 17, attrs: map[string]any{},
			inputs: []*Value{mustValue(t, []int64{10}, 1), mustValue(t, []int64{64}, 1), mustValue(t, []int64{16000}, 1), mustValue(t, []float32{50}, 1), mustValue(t, []float32{7000}, 1)}, outputs: 1},
		{name: "HannWindow/symmetric_double", op: "HannWindow", opset: 17, attrs: map[string]any{"periodic": 0, "output_datatype": 11},
			inputs: []*Value{mustValue(t, []int64{9}, 1)}, outputs: 1},
		{name: "BlackmanWindow", op: "BlackmanWindow", opset: 17, attrs: map[string]any{}, inputs: []*Value{mustValue(t, []int64{12}, 1)}, outputs: 1},
		{name: "HammingWindow", op: "HammingWindow", opset: 17, attrs: map[string]any{}, inputs: []*Value{mustValue(t, []int64{7}, 1)}, outputs: 1},
	}
}

func TestSignalAgainstORT(t *testing.T) {
	runORTCases(t, signalORTCases(t))
}
