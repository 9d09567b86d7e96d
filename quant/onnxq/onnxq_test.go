package onnxq

import (
	"context"
	"errors"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/runtime"
)

func TestAffine(t *testing.T) {
	tests := []struct {
		lo, hi    float64
		r         qrange
		sym       bool
		scale     float32
		zp        int32
		roundTrip []float32 // values that must survive exactly
	}{
		{0, 2.55, int8Range(false, false), false, 0.01, 0, []float32{0}},
		{-1, 1, int8Range(false, false), false, 2.0 / 255, 127, []float32{0}}, // 127.4999 in float32
		{-1, 1, int8Range(true, false), true, 1.0 / 127, 0, []float32{0, 1, -1}},
		{1, 3, int8Range(false, false), false, 3.0 / 255, 0, []float32{0}}, // widened to hold 0
		{0, 0, int8Range(true, false), false, 1, -128, nil},                // empty range
		{-0.5, 0.25, int8Range(true, true), true, 0.5 / 63, 0, []float32{0}},
	}
	for _, tt := range tests {
		s, z := affine(tt.lo, tt.hi, tt.r, tt.sym)
		if math.Abs(float64(s-tt.scale)) > 1e-6 || z != tt.zp {
			t.Errorf("affine(%g, %g, %v, %v) = %g, %d; want %g, %d", tt.lo, tt.hi, tt.r, tt.sym, s, z, tt.scale, tt.zp)
		}
		for _, v := range tt.roundTrip {
			q := quantize(v, s, z, tt.r)
			if got := float32(q-z) * s; math.Abs(float64(got-v)) > 1e-6 {
				t.Errorf("affine(%g, %g): %g -> %d -> %g", tt.lo, tt.hi, v, q, got)
			}
		}
	}
}

func randMatrix(r *rand.Rand, n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = r.NormFloat64()
	}
	return w
}

// TestMatMulNBitsLayout checks that packed codes run in Refit's MatMulNBits kernel
// give x * dequant(W)^T.
func TestMatMulNBitsLayout(t *testing.T) {
	for _, tc := range []struct{ n, k, g, bits int }{{5, 64, 32, 4}, {3, 48, 16, 4}, {4, 100, 32, 4}, {6, 64, 64, 8}} {
		r := rand.New(rand.NewPCG(1, uint64(tc.k)))
		w := randMatrix(r, tc.n*tc.k)
		b := rtn(0, w, tc.n, tc.k, tc.g, tc.bits, false)
		deq := b.dequant()
		if e := relErr(deq, w); e > 0.2 || e == 0 {
			t.Errorf("%+v: relative error %g", tc, e)
		}
		bq, zp := b.packNBits()
		var gb graph.Builder
		nb := b.blocks()
		bName := gb.Raw("B", graph.ElemUint8, []int64{int64(tc.n), int64(nb), int64(tc.g * tc.bits / 8)}, bq)
		sName := gb.Float("scales", []int64{int64(tc.n * nb)}, b.scales)
		zName := gb.Raw("zp", graph.ElemUint8, []int64{int64(len(zp))}, zp)
		mm := gb.Node("MatMulNBits", "mm", []string{"x", bName, sName, zName}, []string{"y"},
			graph.IntAttr("K", int64(tc.k)), graph.IntAttr("N", int64(tc.n)), graph.IntAttr("bits", int64(tc.bits)), graph.IntAttr("block_size", int64(tc.g)))
		graph.SetDomain(mm, "com.microsoft")
		gb.Input(&onnxpb.ValueInfoProto{Name: proto.String("x")})
		gb.Output(&onnxpb.ValueInfoProto{Name: proto.String("y")})
		mp := graph.Model(gb.Graph("g"), "", 13)
		graph.EnsureOpset(mp, "com.microsoft", 1)
		s, err := runtime.Load(mp, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 2*tc.k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xv, _ := runtime.FromSlice(x, 2, int64(tc.k))
		out, err := s.Run(context.Background(), map[string]*runtime.Value{"x": xv})
		if err != nil {
			t.Fatal(err)
		}
		y := out["y"].Float32s()
		for m := range 2 {
			for n := range tc.n {
				want := 0.0
				for k := range tc.k {
					want += float64(x[m*tc.k+k]) * deq[n*tc.k+k]
				}
				if got := float64(y[m*tc.n+n]); math.Abs(got-want) > 1e-3*(1+math.Abs(want)) {
					t.Errorf("%+v: y[%d,%d] = %g, want %g", tc, m, n, got, want)
				}
			}
		}
	}
}

func TestHinvUpper(t *testing.T) {
	const k = 40
	r := rand.New(rand.NewPCG(2, 2))
	x := randMatrix(r, 100*k)
	h := make([]float64, k*k)
	for row := range 100 {
		for i := range k {
			for j := range k {
				h[i*k+j] += x[row*k+i] * x[row*k+j]
			}
		}
	}
	u, err := hinvUpper(0, h, k)
	if err != nil {
		t.Fatal(err)
	}
	// (U^T U) H = I.
	for i := range k {
		for j := range k {
			s := 0.0
			for m := range k {
				hinv := 0.0
				for l := range k {
					hinv += u[l*k+i] * u[l*k+m]
				}
				s += hinv * h[m*k+j]
			}
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(s-want) > 1e-8 {
				t.Fatalf("(U^T U H)[%d,%d] = %g, want %g", i, j, s, want)
			}
		}
		for j := 0; j < i; j++ {
			if u[i*k+j] != 0 {
				t.Fatalf("U[%d,%d] = %g below the diagonal", i, j, u[i*k+j])
			}
		}
	}
	if _, err := hinvUpper(0, make([]float64, 4), 2); !errors.Is(err, errNotPD) {
		t.Errorf("hinvUpper(zero) error = %v, want errNotPD", err)
	}
}

// correlated returns a Gram matrix of correlated inputs with a few large channels,
// the setting where GPTQ and AWQ help.
func correlated(r *rand.Rand, rows, k int) *gramStats {
	g := &gramStats{k: k, gram: make([]float64, k*k), meanAbs: make([]float64, k)}
	x := make([]float32, rows*k)
	for row := range rows {
		base := r.NormFloat64()
		for i := range k {
			v := 0.7*base + 0.5*r.NormFloat64()
			if i%16 == 0 {
				v *= 8 // outlier channels
			}
			x[row*k+i] = float32(v)
		}
	}
	g.add(0, x)
	g.finish()
	return g
}

func TestGPTQAndAWQBeatRTN(t *testing.T) {
	const n, k = 24, 128
	r := rand.New(rand.NewPCG(3, 3))
	st := correlated(r, 512, k)
	w := randMatrix(r, n*k)
	for _, act := range []bool{false, true} {
		o, _ := (&Options{Method: WeightOnly, GroupSize: 32, Algo: GPTQ, ActOrder: act}).withDefaults()
		base := outputErr(0, rtn(0, w, n, k, 32, 4, false).dequant(), w, n, k, st.gram)
		b, err := gptq(w, n, k, st.gram, st.rows, &o)
		if err != nil {
			t.Fatal(err)
		}
		got := outputErr(0, b.dequant(), w, n, k, st.gram)
		t.Logf("actOrder=%v: output error RTN %.4g, GPTQ %.4g", act, base, got)
		if got >= base {
			t.Errorf("actOrder=%v: GPTQ output error %g >= RTN %g", act, got, base)
		}
	}
	o, _ := (&Options{Method: WeightOnly, GroupSize: 32, Algo: AWQ}).withDefaults()
	b, s, alpha := awq(w, n, k, st, &o)
	eff := b.dequant()
	for row := range n {
		for i := range k {
			eff[row*k+i] /= s[i]
		}
	}
	base := outputErr(0, rtn(0, w, n, k, 32, 4, false).dequant(), w, n, k, st.gram)
	got := outputErr(0, eff, w, n, k, st.gram)
	t.Logf("AWQ alpha %.2f: output error %.4g (RTN %.4g)", alpha, got, base)
	if got > base {
		t.Errorf("AWQ output error %g > RTN %g", got, base)
	}
}

func TestThresholds(t *testing.T) {
	// |x| uniform on [0, 1) in 200 of 2000 bins, plus one outlier at 10.
	hist := make([]float64, 2000)
	for i := range 200 {
		hist[i] = 100
	}
	hist[1999] = 1
	const absMax = 10.0
	if got := percentileThreshold(hist, absMax, 99.9); got < 0.98 || got > 1.01 {
		t.Errorf("percentile 99.9 = %g, want ~1", got)
	}
	if got := percentileThreshold(hist, absMax, 100); got != absMax {
		t.Errorf("percentile 100 = %g, want %g", got, absMax)
	}
	// One outlier costs more squared error clipped than its range costs in steps.
	if got := mseThreshold(hist, absMax, 255); got < 9 {
		t.Errorf("mse threshold = %g; clipping the outlier costs 81 per count", got)
	}
	// A long-tailed (Laplacian) |x|: both clip the sparse tail, neither clips the body.
	for i := range hist {
		hist[i] = math.Floor(1e6 * math.Exp(-float64(i)/40))
	}
	for name, got := range map[string]float64{
		"entropy": entropyThreshold(hist, absMax, 128),
		"mse":     mseThreshold(hist, absMax, 255),
	} {
		if got > absMax/2 || got < 0.4 {
			t.Errorf("%s threshold = %g for a Laplacian of scale 0.2 in [0, %g]", name, got, absMax)
		}
	}
}

func loadMNIST(t *testing.T) (*onnxpb.ModelProto, map[string]*runtime.Value, []int64) {
	t.Helper()
	dir := filepath.Join("..", "..", "testdata", "models", "mnist")
	mp, err := onnx.Load(refit.DirFS(dir), "mnist_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	m, err := refit.Open(filepath.Join(dir, "test.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, err := runtime.FromTensor(m.Tensor("input"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Tensor("label").Float32s()
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int64, len(f))
	for i, v := range f {
		labels[i] = int64(v)
	}
	return mp, map[string]*runtime.Value{"input": x}, labels
}

func accuracyOf(t *testing.T, mp *onnxpb.ModelProto, in map[string]*runtime.Value, labels []int64) float64 {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	y := out["logits"].Float32s()
	correct := 0
	for i, l := range labels {
		row := y[i*10 : (i+1)*10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(l) {
			correct++
		}
	}
	return float64(correct) / float64(len(labels))
}

// TestQuantizeMNIST quantizes the committed CNN every way on half of test.npz and
// checks accuracy on the other half against the float model.
func TestQuantizeMNIST(t *testing.T) {
	mp, data, labels := loadMNIST(t)
	calib, eval, err := Split(data, 128)
	if err != nil {
		t.Fatal(err)
	}
	evalLabels := labels[128:]
	floatAcc := accuracyOf(t, mp, eval, evalLabels)
	feed, err := Batches(calib, 32)
	if err != nil {
		t.Fatal(err)
	}
	before := proto.Clone(mp)
	tests := []struct {
		name    string
		opts    Options
		maxDrop float64
		ops     []string // op types that must appear
	}{
		{"dynamic", Options{}, 0.01, []string{"DynamicQuantizeLinear", "MatMulInteger"}},
		{"dynamic-conv", Options{OpTypes: []string{"Conv", "Gemm"}}, 0.01, []string{"ConvInteger", "MatMulInteger"}},
		// Per-channel Conv weights need the QDQ form (ConvInteger has one zero point).
		{"dynamic-conv-per-channel", Options{OpTypes: []string{"Conv", "Gemm"}, PerChannel: true}, 0.01, []string{"DynamicQuantizeLinear", "DequantizeLinear", "Conv", "MatMulInteger"}},
		{"dynamic-qdq", Options{Format: FormatQDQ}, 0.01, []string{"DequantizeLinear", "Gemm"}},
		{"static", Options{Method: Static, PerChannel: true}, 0.01, []string{"QuantizeLinear", "Conv"}},
		{"static-qoperator", Options{Method: Static, Format: FormatQOperator}, 0.01, []string{"QLinearConv", "QLinearMatMul"}},
		{"static-mse", Options{Method: Static, Calibration: MSE}, 0.01, []string{"QuantizeLinear"}},
		{"rtn", Options{Method: WeightOnly, GroupSize: 32}, 0.02, []string{"MatMulNBits"}},
		{"gptq", Options{Method: WeightOnly, GroupSize: 32, Algo: GPTQ}, 0.02, []string{"MatMulNBits"}},
		{"awq", Options{Method: WeightOnly, GroupSize: 32, Algo: AWQ}, 0.02, []string{"MatMulNBits"}},
		{"blocked-dq", Options{Method: WeightOnly, Format: FormatQDQ, Bits: 8, GroupSize: 64}, 0.01, []string{"DequantizeLinear", "MatMul"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.opts.Algo != RTN {
				t.Skip("GPTQ/AWQ on a 1568-wide layer take seconds; skipped in -short")
			}
			q, rep, err := Quantize(context.Background(), mp, &tt.opts, feed)
			if err != nil {
				t.Fatal(err)
			}
			var ops []string
			for _, n := range q.GetGraph().GetNode() {
				ops = append(ops, n.GetOpType())
			}
			for _, op := range tt.ops {
				if !slices.Contains(ops, op) {
					t.Errorf("no %s node in %v", op, ops)
				}
			}
			if rep.SizeAfter >= rep.SizeBefore {
				t.Errorf("size %d -> %d did not shrink", rep.SizeBefore, rep.SizeAfter)
			}
			acc := accuracyOf(t, q, eval, evalLabels)
			t.Logf("accuracy %.4f (float %.4f), size %d -> %d", acc, floatAcc, rep.SizeBefore, rep.SizeAfter)
			if floatAcc-acc > tt.maxDrop {
				t.Errorf("accuracy %.4f, float %.4f: drop above %g", acc, floatAcc, tt.maxDrop)
			}
		})
	}
	if !proto.Equal(before, mp) {
		t.Error("Quantize modified its input model")
	}
}

func TestQuantizerSelection(t *testing.T) {
	mp, _, _ := loadMNIST(t)
	q, err := NewQuantizer(context.Background(), mp, &Options{Exclude: []string{"/fc2/.*"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.Targets(); !slices.Equal(got, []string{"/fc1/Gemm"}) {
		t.Errorf("Targets() = %v, want [/fc1/Gemm]", got)
	}
	_, rep, err := q.Apply(context.Background(), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rep.Nodes {
		if n.Action != "" {
			t.Errorf("Apply(none) quantized %s", n.Name)
		}
		if n.Name == "/fc2/Gemm" && n.Skip != "excluded" {
			t.Errorf("/fc2/Gemm skip = %q, want excluded", n.Skip)
		}
	}
}

func TestBadOptions(t *testing.T) {
	mp, _, _ := loadMNIST(t)
	ctx := context.Background()
	if _, _, err := Quantize(ctx, mp, &Options{Method: Static}, nil); !errors.Is(err, ErrNeedCalibration) {
		t.Errorf("static without data: error %v, want ErrNeedCalibration", err)
	}
	for _, o := range []Options{
		{Method: WeightOnly, Bits: 3},
		{Method: WeightOnly, GroupSize: 24},
		{Method: WeightOnly, OpTypes: []string{"Conv"}},
		{OpTypes: []string{"Add"}},
		{Percentile: 20},
		{Exclude: []string{"("}},
	} {
		if _, _, err := Quantize(ctx, mp, &o, nil); err == nil {
			t.Errorf("Quantize(%+v) succeeded, want an error", o)
		}
	}
	if _, _, err := Quantize(ctx, &onnxpb.ModelProto{}, nil, nil); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("no graph: error %v, want ErrFormat", err)
	}
	if _, err := Batches(nil, 0); err == nil {
		t.Error("Batches(n=0) succeeded")
	}
}

// FuzzBlockRoundTrip checks that block quantization of arbitrary finite weights
// stays within half a step of each value (inside the block's range) and that packing
// keeps every code.
func FuzzBlockRoundTrip(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 250, 128, 7, 9}, uint8(4), false)
	f.Add([]byte{255, 255, 0, 0}, uint8(8), true)
	f.Fuzz(func(t *testing.T, raw []byte, bitsSel uint8, sym bool) {
		bits := 4
		if bitsSel%2 == 1 {
			bits = 8
		}
		const g = 16
		k := max(1, len(raw))
		w := make([]float64, k)
		for i := range w {
			if i < len(raw) {
				w[i] = (float64(raw[i]) - 100) / 7
			}
		}
		b := rtn(0, w, 1, k, g, bits, sym)
		deq := b.dequant()
		nb := b.blocks()
		for i := range w {
			step := float64(b.scales[i/g])
			if d := math.Abs(deq[i] - w[i]); d > step/2*1.0001+1e-9 && !(sym && d <= step*1.0001) {
				t.Fatalf("w[%d] = %g -> %g (step %g)", i, w[i], deq[i], step)
			}
		}
		bq, zp := b.packNBits()
		blob := g * bits / 8
		if len(bq) != nb*blob {
			t.Fatalf("packed %d bytes, want %d", len(bq), nb*blob)
		}
		mask := byte(1<<bits - 1)
		for i := range k {
			bit := i * bits
			if got := (bq[bit/8] >> (bit % 8)) & mask; got != b.q[i] {
				t.Fatalf("code %d: packed %d, want %d", i, got, b.q[i])
			}
		}
		for blk := range nb {
			bit := blk * bits
			if got := (zp[bit/8] >> (bit % 8)) & mask; got != b.zps[blk] {
				t.Fatalf("zero point %d: packed %d, want %d", blk, got, b.zps[blk])
			}
		}
	})
}

func TestAWQFolding(t *testing.T) {
	if testing.Short() {
		t.Skip("AWQ on a 1568-wide layer takes seconds")
	}
	mp, data, _ := loadMNIST(t)
	feed, err := Batches(data, 64)
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQuantizer(context.Background(), mp, &Options{Method: WeightOnly, Algo: AWQ, GroupSize: 32}, feed)
	if err != nil {
		t.Fatal(err)
	}
	notes := func(only func(string) bool) map[string]string {
		m, rep, err := q.Apply(context.Background(), only)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := runtime.Load(m, nil, nil); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, n := range rep.Nodes {
			out[n.Name] = n.Note
		}
		return out
	}
	all := notes(nil)
	if all["/fc2/Gemm"] != "AWQ scales folded into /fc1/Gemm" {
		t.Errorf("fc2 with fc1 quantized: note %q, want folded into /fc1/Gemm", all["/fc2/Gemm"])
	}
	alone := notes(func(l string) bool { return l == "/fc2/Gemm" })
	if alone["/fc2/Gemm"] != "AWQ scales in an inserted Mul" {
		t.Errorf("fc2 alone: note %q, want an inserted Mul", alone["/fc2/Gemm"])
	}
}

func TestSaturatesWithoutVNNI(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want bool
	}{
		{Options{}, true},
		{Options{Method: Static}, true},
		{Options{Method: Static, ReduceRange: true}, false},
		{Options{Method: Static, SignedActivations: true}, false},
		{Options{UnsignedWeights: true}, false},
		{Options{Method: WeightOnly}, false},
	} {
		if got := tc.o.SaturatesWithoutVNNI(); got != tc.want {
			t.Errorf("%+v.SaturatesWithoutVNNI() = %v, want %v", tc.o, got, tc.want)
		}
	}
}

// TestCheckTargets: a Quantizer with nothing to quantize says so (ErrNothingToQuantize),
// whether every candidate is skipped or the model has none of the operator types.
func TestCheckTargets(t *testing.T) {
	mp, _, _ := loadMNIST(t)
	for _, tc := range []struct {
		name    string
		opts    Options
		skipped int
	}{
		{"all excluded", Options{Exclude: []string{".*"}}, 2},
		{"no such op", Options{OpTypes: []string{"MatMul"}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := NewQuantizer(context.Background(), mp, &tc.opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.CheckTargets(); !errors.Is(err, ErrNothingToQuantize) {
				t.Errorf("CheckTargets = %v, want ErrNothingToQuantize", err)
			}
			if got := len(q.Skipped()); got != tc.skipped {
				t.Errorf("Skipped() has %d nodes, want %d", got, tc.skipped)
			}
		})
	}
	q, err := NewQuantizer(context.Background(), mp, &Options{Exclude: []string{"/fc2/.*"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.CheckTargets(); err != nil {
		t.Errorf("CheckTargets with /fc1/Gemm left = %v", err)
	}
}

// A scalar input (a sample rate) has no rows: every batch and both halves of a split
// get it whole, while the other inputs are cut by rows.
func TestBatchesShareScalars(t *testing.T) {
	x, err := runtime.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := runtime.FromSlice([]int64{16000})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Value{"x": x, "sr": sr}
	feed, err := Batches(in, 2)
	if err != nil {
		t.Fatal(err)
	}
	var rows []int64
	if err := feed(func(b map[string]*runtime.Value) error {
		if b["sr"] != sr {
			t.Errorf("batch got sr %v, want the scalar itself", b["sr"])
		}
		rows = append(rows, b["x"].Shape[0])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, []int64{2, 1}) {
		t.Errorf("batch rows %v, want [2 1]", rows)
	}
	head, tail, err := Split(in, 1)
	if err != nil {
		t.Fatal(err)
	}
	if head["sr"] != sr || tail["sr"] != sr || head["x"].Shape[0] != 1 || tail["x"].Shape[0] != 2 {
		t.Errorf("Split: head %v, tail %v", head, tail)
	}
	only, err := Batches(map[string]*runtime.Value{"sr": sr}, 4)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	if err := only(func(map[string]*runtime.Value) error { calls++; return nil }); err != nil || calls != 1 {
		t.Errorf("scalars only: %d batches (%v), want 1", calls, err)
	}
}

// A recurrent state whose first dimension is not the rows' (silero VAD's [2, 1, 128]
// beside rows of audio) goes whole to every batch and to both halves of a split.
func TestBatchesShareWholeInputs(t *testing.T) {
	audio, _ := runtime.FromSlice(make([]float32, 5*4), 5, 4)
	bias, _ := runtime.FromSlice(make([]float32, 5*3), 5, 3)
	state, _ := runtime.FromSlice(make([]float32, 2*1*8), 2, 1, 8)
	in := map[string]*runtime.Value{"audio": audio, "bias": bias, "state": state}
	// The model fixes state's first dimension to 2 and bias's to 5.
	whole := Whole(in, map[string]int64{"state": 2, "bias": 5})
	if !maps.Equal(whole, map[string]bool{"state": true}) {
		t.Fatalf("Whole = %v, want state", whole)
	}
	if rows, err := Rows(in, whole); rows != 5 || err != nil {
		t.Errorf("Rows = %d, %v; want 5", rows, err)
	}
	if _, err := Batches(in, 2); err == nil {
		t.Error("Batches without whole inputs accepted rows 5 and 2")
	}
	feed, err := BatchesOf(in, whole, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	if err := feed(func(b map[string]*runtime.Value) error {
		if b["state"] != state {
			t.Errorf("batch got state %v, want it whole", b["state"].Shape)
		}
		got = append(got, b["audio"].Shape[0], b["bias"].Shape[0])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{2, 2, 2, 2, 1, 1}) {
		t.Errorf("batch rows %v, want [2 2 2 2 1 1]", got)
	}
	head, tail, err := SplitOf(in, whole, 3)
	if err != nil {
		t.Fatal(err)
	}
	if head["state"] != state || tail["state"] != state || head["audio"].Shape[0] != 3 || tail["bias"].Shape[0] != 2 {
		t.Errorf("Split: head %v, tail %v", head, tail)
	}
}

// A channel whose weights are tiny beside its bias (a folded learned scale) gets a
// wider weight scale, so its int32 bias (scale x_scale * w_scale) does not saturate;
// other channels keep theirs.
func TestFitBias(t *testing.T) {
	w := []float32{1e-9, -2e-9, 1e-9, 0.5, -0.25, 0.125}
	dims := []int64{2, 3}
	qw := quantizeWeight(w, dims, 0, true, true, false)
	before := qw.scales[1]
	bias := []float32{3, 0.1}
	const xs = 0.01
	qw.fitBias(w, dims, bias, xs, true, false)
	for c, b := range bias {
		if q := math.Abs(float64(b) / (xs * float64(qw.scales[c]))); q > math.MaxInt32 {
			t.Errorf("channel %d: bias / scale = %g overflows int32", c, q)
		}
	}
	if qw.scales[1] != before {
		t.Errorf("channel 1 scale %g, want %g unchanged", qw.scales[1], before)
	}
	for i := 3; i < 6; i++ {
		if got := float32(qw.q[i]) * qw.scales[1]; math.Abs(float64(got-w[i])) > float64(qw.scales[1]) {
			t.Errorf("w[%d] dequantizes to %g, want %g", i, got, w[i])
		}
	}
}
