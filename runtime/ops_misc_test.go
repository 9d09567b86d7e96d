package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func miscORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(31, 32))
	ties := mustValue(t, []float32{3, 1, 3, 2, 1, 3, 0, 2, 2, 5, 1, 1}, 3, 4)
	ints := mustValue(t, []int64{4, -1, 4, 7, 0, -1, 4, 2, 2, 9, 0, 7}, 2, 6)
	x3 := randValue(t, r, 2, 3, 4)
	var cases []ortCase
	for _, largest := range []int{0, 1} {
		for _, axis := range []int{0, 1, -1} {
			cases = append(cases, ortCase{name: "TopK/ties", op: "TopK", opset: 11,
				attrs: map[string]any{"largest": largest, "axis": axis}, inputs: []*Value{ties, mustValue(t, []int64{2}, 1)}, outputs: 2})
		}
	}
	cases = append(cases,
		ortCase{name: "TopK/int64", op: "TopK", opset: 11, attrs: map[string]any{}, inputs: []*Value{ints, mustValue(t, []int64{3}, 1)}, outputs: 2},
		ortCase{name: "Unique/sorted", op: "Unique", opset: 11, attrs: map[string]any{}, inputs: []*Value{ints}, outputs: 4},
		ortCase{name: "Unique/unsorted", op: "Unique", opset: 11, attrs: map[string]any{"sorted": 0}, inputs: []*Value{ints}, outputs: 4},
		ortCase{name: "Unique/axis1", op: "Unique", opset: 11, attrs: map[string]any{"axis": 1}, inputs: []*Value{mustValue(t, []int64{1, 2, 1, 3, 1, 2, 2, 1, 2, 0, 2, 1}, 2, 6)}, outputs: 4},
		ortCase{name: "NonZero", op: "NonZero", opset: 13, attrs: map[string]any{}, inputs: []*Value{ints}, outputs: 1},
		ortCase{name: "CumSum/exclusive_reverse", op: "CumSum", opset: 14, attrs: map[string]any{"exclusive": 1, "reverse": 1}, inputs: []*Value{x3, mustValue(t, []int64{1}, 1)}, outputs: 1},
		ortCase{name: "CumSum/int64", op: "CumSum", opset: 14, attrs: map[string]any{}, inputs: []*Value{ints, mustValue(t, []int64{-1}, 1)}, outputs: 1},
		ortCase{name: "OneHot/axis0", op: "OneHot", opset: 11, attrs: map[string]any{"axis": 0}, inputs: []*Value{mustValue(t, []int64{0, -1, 3, 7, 2}, 5), mustValue(t, []int64{4}, 1), mustValue(t, []float32{-2, 5}, 2)}, outputs: 1},
		ortCase{name: "DepthToSpace/DCR", op: "DepthToSpace", opset: 13, attrs: map[string]any{"blocksize": 2, "mode": "DCR"}, inputs: []*Value{randValue(t, r, 2, 8, 2, 3)}, outputs: 1},
		ortCase{name: "DepthToSpace/CRD", op: "DepthToSpace", opset: 13, attrs: map[string]any{"blocksize": 2, "mode": "CRD"}, inputs: []*Value{randValue(t, r, 2, 8, 2, 3)}, outputs: 1},
		ortCase{name: "SpaceToDepth", op: "SpaceToDepth", opset: 13, attrs: map[string]any{"blocksize": 2}, inputs: []*Value{randValue(t, r, 2, 3, 4, 6)}, outputs: 1},
		ortCase{name: "Trilu/lower_k", op: "Trilu", opset: 14, attrs: map[string]any{"upper": 0}, inputs: []*Value{randValue(t, r, 2, 4, 5), mustValue(t, []int64{-1}, 1)}, outputs: 1},
		ortCase{name: "Compress/axis", op: "Compress", opset: 11, attrs: map[string]any{"axis": -1}, inputs: []*Value{x3, mustValue(t, []bool{true, false, true}, 3)}, outputs: 1},
		ortCase{name: "ReverseSequence/batch0", op: "ReverseSequence", opset: 10, attrs: map[string]any{"batch_axis": 0, "time_axis": 1}, inputs: []*Value{x3, mustValue(t, []int64{2, 3}, 2)}, outputs: 1},
		ortCase{name: "MVN", op: "MeanVarianceNormalization", opset: 13, attrs: map[string]any{"axes": []int64{1, 2}}, inputs: []*Value{x3}, outputs: 1},
		ortCase{name: "EyeLike/k", op: "EyeLike", opset: 9, attrs: map[string]any{"k": 2, "dtype": 7}, inputs: []*Value{randValue(t, r, 4, 5)}, outputs: 1},
		ortCase{name: "Shrink", op: "Shrink", opset: 9, attrs: map[string]any{"lambd": float32(0.3), "bias": float32(0.1)}, inputs: []*Value{x3}, outputs: 1},
		ortCase{name: "Det", op: "Det", opset: 11, attrs: map[string]any{}, inputs: []*Value{randValue(t, r, 3, 4, 4)}, outputs: 1},
		ortCase{name: "Einsum/matmul_ellipsis", op: "Einsum", opset: 12, attrs: map[string]any{"equation": "...ij,...jk->...ik"}, inputs: []*Value{randValue(t, r, 2, 3, 4), randValue(t, r, 2, 4, 5)}, outputs: 1},
		ortCase{name: "Einsum/broadcast_ellipsis", op: "Einsum", opset: 12, attrs: map[string]any{"equation": "...ij,...jk"}, inputs: []*Value{randValue(t, r, 2, 1, 3, 4), randValue(t, r, 2, 3, 4, 2)}, outputs: 1},
		ortCase{name: "Einsum/diagonal_trace", op: "Einsum", opset: 12, attrs: map[string]any{"equation": "bii->b"}, inputs: []*Value{randValue(t, r, 3, 4, 4)}, outputs: 1},
		ortCase{name: "Einsum/three_operands", op: "Einsum", opset: 12, attrs: map[string]any{"equation": "ab, bc ,cd->da"}, inputs: []*Value{randValue(t, r, 2, 3), randValue(t, r, 3, 4), randValue(t, r, 4, 5)}, outputs: 1},
		ortCase{name: "Einsum/outer_implicit", op: "Einsum", opset: 12, attrs: map[string]any{"equation": "i,j"}, inputs: []*Value{randValue(t, r, 3), randValue(t, r, 4)}, outputs: 1},
		ortCase{name: "NMS/center_box", op: "NonMaxSuppression", opset: 11, attrs: map[string]any{"center_point_box": 1},
			inputs: []*Value{
				mustValue(t, []float32{0.5, 0.5, 1, 1, 0.5, 0.6, 1, 1, 0.5, 0.4, 1, 1, 0.5, 10.5, 1, 1, 0.5, 10.6, 1, 1, 0.5, 100.5, 1, 1}, 1, 6, 4),
				mustValue(t, []float32{0.9, 0.75, 0.6, 0.95, 0.5, 0.3, 0.1, 0.2, 0.9, 0.9, 0.4, 0.9}, 1, 2, 6),
				mustValue(t, []int64{2}, 1), mustValue(t, []float32{0.5}, 1), mustValue(t, []float32{0.15}, 1)}, outputs: 1},
	)
	return cases
}

func TestMiscAgainstORT(t *testing.T) {
	runORTCases(t, miscORTCases(t))
}

func TestTopKTiesPreferLowerIndex(t *testing.T) {
	x := mustValue(t, []float32{1, 3, 3, 2, 3}, 5)
	out, err := runOp("", "TopK", 11, nil, 2, x, mustValue(t, []int64{3}, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[1].Int64s(); !slices.Equal(got, []int64{1, 2, 4}) {
		t.Fatalf("TopK indices = %v, want [1 2 4]", got)
	}
}

func TestMiscErrors(t *testing.T) {
	x := mustValue(t, []float32{1, 2, 3, 4, 5, 6}, 2, 3)
	for _, tc := range []struct {
		name, op string
		attrs    map[string]*Attr
		ins      []*Value
		outs     int
	}{
		{"TopK k too large", "TopK", nil, []*Value{x, mustValue(t, []int64{4}, 1)}, 2},
		{"TopK bad axis", "TopK", map[string]*Attr{"axis": intAttr(5)}, []*Value{x, mustValue(t, []int64{1}, 1)}, 2},
		{"CumSum bool", "CumSum", nil, []*Value{mustValue(t, []bool{true}, 1), mustValue(t, []int64{0}, 1)}, 1},
		{"DepthToSpace blocksize", "DepthToSpace", map[string]*Attr{"blocksize": intAttr(2)}, []*Value{mustValue(t, make([]float32, 6), 1, 3, 1, 2)}, 1},
		{"SpaceToDepth rank", "SpaceToDepth", map[string]*Attr{"blocksize": intAttr(2)}, []*Value{x}, 1},
		{"Einsum bad char", "Einsum", map[string]*Attr{"equation": stringAttr("i1,j")}, []*Value{x, x}, 1},
		{"Einsum operand count", "Einsum", map[string]*Attr{"equation": stringAttr("ij")}, []*Value{x, x}, 1},
		{"Einsum size mismatch", "Einsum", map[string]*Attr{"equation": stringAttr("ij,ij->i")}, []*Value{x, mustValue(t, make([]float32, 6), 3, 2)}, 1},
		{"Einsum rank mismatch", "Einsum", map[string]*Attr{"equation": stringAttr("ijk->i")}, []*Value{x}, 1},
		{"Einsum unknown output", "Einsum", map[string]*Attr{"equation": stringAttr("ij->k")}, []*Value{x}, 1},
		{"Det not square", "Det", nil, []*Value{x}, 1},
		{"OneHot depth", "OneHot", nil, []*Value{mustValue(t, []int64{1}, 1), mustValue(t, []int64{0}, 1), mustValue(t, []float32{0, 1}, 2)}, 1},
		{"ReverseSequence lens", "ReverseSequence", nil, []*Value{x, mustValue(t, []int64{1, 2, 3, 4}, 4)}, 1},
		{"NMS shapes", "NonMaxSuppression", nil, []*Value{x, x}, 1},
		{"Compress condition", "Compress", nil, []*Value{x, mustValue(t, []float32{1}, 1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", tc.op, 13, tc.attrs, tc.outs, tc.ins...); err == nil {
				t.Fatalf("%s accepted bad input", tc.op)
			}
		})
	}
}

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

// TestEinsumMatmulPath checks the batched-Sgemm path against the generic loop.
func TestEinsumMatmulPath(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, tc := range []struct {
		eq     string
		shapes [][]int64
	}{
		{"bhqd,bhkd->bhqk", [][]int64{{2, 3, 17, 16}, {2, 3, 19, 16}}},
		{"bhqk,bhkd->bqhd", [][]int64{{2, 3, 17, 19}, {2, 3, 19, 16}}},
		{"ij,jk", [][]int64{{40, 30}, {30, 50}}},
		{"...ij,...kj->...ik", [][]int64{{3, 20, 30}, {3, 25, 30}}},
		{"abc,cd->dba", [][]int64{{10, 11, 12}, {12, 13}}},
	} {
		t.Run(tc.eq, func(t *testing.T) {
			a, b := randValue(t, r, tc.shapes[0]...), randValue(t, r, tc.shapes[1]...)
			attrs := map[string]*Attr{"equation": stringAttr(tc.eq)}
			fast, err := runOp("", "Einsum", 12, attrs, 1, a, b)
			if err != nil {
				t.Fatal(err)
			}
			// Float64 inputs take the generic loop.
			slow, err := runOp("", "Einsum", 12, attrs, 1, castValue(nil, a, tensor.F64), castValue(nil, b, tensor.F64))
			if err != nil {
				t.Fatal(err)
			}
			if err := allClose(fast[0], castValue(nil, slow[0], tensor.F32), 1e-4, 1e-5); err != nil {
				t.Fatalf("Einsum(%q): %v", tc.eq, err)
			}
		})
	}
}

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

// TestTopKPaths checks the typed fast paths (full sort and window selection) against
// the generic comparison path (uint8 input).
func TestTopKPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	for _, tc := range []struct{ dim, k int }{{10, 3}, {100, 2}, {1000, 50}, {257, 257}} {
		for _, largest := range []int64{0, 1} {
			t.Run(fmt.Sprintf("dim%d_k%d_largest%d", tc.dim, tc.k, largest), func(t *testing.T) {
				u := make([]uint8, 3*tc.dim)
				for i := range u {
					u[i] = uint8(r.IntN(7)) // many ties
				}
				xu := mustValue(t, u, 3, int64(tc.dim))
				xf := castValue(nil, xu, tensor.F32)
				attrs := map[string]*Attr{"largest": intAttr(largest)}
				k := mustValue(t, []int64{int64(tc.k)}, 1)
				want, err := runOp("", "TopK", 11, attrs, 2, xu, k)
				if err != nil {
					t.Fatal(err)
				}
				got, err := runOp("", "TopK", 11, attrs, 2, xf, k)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got[1].Int64s(), want[1].Int64s()) {
					t.Fatalf("TopK indices differ:\n%v\n%v", got[1].Int64s(), want[1].Int64s())
				}
			})
		}
	}
}

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
