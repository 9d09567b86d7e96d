package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// checkFusion runs the graph build(false) makes, where fuseFloat should put one or
// more fusedDomain nodes of type op in place of a pattern, and build(true), which
// exposes an intermediate value of the pattern as a graph output so that it stays
// unfused, and compares output y of both (tol: the largest difference allowed
// relative to the largest magnitude of the reference).
func checkFusion(t *testing.T, build func(expose bool) *Graph, feeds map[string]*Value, op string, want int, tol float64) {
	t.Helper()
	count := func(s *Session) int {
		n := 0
		for _, nd := range s.Graph().Nodes {
			if nd.Domain == fusedDomain && nd.OpType == op {
				n++
			}
		}
		return n
	}
	for _, threads := range []int{1, 2} {
		ref, err := NewSession(build(true), map[string]int64{"": 17}, &Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(ref); n != 0 {
			t.Fatalf("%s: fused %d times although an intermediate value is a graph output", op, n)
		}
		s, err := NewSession(build(false), map[string]int64{"": 17}, &Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if n := count(s); n != want {
			t.Fatalf("%s: fused %d times, want %d", op, n, want)
		}
		wantOut, err := ref.Run(t.Context(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Run(t.Context(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		g, w := got["y"], wantOut["y"]
		if !slices.Equal(g.Shape, w.Shape) {
			t.Fatalf("%s: shape %v, want %v", op, g.Shape, w.Shape)
		}
		gs, ws := g.Data.([]float32), w.Data.([]float32)
		var scale float64
		for _, v := range ws {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range ws {
			if d := math.Abs(float64(gs[i] - ws[i])); d > tol*scale || gs[i] != gs[i] {
				t.Fatalf("%s, %d threads: y[%d] = %v, want %v (unfused)", op, threads, i, gs[i], ws[i])
			}
		}
	}
}

func randFloats(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// TestFuseMatMulBias: MatMul -> Add(bias) [-> Relu] fused into MatMulBias gives the
// unfused result, for bias on either side of the Add, with and without Relu, for a
// product with more rows than one block and a K longer than one block.
func TestFuseMatMulBias(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		m, k, n   int64
		biasFirst bool
		relu      bool
	}{
		{1, 5, 3, false, false},
		{2*64 + 3, 300, 40, true, true},
		{128, 256, 768, true, false},
		{7, 1024, 17, false, true},
	} {
		w := mustValue(t, randFloats(r, int(tc.k*tc.n)), tc.k, tc.n)
		b := mustValue(t, randFloats(r, int(tc.n)), tc.n)
		x := mustValue(t, randFloats(r, int(2*tc.m*tc.k)), 2, tc.m, tc.k)
		build := func(expose bool) *Graph {
			addIn := []string{"p", "b"}
			if tc.biasFirst {
				addIn = []string{"b", "p"}
			}
			last := "y"
			if tc.relu {
				last = "s"
			}
			g := &Graph{
				Inputs:       []ValueInfo{input("x", tensor.F32, 2, tc.m, tc.k)},
				Outputs:      []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"w": w, "b": b},
				Nodes: []*Node{
					node("MatMul", []string{"x", "w"}, []string{"p"}),
					node("Add", addIn, []string{last}),
				},
			}
			if tc.relu {
				g.Nodes = append(g.Nodes, node("Relu", []string{"s"}, []string{"y"}))
			}
			if expose {
				g.Outputs = append(g.Outputs, ValueInfo{Name: "p"})
			}
			return g
		}
		checkFusion(t, build, map[string]*Value{"x": x}, "MatMulBias", 1, 1e-5)
	}
}

// TestFuseAttention: the exported MultiheadAttention core (transposes, scale, two
// MatMuls, Softmax) fused into Attention gives the unfused result, with Div and Mul
// scaling and head sizes around the kernel's tile.
func TestFuseAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		l, h, d int64
		op      string
	}{
		{1, 1, 1, "Div"},
		{128, 8, 32, "Div"},
		{37, 3, 20, "Mul"},
	} {
		feeds := map[string]*Value{}
		for _, name := range []string{"q", "k", "v"} {
			feeds[name] = mustValue(t, randFloats(r, int(tc.l*tc.h*tc.d)), tc.l, tc.h, tc.d)
		}
		perm := func(p ...int64) *Attr { return &Attr{Name: "perm", Kind: AttrInts, Ints: p} }
		build := func(expose bool) *Graph {
			g := &Graph{
				Inputs: []ValueInfo{input("q", tensor.F32, tc.l, tc.h, tc.d), input("k", tensor.F32, tc.l, tc.h, tc.d),
					input("v", tensor.F32, tc.l, tc.h, tc.d)},
				Outputs:      []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"s": Scalar[float32](float32(math.Sqrt(float64(tc.d))))},
				Nodes: []*Node{
					node("Transpose", []string{"q"}, []string{"qt"}, perm(1, 0, 2)),
					node(tc.op, []string{"qt", "s"}, []string{"qs"}),
					node("Transpose", []string{"k"}, []string{"kt"}, perm(1, 2, 0)),
					node("MatMul", []string{"qs", "kt"}, []string{"scores"}),
					node("Softmax", []string{"scores"}, []string{"p"}, &Attr{Name: "axis", Kind: AttrInt, Int: -1}),
					node("Transpose", []string{"v"}, []string{"vt"}, perm(1, 0, 2)),
					node("MatMul", []string{"p", "vt"}, []string{"o"}),
					node("Transpose", []string{"o"}, []string{"y"}, perm(1, 0, 2)),
				},
			}
			if expose {
				g.Outputs = append(g.Outputs, ValueInfo{Name: "scores"})
			}
			return g
		}
		checkFusion(t, build, feeds, "Attention", 1, 1e-6)
	}
}

// TestGemmBiasRelu: Gemm with a bias row takes it, and a Relu that follows, into the
// product's epilogue; the result equals Gemm and Relu run apart.
func TestGemmBiasRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const m, k, n = 33, 260, 21
	w := mustValue(t, randFloats(r, n*k), n, k)
	b := mustValue(t, randFloats(r, n), 1, n)
	x := mustValue(t, randFloats(r, m*k), m, k)
	build := func(expose bool) *Graph {
		g := &Graph{
			Inputs:       []ValueInfo{input("x", tensor.F32, m, k)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"w": w, "b": b},
			Nodes: []*Node{
				node("Gemm", []string{"x", "w", "b"}, []string{"p"}, &Attr{Name: "transB", Kind: AttrInt, Int: 1}),
				node("Relu", []string{"p"}, []string{"y"}),
			},
		}
		if expose {
			g.Outputs = append(g.Outputs, ValueInfo{Name: "p"})
		}
		return g
	}
	var outs [2][]float32
	for i, expose := range []bool{true, false} {
		s, err := NewSession(build(expose), map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 2, false: 1}[expose]; len(s.Graph().Nodes) != want {
			t.Fatalf("expose %v: %d nodes, want %d", expose, len(s.Graph().Nodes), want)
		}
		got, err := s.Run(t.Context(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = got["y"].Data.([]float32)
	}
	for i := range outs[0] {
		if outs[0][i] != outs[1][i] || outs[1][i] < 0 {
			t.Fatalf("y[%d] = %v fused, %v unfused", i, outs[1][i], outs[0][i])
		}
	}
}

// TestFuseAddLayerNorm: Add -> LayerNormalization fused into AddLayerNormalization
// gives the unfused result bit for bit, with and without bias, over the last axis
// and over the last two.
func TestFuseAddLayerNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		shape []int64
		axis  int64
		bias  bool
	}{
		{[]int64{1, 128, 256}, -1, true},
		{[]int64{3, 5, 7}, -1, false},
		{[]int64{2, 3, 20}, 1, true},
	} {
		n := 1
		for _, d := range tc.shape {
			n *= int(d)
		}
		axis := tc.axis
		if axis < 0 {
			axis += int64(len(tc.shape))
		}
		norm := 1
		for _, d := range tc.shape[axis:] {
			norm *= int(d)
		}
		inits := map[string]*Value{
			"scale": mustValue(t, randFloats(r, norm), tc.shape[axis:]...),
			"bias":  mustValue(t, randFloats(r, norm), tc.shape[axis:]...),
		}
		feeds := map[string]*Value{"x": mustValue(t, randFloats(r, n), tc.shape...), "res": mustValue(t, randFloats(r, n), tc.shape...)}
		build := func(expose bool) *Graph {
			lnIn := []string{"sum", "scale"}
			if tc.bias {
				lnIn = append(lnIn, "bias")
			}
			g := &Graph{
				Inputs:       []ValueInfo{input("x", tensor.F32, tc.shape...), input("res", tensor.F32, tc.shape...)},
				Outputs:      []ValueInfo{{Name: "y"}},
				Initializers: inits,
				Nodes: []*Node{
					node("Add", []string{"res", "x"}, []string{"sum"}),
					node("LayerNormalization", lnIn, []string{"y"}, &Attr{Name: "axis", Kind: AttrInt, Int: tc.axis}),
				},
			}
			if expose {
				g.Outputs = append(g.Outputs, ValueInfo{Name: "sum"})
			}
			return g
		}
		checkFusion(t, build, feeds, "AddLayerNormalization", 1, 0)
	}
}

// TestTransposeUnitAxes: a Transpose that moves only axes of size 1 (a view of its
// input) and one that reorders longer axes give the permuted values.
func TestTransposeUnitAxes(t *testing.T) {
	x := mustValue(t, []float32{1, 2, 3, 4, 5, 6}, 3, 1, 2)
	for _, tc := range []struct {
		perm  []int64
		shape []int64
		want  []float32
	}{
		{[]int64{1, 0, 2}, []int64{1, 3, 2}, []float32{1, 2, 3, 4, 5, 6}},
		{[]int64{0, 2, 1}, []int64{3, 2, 1}, []float32{1, 2, 3, 4, 5, 6}},
		{[]int64{2, 1, 0}, []int64{2, 1, 3}, []float32{1, 3, 5, 2, 4, 6}},
	} {
		g := &Graph{
			Inputs:  []ValueInfo{input("x", tensor.F32, 3, 1, 2)},
			Outputs: []ValueInfo{{Name: "y"}},
			Nodes:   []*Node{node("Transpose", []string{"x"}, []string{"y"}, &Attr{Name: "perm", Kind: AttrInts, Ints: tc.perm})},
		}
		s, err := NewSession(g, map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(t.Context(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		y := out["y"]
		if !slices.Equal(y.Shape, tc.shape) || !slices.Equal(y.Data.([]float32), tc.want) {
			t.Fatalf("perm %v: %v %v, want %v %v", tc.perm, y.Shape, y.Data, tc.shape, tc.want)
		}
	}
}

// BenchmarkAttention runs one layer's attention core of the transformer encoder (128
// tokens, 8 heads of 32) fused and unfused (five Transposes, Div, two MatMuls,
// Softmax; it also returns the scores, which keeps it unfused), at one thread. On the
// 2-core AMD EPYC (Zen 4) dev VM, load 30, CPU time per run: fused 0.34-0.37 ms,
// unfused 0.60-0.65 ms.
func BenchmarkAttention(b *testing.B) {
	const l, h, d = 128, 8, 32
	r := rand.New(rand.NewPCG(1, 2))
	feeds := map[string]*Value{}
	for _, name := range []string{"q", "k", "v"} {
		feeds[name] = mustValue(b, randFloats(r, l*h*d), l, h, d)
	}
	perm := func(p ...int64) *Attr { return &Attr{Name: "perm", Kind: AttrInts, Ints: p} }
	for _, fused := range []bool{true, false} {
		g := &Graph{
			Inputs:       []ValueInfo{input("q", tensor.F32, l, h, d), input("k", tensor.F32, l, h, d), input("v", tensor.F32, l, h, d)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"s": Scalar[float32](float32(math.Sqrt(d)))},
			Nodes: []*Node{
				node("Transpose", []string{"q"}, []string{"qt"}, perm(1, 0, 2)),
				node("Div", []string{"qt", "s"}, []string{"qs"}),
				node("Transpose", []string{"k"}, []string{"kt"}, perm(1, 2, 0)),
				node("MatMul", []string{"qs", "kt"}, []string{"scores"}),
				node("Softmax", []string{"scores"}, []string{"p"}, &Attr{Name: "axis", Kind: AttrInt, Int: -1}),
				node("Transpose", []string{"v"}, []string{"vt"}, perm(1, 0, 2)),
				node("MatMul", []string{"p", "vt"}, []string{"o"}),
				node("Transpose", []string{"o"}, []string{"y"}, perm(1, 0, 2)),
			},
		}
		if !fused {
			g.Outputs = append(g.Outputs, ValueInfo{Name: "scores"}) // keeps it unfused
		}
		s, err := NewSession(g, map[string]int64{"": 17}, &Options{Threads: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[bool]string{true: "fused", false: "unfused"}[fused], func(b *testing.B) {
			cpu0 := processCPUTime()
			for b.Loop() {
				if _, err := s.Run(b.Context(), feeds); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((processCPUTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
