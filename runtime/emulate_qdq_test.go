package runtime

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// qdqGraph is Q(x) -> DQ -> op <- DQ(w int8), the op's output quantized again, as
// Refit's and ONNX Runtime's static QDQ quantizers write it.
func qdqGraph(op string, w *Value, sw *Value, axis int64, attrs map[string]*Attr) *Graph {
	g := &Graph{Name: "qdq", Initializers: map[string]*Value{
		"sx": Scalar[float32](0.02), "zx": Scalar[uint8](90),
		"w": w, "sw": sw, "zw": NewValue(tensor.I8, sw.Shape),
		"sy": Scalar[float32](0.5), "zy": Scalar[uint8](128),
	}}
	g.Inputs = []ValueInfo{{Name: "x", DType: tensor.F32}}
	g.Outputs = []ValueInfo{{Name: "y"}}
	if attrs == nil {
		attrs = map[string]*Attr{}
	}
	g.Nodes = []*Node{
		{Name: "qx", OpType: "QuantizeLinear", Inputs: []string{"x", "sx", "zx"}, Outputs: []string{"xq"}, Attrs: map[string]*Attr{}},
		{Name: "dqx", OpType: "DequantizeLinear", Inputs: []string{"xq", "sx", "zx"}, Outputs: []string{"xd"}, Attrs: map[string]*Attr{}},
		{Name: "dqw", OpType: "DequantizeLinear", Inputs: []string{"w", "sw", "zw"}, Outputs: []string{"wd"}, Attrs: map[string]*Attr{"axis": {Name: "axis", Kind: AttrInt, Int: axis}}},
		{Name: "op", OpType: op, Inputs: []string{"xd", "wd"}, Outputs: []string{"yf"}, Attrs: attrs},
		{Name: "qy", OpType: "QuantizeLinear", Inputs: []string{"yf", "sy", "zy"}, Outputs: []string{"yq"}, Attrs: map[string]*Attr{}},
		{Name: "dqy", OpType: "DequantizeLinear", Inputs: []string{"yq", "sy", "zy"}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}},
	}
	return g
}

func runGraph(t *testing.T, g *Graph, arith IntArith, x *Value) (*Session, []float32) {
	t.Helper()
	s, err := NewSession(g, map[string]int64{"": 13}, &Options{IntArith: arith})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return s, out["y"].Float32s()
}

// TestEmulateQDQ: a QDQ MatMul and Conv become fused integer products, exact under
// ExactArith and with saturating pairs under SaturatingPairsArith (as ONNX Runtime's
// fused kernels compute on CPUs without VNNI), and their operands' DequantizeLinear
// nodes no longer run.
func TestEmulateQDQ(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const M, K, N = 3, 8, 4
	xs := make([]float32, M*K)
	for i := range xs {
		xs[i] = 1.5 + r.Float32()*1.6 // quantizes to about 165..245
	}
	wMM := mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N)
	swMM := mustValue(t, []float32{0.01, 0.02, 0.015, 0.01}, N)
	g := convGeom{n: 1, c: 4, h: 4, w: 4, m: 2, kh: 3, kw: 3, group: 1, padT: 1, padL: 1, padB: 1, padR: 1, strideH: 1, strideW: 1, d: 1}
	xc := make([]float32, g.c*g.h*g.w)
	for i := range xc {
		xc[i] = 1.5 + r.Float32()*1.6
	}
	wConv := mustValue(t, bytesIn[int8](r, g.m*g.c*g.kh*g.kw, -128, 127), int64(g.m), int64(g.c), int64(g.kh), int64(g.kw))
	swConv := mustValue(t, []float32{0.005, 0.004}, int64(g.m))
	for _, tc := range []struct {
		name  string
		graph func() *Graph
		x     *Value
		ref   func(xq []int64, sat bool) []int64
		scale func(i int) float64
	}{
		{"MatMul", func() *Graph { return qdqGraph("MatMul", wMM, swMM, 1, nil) }, mustValue(t, xs, M, K),
			func(xq []int64, sat bool) []int64 {
				return refMatMul(xq, asInt64s(wMM), 1, M, K, N, 90, []int64{0}, sat)
			},
			func(i int) float64 { return 0.02 * float64(swMM.Float32s()[i%N]) }},
		{"Conv", func() *Graph { return qdqGraph("Conv", wConv, swConv, 0, g.attrs()) }, mustValue(t, xc, 1, int64(g.c), int64(g.h), int64(g.w)),
			func(xq []int64, sat bool) []int64 { return refConv(g, xq, asInt64s(wConv), 90, []int64{0}, sat) },
			func(i int) float64 { return 0.02 * float64(swConv.Float32s()[i/(g.h*g.w)%g.m]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			xq := make([]int64, tc.x.Len())
			for i, v := range tc.x.Float32s() {
				xq[i] = int64(max(0, min(255, math.RoundToEven(float64(v/0.02))+90)))
			}
			differ := false
			for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
				s, y := runGraph(t, tc.graph(), arith, tc.x)
				emulated := false
				for _, n := range s.Graph().Nodes {
					emulated = emulated || n.Domain == emulateDomain
					if n.Name == "dqx" || n.Name == "dqw" {
						t.Errorf("%v: the fused product's DequantizeLinear %q still runs", arith, n.Name)
					}
				}
				if !emulated {
					t.Fatalf("%v: the QDQ %s was not fused", arith, tc.name)
				}
				acc := tc.ref(xq, arith == SaturatingPairsArith)
				for i, a := range acc {
					// QuantizeLinear(sy 0.5, zy 128) then DequantizeLinear.
					want := max(-64, min(63.5, math.RoundToEven(float64(a)*tc.scale(i)/0.5)*0.5))
					if math.Abs(float64(y[i])-want) > 0.5+1e-6 { // one output step for float rounding
						t.Fatalf("%v: y[%d] = %v, want %v (accumulator %d)", arith, i, y[i], want, a)
					}
				}
				if arith == SaturatingPairsArith {
					exact := tc.ref(xq, false)
					for i := range acc {
						differ = differ || math.Abs(float64(acc[i]-exact[i])*tc.scale(i)) > 2
					}
				}
			}
			if !differ {
				t.Fatal("saturation changes no output by more than a step; the case tests nothing")
			}
		})
	}
}

// TestQDQConvQuantizeFused: the QuantizeLinear after a fused QDQ Conv runs in the
// Conv's pass and gives the bytes of the separate QuantizeLinear (kept when the
// Conv's float output is also a graph output), under both arithmetics.
func TestQDQConvQuantizeFused(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	g := convGeom{n: 2, c: 8, h: 9, w: 9, m: 16, kh: 3, kw: 3, group: 1, padT: 1, padL: 1, padB: 1, padR: 1, strideH: 1, strideW: 1, d: 1}
	w := mustValue(t, bytesIn[int8](r, g.m*g.c*g.kh*g.kw, -128, 127), int64(g.m), int64(g.c), int64(g.kh), int64(g.kw))
	sw := make([]float32, g.m)
	for i := range sw {
		sw[i] = 0.001 + 0.0005*float32(i)
	}
	xs := make([]float32, g.n*g.c*g.h*g.w)
	for i := range xs {
		xs[i] = r.Float32()*4 - 0.5
	}
	x := mustValue(t, xs, int64(g.n), int64(g.c), int64(g.h), int64(g.w))
	for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
		run := func(exposeFloat bool) (*Session, []uint8) {
			gr := qdqGraph("Conv", w, mustValue(t, sw, int64(g.m)), 0, g.attrs())
			gr.Outputs = []ValueInfo{{Name: "yq"}}
			if exposeFloat {
				gr.Outputs = append(gr.Outputs, ValueInfo{Name: "yf"})
			}
			s, err := NewSession(gr, map[string]int64{"": 13}, &Options{IntArith: arith})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(t.Context(), map[string]*Value{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			return s, out["yq"].Data.([]uint8)
		}
		_, want := run(true)
		s, got := run(false)
		for _, n := range s.Graph().Nodes {
			if n.OpType == "QuantizeLinear" && n.Name == "qy" {
				t.Fatalf("%v: the Conv's QuantizeLinear was not fused", arith)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%v: fused QuantizeLinear gives different bytes", arith)
		}
	}
}
