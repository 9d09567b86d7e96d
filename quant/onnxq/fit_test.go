package onnxq

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

// wideRangeModel is x [1, 256] -> MatMul "mm1" [256, 32] -> MatMul "mm2" [32, 8] -> y,
// with an input whose one huge element (a spectral peak) makes 8-bit codes of x
// zero out every other element, on which alone the output depends; mm2's input has an
// ordinary range.
func wideRangeModel(r *rand.Rand) (*onnxpb.ModelProto, map[string]*runtime.Value) {
	w1 := randFloats(r, 256*32)
	for j := range 32 {
		w1[j] = 0 // the peak (row 0) does not reach the output
	}
	g := &onnxpb.GraphProto{Name: ptr("main"),
		Node: []*onnxpb.NodeProto{
			graph.NewNode("MatMul", "mm1", []string{"x", "w1"}, []string{"h"}),
			graph.NewNode("MatMul", "mm2", []string{"h", "w2"}, []string{"y"}),
		},
		Initializer: []*onnxpb.TensorProto{
			graph.FloatTensor("w1", []int64{256, 32}, w1),
			graph.FloatTensor("w2", []int64{32, 8}, randFloats(r, 32*8)),
		},
		Input:  []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{1, 256}, nil)},
		Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, []int64{1, 8}, nil)}}
	x := make([]float32, 256)
	for i := range x {
		x[i] = float32(math.Abs(r.NormFloat64()))
	}
	x[0] = 1e5
	xv, _ := runtime.FromSlice(x, 1, 256)
	return graph.Model(g, "", 17), map[string]*runtime.Value{"x": xv}
}

func TestFitKeepsWideRangeActivationsFloat(t *testing.T) {
	ctx := context.Background()
	mp, in := wideRangeModel(rand.New(rand.NewPCG(5, 6)))
	want := runOut(t, mp, in)
	evals := 0
	eval := func(_ context.Context, qm *onnxpb.ModelProto) (*compare.OutputsReport, error) {
		evals++
		return &compare.OutputsReport{MinCos: cosine(runOut(t, qm, in), want)}, nil
	}
	q, err := NewQuantizer(ctx, mp, &Options{PerChannel: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, _, err := q.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := cosine(runOut(t, full, in), want); c > 0.99 {
		t.Fatalf("fully quantized cosine %.4f: the input's range should defeat 8-bit activations", c)
	}
	fit, err := q.Fit(ctx, eval, 0.999, func() ([]LayerSensitivity, error) { return q.Sensitivity(ctx, eval) }, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !fit.Met || fit.Cosine < 0.999 {
		t.Fatalf("fit not met: %+v", fit)
	}
	if fit.Mode("mm1") != WeightsOnly || fit.Mode("mm2") != Quantized {
		t.Errorf("modes mm1 %v, mm2 %v; want int8 weights with float activations for mm1 only (steps %+v)", fit.Mode("mm1"), fit.Mode("mm2"), fit.Steps)
	}
	if fit.Reason("mm1") == "" || fit.Reason("mm2") != "" {
		t.Errorf("reasons %q", fit.Reasons)
	}
	qm, rep, err := q.ApplyModes(ctx, fit.Mode, fit.Reason)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	countOps(qm.GetGraph(), ops)
	if ops["MatMulInteger"] != 1 || ops["DequantizeLinear"] != 1 || ops["MatMul"] != 1 {
		t.Errorf("ops %v: want mm2 as MatMulInteger, mm1 as MatMul on a dequantized weight", ops)
	}
	for _, n := range rep.Nodes {
		if n.Name == "mm1" && (n.Fallback == "" || n.After*3 > n.Before) {
			t.Errorf("mm1 report %+v: want a fallback reason and int8 storage", n)
		}
	}
}

func TestWeights16(t *testing.T) {
	ctx := context.Background()
	mp, in := wideRangeModel(rand.New(rand.NewPCG(7, 8)))
	want := runOut(t, mp, in)
	q, err := NewQuantizer(ctx, mp, &Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	qm, rep, err := q.ApplyModes(ctx, func(string) Mode { return Weights16 }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := graph.Opset(qm, ""); v < 21 {
		t.Errorf("opset %d: int16 DequantizeLinear needs 21", v)
	}
	got := runOut(t, qm, in)
	scale := 0.0
	for _, w := range want {
		scale = max(scale, math.Abs(w))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); d > 1e-4*scale {
			t.Errorf("y[%d] = %g, float %g", i, got[i], want[i])
		}
	}
	for _, n := range rep.Nodes {
		if n.After*2 > n.Before+int64(5*64) || n.Error > 1e-4 {
			t.Errorf("%s: %d -> %d bytes, error %g: want int16 storage", n.Name, n.Before, n.After, n.Error)
		}
	}
}

func TestInputSpans(t *testing.T) {
	ctx := context.Background()
	mp, in := wideRangeModel(rand.New(rand.NewPCG(9, 10)))
	q, err := NewQuantizer(ctx, mp, &Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := Batches(in, 1)
	if err != nil {
		t.Fatal(err)
	}
	spans, err := q.InputSpans(ctx, feed, []string{"mm1", "mm2"})
	if err != nil {
		t.Fatal(err)
	}
	// x: one 1e5 among values of about 0.7: ~100 dB, and 8-bit codes (step 1e5/255)
	// zero every other value.
	if s := spans["mm1"]; s.SpanDB < 90 || s.Zeroed < 0.99 {
		t.Errorf("mm1 span %+v, want ~100 dB with nearly all values zeroed", s)
	}
	if s := spans["mm2"]; s.SpanDB > 40 || s.Zeroed > 0.1 {
		t.Errorf("mm2 span %+v: an ordinary activation", s)
	}
	f := &Fit{Target: 0.99, Reasons: map[string]string{"mm1": "r1", "mm2": "r2"}}
	f.NoteSpans(spans)
	if !strings.Contains(f.Reasons["mm1"], "dB") || f.Reasons["mm2"] != "r2" {
		t.Errorf("reasons %q: want the span noted on mm1 only", f.Reasons)
	}
}
