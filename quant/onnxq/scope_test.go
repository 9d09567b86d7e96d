package onnxq

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// countOps counts op types in g and its subgraphs.
func countOps(g *onnxpb.GraphProto, into map[string]int) {
	for _, n := range g.GetNode() {
		into[n.GetOpType()]++
		for _, sg := range graph.Subgraphs(n) {
			countOps(sg, into)
		}
	}
}

func runOut(t *testing.T, mp *onnxpb.ModelProto, in map[string]*runtime.Value) []float64 {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].AsFloat64s()
}

func cosine(a, b []float64) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	return ab / math.Sqrt(aa*bb)
}

// Weights inside If branches are quantized there: a branch's own initializer and an
// outer-scope initializer the branch reads; static quantization quantizes branch
// activations dynamically (calibration sees main-graph values only).
func TestQuantizeInsideIf(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	branch := func(name, w string, inits []*onnxpb.TensorProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{Name: &name, Initializer: inits,
			Node:   []*onnxpb.NodeProto{graph.NewNode("MatMul", name+"_mm", []string{"x", w}, []string{name + "_y"})},
			Output: []*onnxpb.ValueInfoProto{graph.ValueInfo(name+"_y", graph.ElemFloat, []int64{2, 16}, nil)}}
	}
	then := branch("then", "w_then", []*onnxpb.TensorProto{graph.FloatTensor("w_then", []int64{32, 16}, randFloats(r, 32*16))})
	els := branch("else", "w_outer", nil)
	ifNode := graph.NewNode("If", "if", []string{"c"}, []string{"y"}, graph.GraphAttr("then_branch", then), graph.GraphAttr("else_branch", els))
	g := &onnxpb.GraphProto{Name: ptr("main"),
		Node:        []*onnxpb.NodeProto{ifNode},
		Initializer: []*onnxpb.TensorProto{graph.FloatTensor("w_outer", []int64{32, 16}, randFloats(r, 32*16))},
		Input: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 32}, nil),
			graph.ValueInfo("c", 9, nil, nil)},
		Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, []int64{2, 16}, nil)}}
	mp := graph.Model(g, "", 17)
	x, err := runtime.FromSlice(randFloats(r, 64), 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	calib := func(yield func(map[string]*runtime.Value) error) error {
		for _, c := range []bool{true, false} {
			cv, _ := runtime.FromSlice([]bool{c})
			if err := yield(map[string]*runtime.Value{"x": x, "c": cv}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, method := range []Method{Dynamic, Static} {
		t.Run(method.String(), func(t *testing.T) {
			opts := &Options{Method: method, OpTypes: []string{"MatMul"}, PerChannel: true}
			var feed Feed
			if method == Static {
				feed = calib
			}
			q, rep, err := Quantize(context.Background(), mp, opts, feed)
			if err != nil {
				t.Fatal(err)
			}
			quantized := 0
			for _, n := range rep.Nodes {
				if n.Action != "" {
					quantized++
				}
			}
			if quantized != 2 {
				t.Errorf("quantized %d nodes, want 2 (both branches): %+v", quantized, rep.Nodes)
			}
			ops := map[string]int{}
			countOps(q.GetGraph(), ops)
			if ops["MatMul"]+ops["MatMulInteger"] != 2 || ops["DynamicQuantizeLinear"] != 2 {
				t.Errorf("ops %v, want a DynamicQuantizeLinear in each branch", ops)
			}
			if len(q.GetGraph().GetInitializer()) != 0 {
				t.Errorf("main graph keeps %d initializers, want the outer weight moved into its branch", len(q.GetGraph().GetInitializer()))
			}
			for _, c := range []bool{true, false} {
				cv, _ := runtime.FromSlice([]bool{c})
				in := map[string]*runtime.Value{"x": x, "c": cv}
				if cos := cosine(runOut(t, q, in), runOut(t, mp, in)); cos < 0.999 {
					t.Errorf("branch %v: cosine %.5f to the float model, want >= 0.999", c, cos)
				}
			}
		})
	}
}

// LSTM weights reached through Unsqueeze from a main-graph initializer and read
// inside an If branch are stored in int8 behind a DequantizeLinear.
func TestQuantizeLSTMWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const hidden, inSize, steps = 8, 16, 3
	body := &onnxpb.GraphProto{Name: ptr("then"),
		Node: []*onnxpb.NodeProto{
			graph.NewNode("Unsqueeze", "unsq", []string{"w2d", "axes"}, []string{"w3d"}),
			graph.NewNode("LSTM", "lstm", []string{"x", "w3d", "r"}, []string{"h_all"}, graph.IntAttr("hidden_size", hidden)),
		},
		Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("h_all", graph.ElemFloat, []int64{steps, 1, 1, hidden}, nil)}}
	els := &onnxpb.GraphProto{Name: ptr("else"),
		Node:   []*onnxpb.NodeProto{graph.NewNode("LSTM", "lstm2", []string{"x", "w3d_else", "r"}, []string{"h_else"}, graph.IntAttr("hidden_size", hidden))},
		Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("h_else", graph.ElemFloat, []int64{steps, 1, 1, hidden}, nil)}}
	g := &onnxpb.GraphProto{Name: ptr("main"),
		Node: []*onnxpb.NodeProto{
			graph.NewNode("Unsqueeze", "unsq_else", []string{"w2d", "axes"}, []string{"w3d_else"}),
			graph.NewNode("If", "if", []string{"c"}, []string{"y"}, graph.GraphAttr("then_branch", body), graph.GraphAttr("else_branch", els)),
		},
		Initializer: []*onnxpb.TensorProto{
			graph.FloatTensor("w2d", []int64{4 * hidden, inSize}, randFloats(r, 4*hidden*inSize)),
			graph.FloatTensor("r", []int64{1, 4 * hidden, hidden}, randFloats(r, 4*hidden*hidden)),
			graph.Int64Tensor("axes", []int64{1}, []int64{0}),
		},
		Input: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{steps, 1, inSize}, nil),
			graph.ValueInfo("c", 9, nil, nil)},
		Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, []int64{steps, 1, 1, hidden}, nil)}}
	mp := graph.Model(g, "", 17)
	q, rep, err := Quantize(context.Background(), mp, &Options{OpTypes: []string{"LSTM"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// W and R are reported apart; the second LSTM reads the same w2d and r, which
	// belong to the first.
	if len(rep.Nodes) != 2 || rep.Nodes[0].Action == "" || rep.Nodes[0].Before != 4*4*hidden*inSize ||
		rep.Nodes[1].Name != "lstm R" || rep.Nodes[1].Before != 4*4*hidden*hidden {
		t.Errorf("report %+v, want W and R of the first LSTM, quantizing w2d and r", rep.Nodes)
	}
	ops := map[string]int{}
	countOps(q.GetGraph(), ops)
	if ops["DequantizeLinear"] != 2 || ops["LSTM"] != 2 {
		t.Errorf("ops %v, want 2 DequantizeLinear (w2d, r) and both LSTMs", ops)
	}
	for _, tp := range q.GetGraph().GetInitializer() {
		if tp.GetDataType() == graph.ElemFloat && len(tp.GetDims()) > 1 {
			t.Errorf("initializer %s %v stays float", tp.GetName(), tp.GetDims())
		}
	}
	x, _ := runtime.FromSlice(randFloats(r, steps*inSize), steps, 1, inSize)
	for _, c := range []bool{true, false} {
		cv, _ := runtime.FromSlice([]bool{c})
		in := map[string]*runtime.Value{"x": x, "c": cv}
		if cos := cosine(runOut(t, q, in), runOut(t, mp, in)); cos < 0.999 {
			t.Errorf("branch %v: cosine %.5f to the float model, want >= 0.999", c, cos)
		}
	}
}

func ptr(s string) *string { return &s }
