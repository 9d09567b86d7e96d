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

// TestFuseQuantChains: DequantizeLinear -> Relu/MaxPool/layout -> QuantizeLinear
// chains become one QuantPool node whose bytes equal the unfused chain's (run with
// the dequantized value exposed as a graph output, which keeps the chain apart), for
// uint8 and int8 on both sides, the vectorized 2x2 pool and the general window
// (padding, stride 1, odd widths), Relu before and after the pool, and no pool.
func TestFuseQuantChains(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	type pool struct {
		kernel, strides, pads []int64
	}
	for _, tc := range []struct {
		name           string
		x              []int64
		xType, yType   tensor.DType
		pool           *pool
		reluFirst      bool
		reluAfter      bool
		flatten        bool
		xScale, yScale float32
		fused          bool
	}{
		{"u8 relu pool2 flatten", []int64{2, 3, 8, 70}, tensor.U8, tensor.U8, &pool{[]int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}}, true, false, true, 0.05, 0.07, true},
		{"i8 pool3 pad relu-after", []int64{1, 4, 9, 7}, tensor.I8, tensor.I8, &pool{[]int64{3, 3}, []int64{1, 1}, []int64{1, 1, 1, 1}}, false, true, false, 0.02, 0.011, true},
		{"i8->u8 odd width pool2", []int64{2, 2, 7, 9}, tensor.I8, tensor.U8, &pool{[]int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}}, true, false, false, 0.1, 0.3, true},
		{"u8 relu no pool", []int64{3, 100}, tensor.U8, tensor.U8, nil, true, false, true, 0.5, 0.25, true},
		{"negative scale", []int64{1, 2, 4, 4}, tensor.U8, tensor.U8, &pool{[]int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}}, true, false, false, -0.5, 0.25, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			zp := func(dt tensor.DType) *Value {
				if dt == tensor.I8 {
					return Scalar[int8](int8(r.IntN(20) - 10))
				}
				return Scalar[uint8](uint8(100 + r.IntN(50)))
			}
			x := NewValue(tc.xType, tc.x)
			xb, _ := rawBytes(x)
			for i := range xb {
				xb[i] = byte(r.Uint32())
			}
			g := &Graph{
				Inputs:  []ValueInfo{input("x", tc.xType, tc.x...)},
				Outputs: []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"xs": Scalar(tc.xScale), "xz": zp(tc.xType),
					"ys": Scalar(tc.yScale), "yz": zp(tc.yType)},
				Nodes: []*Node{node("DequantizeLinear", []string{"x", "xs", "xz"}, []string{"d"})},
			}
			cur := "d"
			add := func(n *Node) {
				g.Nodes = append(g.Nodes, n)
				cur = n.Outputs[0]
			}
			if tc.reluFirst {
				add(node("Relu", []string{cur}, []string{"r1"}))
			}
			if tc.pool != nil {
				add(node("MaxPool", []string{cur}, []string{"p"}, ints("kernel_shape", tc.pool.kernel...),
					ints("strides", tc.pool.strides...), ints("pads", tc.pool.pads...)))
			}
			if tc.reluAfter {
				add(node("Relu", []string{cur}, []string{"r2"}))
			}
			if tc.flatten {
				add(node("Flatten", []string{cur}, []string{"f"}))
			}
			add(node("QuantizeLinear", []string{cur, "ys", "yz"}, []string{"y"}))
			// NewSession rewrites its graph: the reference gets its own copy.
			ref := *g
			ref.Nodes = nil
			for _, n := range g.Nodes {
				ref.Nodes = append(ref.Nodes, &Node{Name: n.Name, OpType: n.OpType, Domain: n.Domain,
					Inputs: slices.Clone(n.Inputs), Outputs: slices.Clone(n.Outputs), Attrs: n.Attrs})
			}
			ref.Outputs = append(slices.Clone(g.Outputs), ValueInfo{Name: "d"})
			unfused, err := NewSession(&ref, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fused, err := NewSession(g, map[string]int64{"": 17}, nil)
			if err != nil {
				t.Fatal(err)
			}
			has := slices.ContainsFunc(fused.Graph().Nodes, func(n *Node) bool { return n.OpType == "QuantPool" })
			if has != tc.fused {
				t.Fatalf("QuantPool in the graph: %v, want %v", has, tc.fused)
			}
			if slices.ContainsFunc(unfused.Graph().Nodes, func(n *Node) bool { return n.OpType == "QuantPool" }) {
				t.Fatal("the reference chain was fused too")
			}
			for _, threads := range []int{1, 2} {
				fused.threads = threads
				got, err := fused.Run(t.Context(), map[string]*Value{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				want, err := unfused.Run(t.Context(), map[string]*Value{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				gv, wv := got["y"], want["y"]
				if gv.DType != wv.DType || !slices.Equal(gv.Shape, wv.Shape) {
					t.Fatalf("y is %v, want %v", gv, wv)
				}
				gb, _ := rawBytes(gv)
				wb, _ := rawBytes(wv)
				for i := range wb {
					if gb[i] != wb[i] {
						t.Fatalf("threads %d: y[%d] = %d, want %d", threads, i, gb[i], wb[i])
					}
				}
			}
		})
	}
}

// TestQuantPoolEdges runs fused chains on empty and tiny inputs and checks that
// each either matches the unfused chain's shape or fails with an error, never a
// panic; and QuantPool on inputs of the wrong kind is an error.
func TestQuantPoolEdges(t *testing.T) {
	for _, shape := range [][]int64{{0, 3, 4, 4}, {1, 0, 4, 4}, {1, 1, 1, 1}, {2, 2, 1, 7}, {1, 1, 3, 2}} {
		g := &Graph{
			Inputs:  []ValueInfo{input("x", tensor.U8, shape...)},
			Outputs: []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"xs": Scalar[float32](0.1), "xz": Scalar[uint8](3),
				"ys": Scalar[float32](0.2), "yz": Scalar[uint8](0)},
			Nodes: []*Node{
				node("DequantizeLinear", []string{"x", "xs", "xz"}, []string{"d"}),
				node("MaxPool", []string{"d"}, []string{"p"}, ints("kernel_shape", 2, 2), ints("strides", 2, 2)),
				node("QuantizeLinear", []string{"p", "ys", "yz"}, []string{"y"}),
			},
		}
		s, err := NewSession(g, map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(t.Context(), map[string]*Value{"x": NewValue(tensor.U8, shape)})
		if err == nil && out["y"].DType != tensor.U8 {
			t.Errorf("%v: y = %v", shape, out["y"])
		}
	}
	// A QuantPool node with float input or a missing zero point is refused.
	g := &Graph{
		Inputs:       []ValueInfo{input("x", tensor.F32, 1, 1, 2, 2)},
		Outputs:      []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{"s": Scalar[float32](0.1), "z": Scalar[uint8](3)},
		Nodes:        []*Node{{Name: "q", OpType: "QuantPool", Domain: emulateDomain, Inputs: []string{"x", "s", "z", "s", ""}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}},
	}
	s, err := NewSession(g, map[string]int64{"": 17, emulateDomain: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(t.Context(), map[string]*Value{"x": NewValue(tensor.F32, []int64{1, 1, 2, 2})}); err == nil {
		t.Error("QuantPool of a float input ran")
	}
}
