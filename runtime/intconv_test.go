package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestConvIntegerDirect runs the direct 2-D convolution (unit strides, B read in
// place from channel blocks) with every qgemm kernel, at one and two threads, against
// the integer definition: uint8 and int8 inputs with extreme zero points, channel
// counts that do and do not fill blocks of four, groups, dilation, asymmetric
// padding, a non-square image, and per-channel weight zero points that are not all
// 0 (the im2col path instead).
func TestConvIntegerDirect(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		x, w        []int64
		group, dil  int64
		pads        []int64
		xInt8, zwNZ bool
	}{
		{x: []int64{2, 1, 28, 28}, w: []int64{16, 1, 3, 3}, group: 1, dil: 1, pads: []int64{1, 1, 1, 1}},
		{x: []int64{3, 16, 14, 14}, w: []int64{32, 16, 3, 3}, group: 1, dil: 1, pads: []int64{1, 1, 1, 1}, xInt8: true},
		{x: []int64{1, 3, 9, 13}, w: []int64{8, 3, 3, 2}, group: 1, dil: 1, pads: []int64{0, 2, 1, 0}},
		{x: []int64{2, 10, 11, 7}, w: []int64{12, 5, 3, 3}, group: 2, dil: 2, pads: []int64{2, 1, 2, 2}, xInt8: true},
		{x: []int64{1, 8, 5, 5}, w: []int64{4, 8, 1, 1}, group: 1, dil: 1, pads: []int64{0, 0, 0, 0}},
		{x: []int64{1, 40, 9, 9}, w: []int64{9, 40, 5, 5}, group: 1, dil: 1, pads: []int64{2, 2, 2, 2}},
		{x: []int64{2, 4, 8, 8}, w: []int64{8, 4, 3, 3}, group: 1, dil: 1, pads: []int64{1, 1, 1, 1}, zwNZ: true},
		// One channel per group: four horizontal taps per word (taps4).
		{x: []int64{1, 1, 13, 17}, w: []int64{8, 1, 5, 5}, group: 1, dil: 2, pads: []int64{3, 4, 2, 1}, xInt8: true},
		{x: []int64{2, 2, 9, 9}, w: []int64{8, 1, 2, 2}, group: 2, dil: 1, pads: []int64{0, 0, 1, 1}},
		{x: []int64{1, 1, 6, 40}, w: []int64{5, 1, 1, 7}, group: 1, dil: 1, pads: []int64{0, 3, 0, 3}},
	} {
		xn, wn := int(shapeProduct(tc.x)), int(shapeProduct(tc.w))
		M := int(tc.w[0])
		wb := bytesIn[int8](r, wn, -128, 127)
		zw := make([]int8, M)
		if tc.zwNZ {
			zw[M-1] = 3
		}
		xf, wf := make([]float32, xn), make([]float32, wn)
		per := wn / M
		for i, v := range wb {
			wf[i] = float32(int(v) - int(zw[i/per]))
		}
		var xv, zxv *Value
		if tc.xInt8 {
			xb := bytesIn[int8](r, xn, -128, 127)
			const zx = -128
			for i, v := range xb {
				xf[i] = float32(int(v) - zx)
			}
			xv, _ = FromSlice(xb, tc.x...)
			zxv, _ = FromSlice([]int8{zx})
		} else {
			xb := bytesIn[uint8](r, xn, 0, 255)
			const zx = 255
			for i, v := range xb {
				xf[i] = float32(int(v) - zx)
			}
			xv, _ = FromSlice(xb, tc.x...)
			zxv, _ = FromSlice([]uint8{zx})
		}
		kh, kw := tc.w[2], tc.w[3]
		oh := tc.x[2] + tc.pads[0] + tc.pads[2] - tc.dil*(kh-1)
		ow := tc.x[3] + tc.pads[1] + tc.pads[3] - tc.dil*(kw-1)
		outShape := []int64{tc.x[0], tc.w[0], oh, ow}
		want := naiveConv(xf, wf, tc.x, tc.w, nil, int(tc.group), []int64{1, 1}, []int64{tc.dil, tc.dil}, tc.pads[:2], outShape[2:])
		wv, _ := FromSlice(wb, tc.w...)
		zwv, _ := FromSlice(zw, int64(M))
		g := &Graph{
			Inputs:       []ValueInfo{input("x", xv.DType, tc.x...)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"w": wv, "zx": zxv, "zw": zwv},
			Nodes: []*Node{node("ConvInteger", []string{"x", "w", "zx", "zw"}, []string{"y"},
				ints("pads", tc.pads...), ints("dilations", tc.dil, tc.dil),
				&Attr{Name: "group", Kind: AttrInt, Int: tc.group})},
		}
		forEachQGEMMKernel(t, func(kernel string) {
			for _, threads := range []int{1, 2} {
				s, err := NewSession(g, map[string]int64{"": 17}, &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				out, err := s.Run(t.Context(), map[string]*Value{"x": xv})
				if err != nil {
					t.Fatal(err)
				}
				y := out["y"]
				if y.DType != tensor.I32 || len(y.Data.([]int32)) != len(want) {
					t.Fatalf("%s %v: y = %v, want int32 %v", kernel, tc.x, y, outShape)
				}
				for i, v := range y.Data.([]int32) {
					if float32(v) != want[i] {
						t.Fatalf("%s %v w %v threads %d: y[%d] = %d, want %v", kernel, tc.x, tc.w, threads, i, v, want[i])
					}
				}
			}
		})
	}
}
