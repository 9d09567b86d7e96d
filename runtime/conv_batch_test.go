package runtime

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// BenchmarkMNISTCNN runs the MNIST CNN (testdata/models/mnist, batch 32) at one and
// two threads, reporting CPU microseconds per run (all threads), which stays
// meaningful on a shared machine. On the 2-core AMD EPYC (Zen 4) dev VM, loaded (load
// average 20-25, three interleaved runs of 2000), before / after ConvMaxPool and the
// cached tile masks: one thread 1184-1345 / 981-1007, two threads 1355-1527 /
// 1064-1131 (the second thread's spinning included). The fastest run at one thread,
// nodes apart: conv1 + pool 201 + 24 -> 127 us, conv2 + pool 640 + 18 -> 634 us.
func BenchmarkMNISTCNN(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d/model_b32", threads), func(b *testing.B) {
			raw, err := os.ReadFile(filepath.Join("..", "testdata", "models", "mnist", "mnist_cnn.onnx"))
			if err != nil {
				b.Fatal(err)
			}
			mp := &onnxpb.ModelProto{}
			if err := proto.Unmarshal(raw, mp); err != nil {
				b.Fatal(err)
			}
			sess, err := Load(mp, nil, &Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			benchSession(b, sess, &RandomOptions{DefaultDim: 32})
		})
	}
}

// benchSession runs sess on seeded random inputs and reports CPU microseconds per run.
func benchSession(b *testing.B, sess *Session, opts *RandomOptions) {
	in, err := RandomInputs(sess, 1, opts)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cpu0 := processCPUTime()
	for b.Loop() {
		if _, err := sess.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := processCPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-us/run")
	}
}

// convPoolCase is a Conv (+ Relu) -> MaxPool pair for TestConvMaxPoolFused.
type convPoolCase struct {
	name                  string
	c, m, h, w, k, stride int
	pad, group            int
	bias, relu            bool
	pk, ps, ppad          int
	ceil                  bool
	dims                  int // spatial dims: 2, or 1
}

func (tc convPoolCase) graph(r *rand.Rand, batch int, expose bool) *Graph {
	spatial := func(v int) []int64 {
		if tc.dims == 1 {
			return []int64{int64(v)}
		}
		return []int64{int64(v), int64(v)}
	}
	pads := func(p int) []int64 { return append(spatial(p), spatial(p)...) }
	kernel := spatial(tc.k)
	wShape := append([]int64{int64(tc.m), int64(tc.c / tc.group)}, kernel...)
	n := tc.m * tc.c / tc.group
	for _, d := range kernel {
		n *= int(d)
	}
	wt, _ := FromSlice(randSlice(r, n), wShape...)
	in := []string{"x", "w"}
	inits := map[string]*Value{"w": wt}
	if tc.bias {
		b, _ := FromSlice(randSlice(r, tc.m), int64(tc.m))
		inits["b"] = b
		in = append(in, "b")
	}
	xShape := []int64{int64(batch), int64(tc.c), int64(tc.h)}
	if tc.dims != 1 {
		xShape = append(xShape, int64(tc.w))
	}
	nodes := []*Node{node("Conv", in, []string{"z"},
		&Attr{Name: "pads", Kind: AttrInts, Ints: pads(tc.pad)},
		&Attr{Name: "strides", Kind: AttrInts, Ints: spatial(tc.stride)},
		&Attr{Name: "group", Kind: AttrInt, Int: int64(tc.group)})}
	pooled := "z"
	if tc.relu {
		nodes = append(nodes, node("Relu", []string{"z"}, []string{"r"}))
		pooled = "r"
	}
	ceil := int64(0)
	if tc.ceil {
		ceil = 1
	}
	nodes = append(nodes, node("MaxPool", []string{pooled}, []string{"y"},
		&Attr{Name: "kernel_shape", Kind: AttrInts, Ints: spatial(tc.pk)},
		&Attr{Name: "strides", Kind: AttrInts, Ints: spatial(tc.ps)},
		&Attr{Name: "pads", Kind: AttrInts, Ints: pads(tc.ppad)},
		&Attr{Name: "ceil_mode", Kind: AttrInt, Int: ceil}))
	outs := []ValueInfo{{Name: "y"}}
	if expose {
		outs = append(outs, ValueInfo{Name: pooled})
	}
	return &Graph{Inputs: []ValueInfo{input("x", tensor.F32, xShape...)}, Outputs: outs, Initializers: inits, Nodes: nodes}
}

// TestConvMaxPoolFused checks that ConvMaxPool replaces Conv (+ Relu) -> MaxPool and
// gives the bytes of the two nodes run apart (the Conv's output exposed as a graph
// output keeps them apart), over batch sizes 1 to 33 and 1 to 4 threads: the
// per-image path (2-D, ungrouped, packed weights) and the fallbacks (groups, 1-D,
// the transposed tiles of small outputs).
func TestConvMaxPoolFused(t *testing.T) {
	cases := []convPoolCase{
		{name: "mnist1", c: 1, m: 16, h: 28, w: 28, k: 3, stride: 1, pad: 1, group: 1, bias: true, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "mnist2", c: 16, m: 32, h: 14, w: 14, k: 3, stride: 1, pad: 1, group: 1, bias: true, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "odd_nobias", c: 3, m: 5, h: 13, w: 11, k: 3, stride: 1, pad: 0, group: 1, pk: 2, ps: 2, dims: 2},
		{name: "resnet_stem", c: 3, m: 8, h: 30, w: 30, k: 7, stride: 2, pad: 3, group: 1, bias: true, relu: true, pk: 3, ps: 2, ppad: 1, dims: 2},
		{name: "ceil_3x3s2", c: 4, m: 20, h: 17, w: 17, k: 3, stride: 1, pad: 1, group: 1, relu: true, pk: 3, ps: 2, ceil: true, dims: 2},
		{name: "1x1", c: 8, m: 24, h: 9, w: 9, k: 1, stride: 1, group: 1, bias: true, pk: 2, ps: 1, dims: 2},
		{name: "5x5s2", c: 2, m: 17, h: 21, w: 21, k: 5, stride: 2, pad: 2, group: 1, bias: true, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "large", c: 32, m: 64, h: 24, w: 24, k: 3, stride: 1, pad: 1, group: 1, bias: true, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "small_out_transposed", c: 16, m: 32, h: 7, w: 7, k: 3, stride: 1, pad: 1, group: 1, bias: true, relu: true, pk: 2, ps: 2, ppad: 1, dims: 2},
		{name: "grouped", c: 8, m: 8, h: 12, w: 12, k: 3, stride: 1, pad: 1, group: 2, bias: true, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "depthwise", c: 6, m: 6, h: 12, w: 12, k: 3, stride: 1, pad: 1, group: 6, relu: true, pk: 2, ps: 2, dims: 2},
		{name: "1d", c: 4, m: 8, h: 40, k: 3, stride: 1, pad: 1, group: 1, bias: true, relu: true, pk: 2, ps: 2, dims: 1},
	}
	batches := []int{1, 2, 3, 4, 5, 8, 17, 33}
	if testing.Short() {
		batches = []int{1, 3, 33}
	}
	for _, tc := range cases {
		for _, batch := range batches {
			// A session owns its graph: each gets a new one, with the same weights.
			build := func(expose bool) *Graph { return tc.graph(rand.New(rand.NewPCG(uint64(batch), 11)), batch, expose) }
			var feeds map[string]*Value
			var want []byte
			for threads := 1; threads <= 4; threads++ {
				rs, err := NewSession(build(true), map[string]int64{"": 17}, &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				s, err := NewSession(build(false), map[string]int64{"": 17}, &Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				count := 0
				for _, n := range s.Graph().Nodes {
					if n.OpType == "ConvMaxPool" {
						count++
					}
				}
				if count != 1 || len(s.Graph().Nodes) != 1 {
					t.Fatalf("%s: %d nodes, %d ConvMaxPool, want the one fused node", tc.name, len(s.Graph().Nodes), count)
				}
				if feeds == nil {
					if feeds, err = RandomInputs(s, uint64(batch), nil); err != nil {
						t.Fatal(err)
					}
				}
				wantOut, err := rs.Run(t.Context(), feeds)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Run(t.Context(), feeds)
				if err != nil {
					t.Fatal(err)
				}
				if want == nil {
					want = slices.Clone(wantOut["y"].Bytes())
				}
				if !slices.Equal(wantOut["y"].Shape, got["y"].Shape) {
					t.Fatalf("%s batch %d threads %d: shape %v, want %v", tc.name, batch, threads, got["y"].Shape, wantOut["y"].Shape)
				}
				if !bytes.Equal(wantOut["y"].Bytes(), want) {
					t.Errorf("%s batch %d: unfused output at %d threads differs from 1 thread", tc.name, batch, threads)
				}
				if !bytes.Equal(got["y"].Bytes(), want) {
					t.Errorf("%s batch %d threads %d: fused output differs from Conv -> MaxPool", tc.name, batch, threads)
				}
			}
		}
	}
}

// TestConvMaxPoolDeclared runs ConvMaxPool nodes a model names itself: bad attributes
// are errors, not panics, and an empty batch gives an empty output.
func TestConvMaxPoolDeclared(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	wt, _ := FromSlice(randSlice(r, 4*2*9), 4, 2, 3, 3)
	build := func(batch int64, attrs ...*Attr) *Graph {
		n := node("ConvMaxPool", []string{"x", "w"}, []string{"y"}, attrs...)
		n.Domain = fusedDomain
		return &Graph{Inputs: []ValueInfo{input("x", tensor.F32, batch, 2, 8, 8)}, Outputs: []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"w": wt}, Nodes: []*Node{n}}
	}
	opsets := map[string]int64{"": 17, fusedDomain: 1}
	pool := &Attr{Name: poolAttrPrefix + "kernel_shape", Kind: AttrInts, Ints: []int64{2, 2}}
	for _, tc := range []struct {
		name  string
		batch int64
		attrs []*Attr
		err   bool
	}{
		{"no pool kernel", 2, nil, true},
		{"pool kernel too large", 2, []*Attr{{Name: poolAttrPrefix + "kernel_shape", Kind: AttrInts, Ints: []int64{9, 9}}}, true},
		{"bad group", 2, []*Attr{pool, {Name: "group", Kind: AttrInt, Int: 3}}, true},
		{"empty batch", 0, []*Attr{pool}, false},
		{"ok", 3, []*Attr{pool}, false},
	} {
		s, err := NewSession(build(tc.batch, tc.attrs...), opsets, &Options{Threads: 2})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		in, err := RandomInputs(s, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(t.Context(), in)
		if (err != nil) != tc.err {
			t.Fatalf("%s: error %v, want error %v", tc.name, err, tc.err)
		}
		if err == nil && !slices.Equal(out["y"].Shape, []int64{tc.batch, 4, 5, 5}) {
			t.Fatalf("%s: shape %v", tc.name, out["y"].Shape)
		}
	}
}
