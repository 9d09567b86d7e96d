package runtime

import (
	"math/rand/v2"
	"testing"
)

// miscORTCases checks the index, layout and linear-algebra operators against ONNX
// Runtime.
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
