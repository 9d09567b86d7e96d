package onnxexport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// prompt and next are the token ids of the prefill and of the decode step.
var (
	prompt = []int64{393, 12, 250, 7, 99, 301}
	next   = int64(45)
)

// fixtureModel opens the committed tiny llama (F16 matrices, grouped heads).
func fixtureModel(t *testing.T) *refit.Model {
	t.Helper()
	m, err := refit.Open(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// withTypes returns m with every 2-D weight converted to d (F32 or a block type).
func withTypes(t *testing.T, m *refit.Model, d tensor.DType) *refit.Model {
	t.Helper()
	out := &refit.Model{Format: m.Format, Metadata: m.Metadata.Clone()}
	for _, x := range m.Tensors {
		if len(x.Shape) != 2 {
			out.Tensors = append(out.Tensors, x)
			continue
		}
		v, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		f, err := tensor.NewF32(x.Name, x.Shape, v)
		if err != nil {
			t.Fatal(err)
		}
		if d != tensor.F32 {
			if f, err = ggml.Quantize(f, d, nil, 1); err != nil {
				t.Fatalf("Quantize(%s, %v) = %v", x.Name, d, err)
			}
		}
		out.Tensors = append(out.Tensors, f)
	}
	return out
}

// reference runs m (GGUF-named) through package llm: logits of the prompt and of the
// decode step after it.
func reference(t *testing.T, m *refit.Model) (prefill, step []float32) {
	t.Helper()
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatalf("gguf.Encode = %v", err)
	}
	lm, err := llm.Load(bytes.NewReader(buf.Bytes()), int64(buf.Len()), &llm.Options{Threads: 1})
	if err != nil {
		t.Fatalf("llm.Load = %v", err)
	}
	s, err := lm.NewSession(len(prompt) + 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int32, len(prompt))
	for i, id := range prompt {
		ids[i] = int32(id)
	}
	v := lm.Config.Vocab
	prefill = make([]float32, len(prompt)*v)
	if err := s.Forward(context.Background(), ids, 0, prefill); err != nil {
		t.Fatal(err)
	}
	step = make([]float32, v)
	if err := s.Forward(context.Background(), []int32{int32(next)}, 0, step); err != nil {
		t.Fatal(err)
	}
	return prefill, step
}

// export exports m and returns the graph as written and read back.
func export(t *testing.T, m *refit.Model, opts *Options) *onnxpb.ModelProto {
	t.Helper()
	om, err := Export(context.Background(), m, opts)
	if err != nil {
		t.Fatalf("Export = %v", err)
	}
	var buf bytes.Buffer
	if err := onnx.Encode(&buf, om, nil); err != nil {
		t.Fatalf("onnx.Encode = %v", err)
	}
	mp, err := onnx.Load(fstest.MapFS{"m.onnx": {Data: buf.Bytes()}}, "m.onnx")
	if err != nil {
		t.Fatalf("onnx.Load = %v", err)
	}
	return mp
}

// session runs an exported graph in Refit's runtime.
type session struct {
	t      *testing.T
	s      *runtime.Session
	layers int
	kv     int64
	dims   [2]int64 // key and value head sizes
}

func newSession(t *testing.T, mp *onnxpb.ModelProto, cfg *llm.Config) *session {
	t.Helper()
	s, err := runtime.Load(mp, nil, &runtime.Options{Threads: 1})
	if err != nil {
		t.Fatalf("runtime.Load = %v", err)
	}
	return &session{t: t, s: s, layers: cfg.Layers, kv: int64(cfg.KVHeads), dims: [2]int64{int64(cfg.HeadDim), int64(cfg.ValueDim)}}
}

// run feeds ids [batch][seq] with mask [batch][past+seq] and positions; past nil
// means an empty cache. It returns logits and the presents by input name.
func (r *session) run(ids, mask, pos [][]int64, past map[string]*runtime.Value) ([]float32, map[string]*runtime.Value) {
	r.t.Helper()
	mat := func(rows [][]int64) *runtime.Value {
		var flat []int64
		for _, row := range rows {
			flat = append(flat, row...)
		}
		v, err := runtime.FromSlice(flat, int64(len(rows)), int64(len(rows[0])))
		if err != nil {
			r.t.Fatal(err)
		}
		return v
	}
	in := map[string]*runtime.Value{"input_ids": mat(ids), "attention_mask": mat(mask), "position_ids": mat(pos)}
	for i := range r.layers {
		for j, kind := range []string{"key", "value"} {
			name := fmt.Sprintf("past_key_values.%d.%s", i, kind)
			if past != nil {
				in[name] = past[name]
			} else {
				in[name] = runtime.NewValue(tensor.F32, []int64{int64(len(ids)), r.kv, 0, r.dims[j]})
			}
		}
	}
	out, err := r.s.Run(context.Background(), in)
	if err != nil {
		r.t.Fatalf("Run = %v", err)
	}
	next := map[string]*runtime.Value{}
	for i := range r.layers {
		for _, kind := range []string{"key", "value"} {
			next[fmt.Sprintf("past_key_values.%d.%s", i, kind)] = out[fmt.Sprintf("present.%d.%s", i, kind)]
		}
	}
	return out["logits"].Data.([]float32), next
}

func iota64(from, n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = int64(from + i)
	}
	return v
}

func ones(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// prefillDecode runs the prompt, then the next token through the cache.
func (r *session) prefillDecode() (prefill, step []float32) {
	n := len(prompt)
	prefill, past := r.run([][]int64{prompt}, [][]int64{ones(n)}, [][]int64{iota64(0, n)}, nil)
	step, _ = r.run([][]int64{{next}}, [][]int64{ones(n + 1)}, [][]int64{{int64(n)}}, past)
	return prefill, step
}

// closeness is max |got - want| and the largest |want|.
func closeness(got, want []float32) (diff, scale float64) {
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return diff, scale
}

func agree(t *testing.T, what string, got, want []float32, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d logits, want %d", what, len(got), len(want))
	}
	diff, scale := closeness(got, want)
	t.Logf("%s: max abs diff %.3g (logit scale %.3g)", what, diff, scale)
	if diff > rel*scale || math.IsNaN(diff) {
		t.Errorf("%s: max abs diff %.3g exceeds %.0e x logit scale %.3g", what, diff, rel, scale)
	}
}

func config(t *testing.T, m *refit.Model) *llm.Config {
	t.Helper()
	for _, x := range m.Tensors {
		if x.Name == "token_embd.weight" {
			c, err := llm.ConfigFromMetadata(m.Metadata, int(x.Shape[0]))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatal("no token_embd.weight")
	return nil
}

// TestRuntimeAgreesWithLLM runs the exported float graph in Refit's runtime, prefill
// then one decode step from the cache, against package llm's forward pass.
func TestRuntimeAgreesWithLLM(t *testing.T) {
	m := withTypes(t, fixtureModel(t), tensor.F32)
	wantPrefill, wantStep := reference(t, m)
	r := newSession(t, export(t, m, nil), config(t, m))
	gotPrefill, gotStep := r.prefillDecode()
	agree(t, "prefill", gotPrefill, wantPrefill, 1e-4)
	agree(t, "decode", gotStep, wantStep, 1e-4)
}

// TestBlocks exports GGUF block types as MatMulNBits and checks them against the
// same model exported with dequantized float weights.
func TestBlocks(t *testing.T) {
	for _, d := range []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q8_0} {
		t.Run(d.String(), func(t *testing.T) {
			m := withTypes(t, fixtureModel(t), d)
			mp := export(t, m, nil)
			nbits := 0
			for _, n := range mp.GetGraph().GetNode() {
				if n.GetOpType() == "MatMulNBits" {
					nbits++
				}
			}
			if want := 7*2 + 1; nbits != want {
				t.Errorf("%d MatMulNBits nodes, want %d", nbits, want)
			}
			cfg := config(t, m)
			gotP, gotS := newSession(t, mp, cfg).prefillDecode()
			wantP, wantS := newSession(t, export(t, m, &Options{Weights: Float32}), cfg).prefillDecode()
			agree(t, "prefill", gotP, wantP, 1e-5)
			agree(t, "decode", gotS, wantS, 1e-5)
		})
	}
}

// TestPaddedBatch runs a batch of two prompts, the shorter left-padded, and checks
// each row against the prompt run alone.
func TestPaddedBatch(t *testing.T) {
	m := withTypes(t, fixtureModel(t), tensor.F32)
	cfg := config(t, m)
	r := newSession(t, export(t, m, nil), cfg)
	n := len(prompt)
	short := prompt[2:]
	ids := [][]int64{prompt, append([]int64{0, 0}, short...)}
	mask := [][]int64{ones(n), append([]int64{0, 0}, ones(n-2)...)}
	pos := [][]int64{iota64(0, n), append([]int64{1, 1}, iota64(0, n-2)...)}
	logits, past := r.run(ids, mask, pos, nil)
	step, _ := r.run([][]int64{{next}, {next}}, [][]int64{append(mask[0], 1), append(mask[1], 1)},
		[][]int64{{int64(n)}, {int64(n - 2)}}, past)
	v := cfg.Vocab
	aloneP, aloneS := r.run([][]int64{short}, [][]int64{ones(n - 2)}, [][]int64{iota64(0, n-2)}, nil)
	aloneStep, _ := r.run([][]int64{{next}}, [][]int64{ones(n - 1)}, [][]int64{{int64(n - 2)}}, aloneS)
	agree(t, "padded row prefill", logits[(n+2)*v:], aloneP[:], 1e-5)
	agree(t, "padded row decode", step[v:], aloneStep, 1e-5)
	fullP, fullS := r.prefillDecode()
	agree(t, "full row prefill", logits[:n*v], fullP, 1e-5)
	agree(t, "full row decode", step[:v], fullS, 1e-5)
}

func TestExportErrors(t *testing.T) {
	base := fixtureModel(t)
	for _, tc := range []struct {
		name string
		edit func(m *refit.Model)
		want error
	}{
		{"unsupported architecture", func(m *refit.Model) { m.Metadata.Set("general.architecture", "gpt2") }, refit.ErrUnsupported},
		{"missing tensor", func(m *refit.Model) { m.Tensors = m.Tensors[:len(m.Tensors)-1] }, refit.ErrFormat},
		{"bad shape", func(m *refit.Model) {
			for i, x := range m.Tensors {
				if x.Name == "blk.1.ffn_down.weight" {
					y := *x
					y.Shape = tensor.Shape{x.Shape[1], x.Shape[0]}
					m.Tensors[i] = &y
				}
			}
		}, refit.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &refit.Model{Format: base.Format, Metadata: base.Metadata.Clone(), Tensors: append([]*tensor.Tensor(nil), base.Tensors...)}
			tc.edit(m)
			_, err := Export(context.Background(), m, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Export = %v, want %v", err, tc.want)
			}
		})
	}
}

// asGemma2 relabels the tiny llama as gemma2 (GELU, embedding scale, soft-capping)
// with a sliding window on even layers.
func asGemma2(t *testing.T, window uint32) *refit.Model {
	m := withTypes(t, fixtureModel(t), tensor.F32)
	md := refit.Metadata{}
	for _, k := range m.Metadata.Keys() {
		v, _ := m.Metadata.Get(k)
		if rest, ok := strings.CutPrefix(k, "llama."); ok {
			k = "gemma2." + rest
		}
		md.Set(k, v)
	}
	md.Set("general.architecture", "gemma2")
	md.Set("gemma2.attention.sliding_window", window)
	md.Set("gemma2.attn_logit_softcapping", float32(3))
	md.Set("gemma2.final_logit_softcapping", float32(4))
	m.Metadata = md
	return m
}

// TestGemma2SlidingWindow checks soft-capping and a sliding window shorter than the
// prompt against package llm. llm rounds the GELU's input and output to float16 as
// llama.cpp does, so the tolerance is float16's; the window changes the logits by
// far more.
func TestGemma2SlidingWindow(t *testing.T) {
	m := asGemma2(t, 3)
	wantP, wantS := reference(t, m)
	cfg := config(t, m)
	gotP, gotS := newSession(t, export(t, m, nil), cfg).prefillDecode()
	agree(t, "prefill", gotP, wantP, 2e-3)
	agree(t, "decode", gotS, wantS, 2e-3)
	wide := asGemma2(t, 64)
	_, wideS := newSession(t, export(t, wide, nil), cfg).prefillDecode()
	if d, scale := closeness(wideS, wantS); d < 2e-2*scale {
		t.Errorf("a window of 64 instead of 3 moves the logits by only %.3g", d)
	}
}

// TestQ4_1ConstantBlocks covers Q4_1 blocks of scale 0 (every weight equal to the
// block's minimum), which MatMulNBits holds with code 0, scale -m, zero point 1.
func TestQ4_1ConstantBlocks(t *testing.T) {
	m := withTypes(t, fixtureModel(t), tensor.Q4_1)
	for i, x := range m.Tensors {
		if x.Name != "blk.0.ffn_up.weight" {
			continue
		}
		b, err := x.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Clone(b)
		for blk := 0; blk < len(b)/20; blk += 3 { // every third block: d = 0, m = 0.25
			copy(b[blk*20:], []byte{0, 0, 0x00, 0x34})
		}
		if m.Tensors[i], err = tensor.FromBytes(x.Name, x.DType, x.Shape, b); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config(t, m)
	gotP, gotS := newSession(t, export(t, m, nil), cfg).prefillDecode()
	wantP, wantS := newSession(t, export(t, m, &Options{Weights: Float32}), cfg).prefillDecode()
	agree(t, "prefill", gotP, wantP, 1e-5)
	agree(t, "decode", gotS, wantS, 1e-5)
}

// TestEveryInitializerUsed checks that the graph carries no initializer no node
// reads (ONNX Runtime warns about them).
func TestEveryInitializerUsed(t *testing.T) {
	for _, arch := range []string{"llama", "gemma2"} {
		m := withTypes(t, fixtureModel(t), tensor.F32)
		if arch == "gemma2" {
			m = asGemma2(t, 3)
		}
		for _, w := range []Weights{Auto, Int4} {
			mp := export(t, m, &Options{Weights: w})
			used := map[string]bool{}
			for _, n := range mp.GetGraph().GetNode() {
				for _, in := range n.GetInput() {
					used[in] = true
				}
			}
			for _, tp := range mp.GetGraph().GetInitializer() {
				if !used[tp.GetName()] {
					t.Errorf("%s %v: initializer %s is not used", arch, w, tp.GetName())
				}
			}
		}
	}
}
