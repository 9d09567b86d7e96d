package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// dynamicMatMulGraph is what dynamic quantization writes for x [.., K] x w [K, N]:
// DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul by the product of the scales.
// With exposeCast the Cast's output is a graph output too, which keeps the chain unfused.
func dynamicMatMulGraph(t *testing.T, w *Value, exposeCast bool) *Graph {
	g := &Graph{
		Inputs:  []ValueInfo{input("x", tensor.F32, 3, 5, int64(w.Shape[0]))},
		Outputs: []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{
			"w": w, "ws": Scalar[float32](0.0123), "wz": Scalar[int8](0),
		},
		Nodes: []*Node{
			node("DynamicQuantizeLinear", []string{"x"}, []string{"xq", "xs", "xz"}),
			node("MatMulInteger", []string{"xq", "w", "xz", "wz"}, []string{"acc"}),
			node("Cast", []string{"acc"}, []string{"accf"}, &Attr{Name: "to", Kind: AttrInt, Int: 1}),
			node("Mul", []string{"xs", "ws"}, []string{"s"}),
			node("Mul", []string{"accf", "s"}, []string{"y"}),
		},
	}
	if exposeCast {
		g.Outputs = append(g.Outputs, ValueInfo{Name: "accf"})
	}
	return g
}

// TestFuseIntegerScale: the fused MatMulInteger -> Cast -> Mul gives the unfused
// chain's output bit for bit, with every integer kernel.
func TestFuseIntegerScale(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const K, N = 70, 33
	w := mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N)
	xs := make([]float32, 3*5*K)
	for i := range xs {
		xs[i] = r.Float32()*4 - 1
	}
	x := mustValue(t, xs, 3, 5, K)
	ref, err := NewSession(dynamicMatMulGraph(t, w, true), map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ref.Graph().Nodes {
		if n.OpType == "MatMulIntegerScaled" {
			t.Fatal("fused although the Cast's output is a graph output")
		}
	}
	want, err := ref.Run(t.Context(), map[string]*Value{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	forEachQGEMMKernel(t, func(kernel string) {
		s, err := NewSession(dynamicMatMulGraph(t, w, false), map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fused := 0
		for _, n := range s.Graph().Nodes {
			if n.OpType == "MatMulIntegerScaled" {
				fused++
			}
		}
		if fused != 1 || len(s.Graph().Nodes) != 3 {
			t.Fatalf("%s: %d fused nodes among %d, want 1 among 3", kernel, fused, len(s.Graph().Nodes))
		}
		got, err := s.Run(t.Context(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		g, wv := got["y"], want["y"]
		if !slices.Equal(g.Shape, wv.Shape) {
			t.Fatalf("%s: shape %v, want %v", kernel, g.Shape, wv.Shape)
		}
		for i, v := range wv.Float32s() {
			if math.Float32bits(g.Float32s()[i]) != math.Float32bits(v) {
				t.Fatalf("%s: y[%d] = %v, want %v", kernel, i, g.Float32s()[i], v)
			}
		}
	})
}

// TestDequantizeRelu: a Relu that alone reads a DequantizeLinear's output runs in the
// DequantizeLinear's pass, with the unfused values, for uint8 and int8 inputs.
func TestDequantizeRelu(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.U8, tensor.I8} {
		x := NewValue(dt, []int64{3, 5000})
		b, _ := rawBytes(x)
		for i := range b {
			b[i] = byte(i * 37)
		}
		zp := Scalar[uint8](128)
		if dt == tensor.I8 {
			zp = Scalar[int8](-3)
		}
		g := &Graph{
			Inputs:       []ValueInfo{input("x", dt, 3, 5000)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"s": Scalar[float32](0.1), "z": zp},
			Nodes: []*Node{
				node("DequantizeLinear", []string{"x", "s", "z"}, []string{"d"}),
				node("Relu", []string{"d"}, []string{"y"}),
			},
		}
		s, err := NewSession(g, map[string]int64{"": 13}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.Graph().Nodes); n != 1 {
			t.Fatalf("%v: %d nodes after fusion, want 1", dt, n)
		}
		out, err := s.Run(t.Context(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		xs, _ := ints32(x)
		z, _ := ints32(zp)
		for i, v := range out["y"].Float32s() {
			want := max(0, (float32(xs[i])-float32(z[0]))*0.1)
			if v != want {
				t.Fatalf("%v: y[%d] = %v, want %v", dt, i, v, want)
			}
		}
	}
}
