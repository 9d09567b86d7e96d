package runtime

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// runNode runs a single node on the given inputs at an opset version.
func runNode(t *testing.T, opset int64, n *Node, inputs ...*Value) ([]*Value, error) {
	t.Helper()
	g := &Graph{}
	feed := map[string]*Value{}
	for i, v := range inputs {
		name := string(rune('a' + i))
		if v == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		g.Inputs = append(g.Inputs, ValueInfo{Name: name})
		n.Inputs = append(n.Inputs, name)
		feed[name] = v
	}
	for _, o := range n.Outputs {
		g.Outputs = append(g.Outputs, ValueInfo{Name: o})
	}
	g.Nodes = []*Node{n}
	s, err := NewSession(g, map[string]int64{"": opset}, nil)
	if err != nil {
		return nil, err
	}
	res, err := s.Run(context.Background(), feed)
	if err != nil {
		return nil, err
	}
	out := make([]*Value, len(n.Outputs))
	for i, o := range n.Outputs {
		out[i] = res[o]
	}
	return out, nil
}

func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// naiveConv2D is the textbook definition, for checking the im2col and direct paths.
func naiveConv2D(x, w []float32, n, c, h, wd, m, kh, kw, group, stride, pad, dil int) ([]float32, int, int) {
	oh := (h+2*pad-dil*(kh-1)-1)/stride + 1
	ow := (wd+2*pad-dil*(kw-1)-1)/stride + 1
	out := make([]float32, n*m*oh*ow)
	cg, mg := c/group, m/group
	for b := 0; b < n; b++ {
		for oc := 0; oc < m; oc++ {
			g := oc / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s float64
					for ic := 0; ic < cg; ic++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*stride-pad+ky*dil, ox*stride-pad+kx*dil
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x[((b*c+g*cg+ic)*h+iy)*wd+ix]) * float64(w[((oc*cg+ic)*kh+ky)*kw+kx])
							}
						}
					}
					out[((b*m+oc)*oh+oy)*ow+ox] = float32(s)
				}
			}
		}
	}
	return out, oh, ow
}

func TestConvPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tests := []struct {
		name                                        string
		n, c, h, w, m, k, group, stride, pad, dilat int
	}{
		{"1x1 direct", 2, 8, 5, 6, 12, 1, 1, 1, 0, 1},
		{"1x1 strided", 1, 4, 7, 7, 6, 1, 1, 2, 0, 1},
		{"3x3 padded", 1, 3, 9, 8, 5, 3, 1, 1, 1, 1},
		{"grouped", 2, 6, 7, 7, 9, 3, 3, 1, 1, 1},
		{"depthwise", 1, 5, 8, 8, 5, 3, 5, 2, 1, 1},
		{"depthwise multiplier 2", 1, 4, 6, 6, 8, 3, 4, 1, 0, 2},
		{"7x7 transposed tiles", 2, 8, 7, 7, 40, 3, 1, 1, 1, 1},       // blas.SgemmShiftedT
		{"strided transposed tiles", 1, 6, 13, 13, 20, 3, 1, 2, 1, 1}, // to 7 x 7
		{"depthwise wide rows", 2, 3, 5, 41, 3, 3, 3, 1, 1, 1},        // vector FMA rows and tails
		{"depthwise strided wide", 1, 2, 4, 150, 2, 3, 2, 2, 1, 1},    // gathered in chunks of 64
		{"dilated", 1, 2, 10, 10, 3, 3, 1, 1, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := randSlice(r, tc.n*tc.c*tc.h*tc.w)
			w := randSlice(r, tc.m*(tc.c/tc.group)*tc.k*tc.k)
			want, oh, ow := naiveConv2D(x, w, tc.n, tc.c, tc.h, tc.w, tc.m, tc.k, tc.k, tc.group, tc.stride, tc.pad, tc.dilat)
			xv, _ := FromSlice(x, int64(tc.n), int64(tc.c), int64(tc.h), int64(tc.w))
			wv, _ := FromSlice(w, int64(tc.m), int64(tc.c/tc.group), int64(tc.k), int64(tc.k))
			p, s, d := int64(tc.pad), int64(tc.stride), int64(tc.dilat)
			n := node("Conv", nil, []string{"y"},
				&Attr{Name: "group", Kind: AttrInt, Int: int64(tc.group)},
				&Attr{Name: "pads", Kind: AttrInts, Ints: []int64{p, p, p, p}},
				&Attr{Name: "strides", Kind: AttrInts, Ints: []int64{s, s}},
				&Attr{Name: "dilations", Kind: AttrInts, Ints: []int64{d, d}})
			out, err := runNode(t, 17, n, xv, wv)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{int64(tc.n), int64(tc.m), int64(oh), int64(ow)}; !slices.Equal(out[0].Shape, want) {
				t.Fatalf("Conv shape = %v, want %v", out[0].Shape, want)
			}
			closeTo(t, "Conv", out[0].Float32s(), want, 1e-4)
		})
	}
}

func TestGroupNormalization(t *testing.T) {
	// N=1, C=4, 2 groups, 3 values per channel; scale/bias per channel (opset 21 style).
	x := f32([]int64{1, 4, 3}, 1, 2, 3, 4, 5, 6, -1, 0, 1, 10, 20, 30)
	scale := f32([]int64{4}, 1, 2, 1, 0.5)
	bias := f32([]int64{4}, 0, 1, 0, -1)
	want := make([]float32, 12)
	xs := x.Float32s()
	for g := 0; g < 2; g++ {
		seg := xs[g*6 : g*6+6]
		var mean, sq float64
		for _, v := range seg {
			mean += float64(v) / 6
		}
		for _, v := range seg {
			sq += (float64(v) - mean) * (float64(v) - mean) / 6
		}
		for i, v := range seg {
			ch := g*2 + i/3
			want[g*6+i] = float32((float64(v)-mean)/math.Sqrt(sq+1e-5))*scale.Float32s()[ch] + bias.Float32s()[ch]
		}
	}
	out, err := runNode(t, 18, node("GroupNormalization", nil, []string{"y"}, &Attr{Name: "num_groups", Kind: AttrInt, Int: 2}), x, scale, bias)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "GroupNormalization", out[0].Float32s(), want, 1e-5)

	_, err = runNode(t, 18, node("GroupNormalization", nil, []string{"y"}, &Attr{Name: "num_groups", Kind: AttrInt, Int: 3}), x, scale, bias)
	if err == nil {
		t.Error("GroupNormalization with 3 groups over 4 channels succeeded, want an error")
	}
}

func TestBitwiseNotAndShift(t *testing.T) {
	out, err := runNode(t, 18, node("BitwiseNot", nil, []string{"y"}), &Value{DType: tensor.U8, Shape: []int64{3}, Data: []uint8{0, 1, 0xf0}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Data.([]uint8); !slices.Equal(got, []uint8{0xff, 0xfe, 0x0f}) {
		t.Errorf("BitwiseNot = %v", got)
	}
	out, err = runNode(t, 11, node("BitShift", nil, []string{"y"}, &Attr{Name: "direction", Kind: AttrString, String: "RIGHT"}),
		&Value{DType: tensor.U32, Shape: []int64{2}, Data: []uint32{16, 255}}, &Value{DType: tensor.U32, Shape: []int64{1}, Data: []uint32{2}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Data.([]uint32); !slices.Equal(got, []uint32{4, 63}) {
		t.Errorf("BitShift RIGHT = %v, want [4 63]", got)
	}
	if _, err := runNode(t, 18, node("BitwiseNot", nil, []string{"y"}), f32([]int64{1}, 1)); err == nil {
		t.Error("BitwiseNot on float succeeded, want an error")
	}
}

func TestScanOutputAxis(t *testing.T) {
	// Running sum over axis 1 of a [2, 3] input, scan output stacked on axis 1.
	body := &Graph{
		Inputs:  []ValueInfo{{Name: "acc"}, {Name: "xi"}},
		Outputs: []ValueInfo{{Name: "acc2"}, {Name: "o"}},
		Nodes: []*Node{
			node("Add", []string{"acc", "xi"}, []string{"acc2"}),
			node("Identity", []string{"acc2"}, []string{"o"}),
		},
	}
	n := node("Scan", nil, []string{"final", "ys"},
		&Attr{Name: "body", Kind: AttrGraph, Graph: body},
		&Attr{Name: "num_scan_inputs", Kind: AttrInt, Int: 1},
		&Attr{Name: "scan_input_axes", Kind: AttrInts, Ints: []int64{1}},
		&Attr{Name: "scan_output_axes", Kind: AttrInts, Ints: []int64{1}})
	out, err := runNode(t, 11, n, f32([]int64{2}, 0, 0), f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6))
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Float32s(); !slices.Equal(got, []float32{6, 15}) {
		t.Errorf("final = %v, want [6 15]", got)
	}
	if got := out[1]; !slices.Equal(got.Shape, []int64{2, 3}) || !slices.Equal(got.Float32s(), []float32{1, 3, 6, 4, 9, 15}) {
		t.Errorf("ys = %v %v, want [2 3] [1 3 6 4 9 15]", got.Shape, got.Float32s())
	}
}

func TestExternalData(t *testing.T) {
	data := make([]byte, 16)
	for i, f := range []float32{1, 2, 3, 4} {
		b := math.Float32bits(f)
		data[4*i], data[4*i+1], data[4*i+2], data[4*i+3] = byte(b), byte(b>>8), byte(b>>16), byte(b>>24)
	}
	fsys := fstest.MapFS{"weights.bin": {Data: append(make([]byte, 8), data...)}}
	ext := func(loc, off, length string) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2, 2}, Name: proto.String("w"),
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
			ExternalData: []*onnxpb.StringStringEntryProto{
				{Key: proto.String("location"), Value: proto.String(loc)},
				{Key: proto.String("offset"), Value: proto.String(off)},
				{Key: proto.String("length"), Value: proto.String(length)},
			}}
	}
	v, err := ValueFromProto(ext("weights.bin", "8", "16"), fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Float32s(); !slices.Equal(got, []float32{1, 2, 3, 4}) {
		t.Errorf("external tensor = %v, want [1 2 3 4]", got)
	}
	for _, tc := range []struct {
		name string
		tp   *onnxpb.TensorProto
		want error
	}{
		{"escaping path", ext("../weights.bin", "0", "16"), refit.ErrInsecurePath},
		{"past the end", ext("weights.bin", "16", "16"), refit.ErrFormat},
		{"wrong length", ext("weights.bin", "0", "12"), refit.ErrFormat},
		{"bad offset", ext("weights.bin", "-4", "16"), refit.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ValueFromProto(tc.tp, fsys); !errors.Is(err, tc.want) {
				t.Errorf("ValueFromProto = %v, want %v", err, tc.want)
			}
		})
	}
}
