package onnxexport

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/tensor"
)

// Opset is the default-domain opset of exported graphs.
const Opset = 17

// Weights says how the exported graph stores its linear layers' weights.
type Weights int

const (
	// Auto keeps GGUF Q4_0, Q4_1 and Q8_0 matrices as com.microsoft MatMulNBits
	// blocks (bit for bit, no requantization) and stores every other weight as
	// float32.
	Auto Weights = iota
	// Float32 stores every weight as float32, dequantizing block types.
	Float32
	// Int4 quantizes every matrix but the token embedding afresh to 4-bit
	// MatMulNBits in blocks of 32, rounding to nearest as quant/onnxq does (zero
	// points, asymmetric); GGUF Q4_0 and Q4_1 blocks are kept as they are.
	Int4
	// Int8 is Int4 with 8 bits; GGUF Q4_0, Q4_1 and Q8_0 blocks are kept.
	Int8
)

func (w Weights) String() string {
	switch w {
	case Auto:
		return "auto"
	case Float32:
		return "f32"
	case Int4:
		return "int4"
	case Int8:
		return "int8"
	}
	return "Weights(" + strconv.Itoa(int(w)) + ")"
}

// Options configure Export. The zero value means defaults.
type Options struct {
	Weights Weights
	// Threads bounds the goroutines quantizing one matrix (Int4, Int8); <= 0 means
	// GOMAXPROCS. The output does not depend on it.
	Threads int
	// MaxPositions caps the rotary tables (and so the longest sequence the graph
	// accepts); 0 means the model's context length (4096 when it has none), cut to
	// what tables of 2^25 values hold. The result's metadata names it
	// (refit.llm.max_positions).
	MaxPositions int
}

// Layout names the input/output convention exported graphs follow.
const Layout = "Transformers.js / Hugging Face Optimum decoder with past (input_ids, attention_mask, position_ids, past_key_values.N.key/value -> logits, present.N.key/value)"

// families are the general.architecture values Export translates.
var families = map[string]bool{"llama": true, "mistral": true, "mixtral": true, "qwen2": true, "qwen3": true,
	"qwen2moe": true, "qwen3moe": true, "phi3": true, "gemma": true, "gemma2": true, "granite": true, "granitemoe": true}

// Architectures lists the GGUF architectures Export translates.
func Architectures() []string {
	return []string{"gemma", "gemma2", "granite", "granitemoe", "llama", "mistral", "mixtral", "phi3", "qwen2", "qwen2moe",
		"qwen3", "qwen3moe"}
}

// IsLLM reports whether m looks like a GGUF-named decoder language model (it has
// general.architecture and a token embedding), whether or not Export supports it.
func IsLLM(m *refit.Model) bool {
	if m.Metadata.String("general.architecture") == "" {
		return false
	}
	for _, t := range m.Tensors {
		if t.Name == "token_embd.weight" {
			return true
		}
	}
	return false
}

func unsupportedf(msg string, args ...any) error {
	return refit.Unsupportedf("onnxexport", msg, args...)
}

func formatf(msg string, args ...any) error { return refit.Errorf("onnxexport", -1, msg, args...) }

// Export translates m, a decoder LLM with GGUF tensor names and metadata (a GGUF
// file as format/gguf decodes it, or a Hugging Face folder as hf.ConvertHF converts
// it), into an ONNX model with a key/value cache in the layout Layout names. The
// result's weights are lazy: each is read from m and converted (dequantized,
// transposed, repacked) when the ONNX encoder pulls it, so m must stay open until
// the result is written.
func Export(ctx context.Context, m *refit.Model, opts *Options) (*refit.Model, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	arch := m.Metadata.String("general.architecture")
	if !families[arch] {
		return nil, unsupportedf("architecture %q (ONNX export supports %v)", arch, Architectures())
	}
	byName := map[string]*tensor.Tensor{}
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	embed := byName["token_embd.weight"]
	if embed == nil || len(embed.Shape) != 2 {
		return nil, formatf("model has no 2-D token_embd.weight")
	}
	if embed.Shape[0] <= 0 || embed.Shape[0] > 1<<24 {
		return nil, formatf("token_embd.weight has shape %v", embed.Shape)
	}
	cfg, err := llm.ConfigFromMetadata(m.Metadata, int(embed.Shape[0]))
	if err != nil {
		return nil, err
	}
	for _, n := range []string{"rope_factors_long.weight", "rope_factors_short.weight"} {
		if byName[n] != nil {
			return nil, unsupportedf("long-context RoPE factors (%s)", n)
		}
	}
	maxPos := o.MaxPositions
	if maxPos <= 0 {
		maxPos = cfg.ContextLength
	}
	if maxPos <= 0 {
		maxPos = 4096
	}
	if maxPos > 1<<20 {
		return nil, unsupportedf("%d positions (at most %d)", maxPos, 1<<20)
	}
	if int64(maxPos)*int64(cfg.RopeDims/2) > maxTable {
		if o.MaxPositions > 0 {
			return nil, unsupportedf("rotary tables of %d positions x %d angles (at most %d values)", maxPos, cfg.RopeDims/2, maxTable)
		}
		maxPos = maxTable / (cfg.RopeDims / 2) // a context longer than the tables hold
	}
	if err := splitFused(cfg, byName); err != nil {
		return nil, err
	}
	if err := checkShapes(cfg, byName); err != nil {
		return nil, err
	}
	x := &exporter{ctx: ctx, cfg: cfg, tensors: byName, opts: o, maxPos: maxPos}
	if err := x.build(); err != nil {
		return nil, err
	}
	out, err := onnx.NewModel(x.model(), x.lazy)
	if err != nil {
		return nil, err
	}
	out.Metadata.Set("refit.llm.architecture", arch)
	out.Metadata.Set("refit.llm.layout", "optimum-decoder-with-past")
	out.Metadata.Set("refit.llm.max_positions", strconv.Itoa(maxPos))
	return out, nil
}

// maxTable caps the values of each rotary table (128 MiB of float32; Llama 3's 131072
// positions x 64 angles need 8M).
const maxTable = 1 << 25

// checkShapes checks every weight the graph reads against the hyperparameters before
// any data is read or allocated.
func checkShapes(c *llm.Config, ts map[string]*tensor.Tensor) error {
	type want struct {
		name     string
		shape    []int64
		optional bool
	}
	E, V, FF := int64(c.Embed), int64(c.Vocab), int64(c.FF)
	qDim, kDim, vDim := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim), int64(c.KVHeads*c.ValueDim)
	ws := []want{{"token_embd.weight", []int64{V, E}, false}, {"output_norm.weight", []int64{E}, false},
		{"output.weight", []int64{V, E}, true}}
	for il := range c.Layers {
		p := "blk." + strconv.Itoa(il) + "."
		ws = append(ws,
			want{p + "attn_norm.weight", []int64{E}, false},
			want{p + "attn_q.weight", []int64{qDim, E}, false},
			want{p + "attn_k.weight", []int64{kDim, E}, false},
			want{p + "attn_v.weight", []int64{vDim, E}, false},
			want{p + "attn_q.bias", []int64{qDim}, true},
			want{p + "attn_k.bias", []int64{kDim}, true},
			want{p + "attn_v.bias", []int64{vDim}, true},
			want{p + "attn_q_norm.weight", []int64{int64(c.HeadDim)}, true},
			want{p + "attn_k_norm.weight", []int64{int64(c.HeadDim)}, true},
			want{p + "attn_output.weight", []int64{E, int64(c.Heads * c.ValueDim)}, false},
			want{p + "ffn_norm.weight", []int64{E}, false},
			want{p + "post_attention_norm.weight", []int64{E}, true},
			want{p + "post_ffw_norm.weight", []int64{E}, true})
		experts, ff := []string{""}, FF
		if c.Experts > 0 {
			ff = int64(c.ExpertFF)
			ws = append(ws, want{p + "ffn_gate_inp.weight", []int64{int64(c.Experts), E}, false})
			experts = experts[:0]
			for e := range c.Experts {
				experts = append(experts, "."+strconv.Itoa(e))
			}
		}
		if sh := ts[p+"ffn_up_shexp.weight"]; sh != nil && c.Experts > 0 && len(sh.Shape) == 2 {
			SF := sh.Shape[0]
			ws = append(ws,
				want{p + "ffn_gate_shexp.weight", []int64{SF, E}, false},
				want{p + "ffn_down_shexp.weight", []int64{E, SF}, false},
				want{p + "ffn_gate_inp_shexp.weight", []int64{1, E}, false})
		}
		for _, e := range experts {
			ws = append(ws,
				want{p + "ffn_gate" + e + ".weight", []int64{ff, E}, false},
				want{p + "ffn_up" + e + ".weight", []int64{ff, E}, false},
				want{p + "ffn_down" + e + ".weight", []int64{E, ff}, false})
		}
	}
	for _, w := range ws {
		t := ts[w.name]
		if t == nil {
			if w.optional {
				continue
			}
			return formatf("model has no tensor %s", w.name)
		}
		if !slices.Equal([]int64(t.Shape), w.shape) {
			return formatf("tensor %s has shape %v, want %v", w.name, t.Shape, w.shape)
		}
	}
	return nil
}

// splitFused replaces stacked matrices by views of their rows: phi3's attn_qkv by
// attn_q, attn_k and attn_v, and its ffn_up holding gate and up stacked by ffn_gate
// and ffn_up; the experts' ffn_{gate,up,down}_exps [n, rows, cols] by
// ffn_{gate,up,down}.<e>.
func splitFused(c *llm.Config, ts map[string]*tensor.Tensor) error {
	E, FF, EF := int64(c.Embed), int64(c.FF), int64(c.ExpertFF)
	qDim, kDim, vDim := int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim), int64(c.KVHeads*c.ValueDim)
	for il := range c.Layers {
		p := "blk." + strconv.Itoa(il) + "."
		if t := ts[p+"attn_qkv.weight"]; t != nil {
			if err := splitRows(t, E, ts, []string{p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"}, []int64{qDim, kDim, vDim}); err != nil {
				return err
			}
			delete(ts, p+"attn_qkv.weight")
		}
		for _, part := range []struct {
			name       string
			rows, cols int64
		}{{"ffn_gate", EF, E}, {"ffn_up", EF, E}, {"ffn_down", E, EF}} {
			t := ts[p+part.name+"_exps.weight"]
			if t == nil || c.Experts == 0 {
				continue
			}
			n := int64(c.Experts)
			if len(t.Shape) != 3 || t.Shape[0] != n || t.Shape[1] != part.rows || t.Shape[2] != part.cols {
				return formatf("tensor %s has shape %v, want [%d %d %d]", t.Name, t.Shape, n, part.rows, part.cols)
			}
			names := make([]string, n)
			rows := make([]int64, n)
			for e := range names {
				names[e], rows[e] = fmt.Sprintf("%s%s.%d.weight", p, part.name, e), part.rows
			}
			flat, err := tensor.New(t.Name, t.DType, tensor.Shape{n * part.rows, part.cols}, t.Data)
			if err != nil {
				return formatf("tensor %s: %v", t.Name, err)
			}
			if err := splitRows(flat, part.cols, ts, names, rows); err != nil {
				return err
			}
		}
		if t := ts[p+"ffn_gate_inp_shexp.weight"]; t != nil && len(t.Shape) == 1 && t.Shape[0] == E {
			row, err := tensor.New(t.Name, t.DType, tensor.Shape{1, E}, t.Data)
			if err != nil {
				return formatf("tensor %s: %v", t.Name, err)
			}
			ts[t.Name] = row // a one-output projection
		}
		if t := ts[p+"ffn_up.weight"]; t != nil && ts[p+"ffn_gate.weight"] == nil && len(t.Shape) == 2 && t.Shape[0] == 2*FF {
			if err := splitRows(t, E, ts, []string{p + "ffn_gate.weight", p + "ffn_up.weight"}, []int64{FF, FF}); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitRows adds views of consecutive row ranges of t [sum(rows), cols] under names.
func splitRows(t *tensor.Tensor, cols int64, ts map[string]*tensor.Tensor, names []string, rows []int64) error {
	var total int64
	for _, r := range rows {
		total += r
	}
	if len(t.Shape) != 2 || t.Shape[0] != total || t.Shape[1] != cols {
		return formatf("tensor %s has shape %v, want [%d %d]", t.Name, t.Shape, total, cols)
	}
	rowBytes := t.Size() / total
	var off int64
	for i, name := range names {
		v, err := tensor.New(name, t.DType, tensor.Shape{rows[i], cols}, io.NewSectionReader(t.Data, off*rowBytes, rows[i]*rowBytes))
		if err != nil {
			return formatf("tensor %s: %v", t.Name, err)
		}
		ts[name] = v
		off += rows[i]
	}
	return nil
}

// exporter builds one graph.
type exporter struct {
	ctx      context.Context
	cfg      *llm.Config
	tensors  map[string]*tensor.Tensor
	opts     Options
	maxPos   int
	b        graph.Builder
	nbits    bool             // the graph uses com.microsoft MatMulNBits
	tiedHead string           // the [embed, vocab] matrix shared by lookup and head
	lazy     []*tensor.Tensor // weights computed when written
	err      error

	// shared values
	cos, sin string // [batch, 1, seq, rot/2]
	allowed  string // bool attention mask, [batch, 1, seq, total] (or 5-D for grouped heads)
	sliding  string // allowed within the sliding window (made on first use)
	keyRow   string // cache indices [1, total]
	queryCol string // the new tokens' cache indices [seq, 1]
	consts   map[string]string
}

func (x *exporter) fail(err error) {
	if x.err == nil {
		x.err = err
	}
}

// op appends a node and returns its output.
func (x *exporter) op(opType, base string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	return x.b.Op(opType, base, inputs, attrs...)
}

// ints is an int64 initializer, shared among users of the same values.
func (x *exporter) ints(dims []int64, v ...int64) string {
	key := fmt.Sprint(dims, v)
	if n, ok := x.consts[key]; ok {
		return n
	}
	n := x.b.Int64("c", dims, v)
	if x.consts == nil {
		x.consts = map[string]string{}
	}
	x.consts[key] = n
	return n
}

func (x *exporter) scalar(v int64) string { return x.ints([]int64{}, v) }
func (x *exporter) vec(v ...int64) string { return x.ints([]int64{int64(len(v))}, v...) }

func (x *exporter) floatScalar(base string, v float32) string {
	return x.b.Float(base, []int64{}, []float32{v})
}

// Dimension names, as Optimum and Transformers.js spell them.
const (
	dimBatch = "batch_size"
	dimSeq   = "sequence_length"
	dimPast  = "past_sequence_length"
	dimTotal = "total_sequence_length"
)

func (x *exporter) build() error {
	c := x.cfg
	named := func(names ...string) func(int) string {
		return func(i int) string { return names[i] }
	}
	x.b.Input(graph.ValueInfo("input_ids", graph.ElemInt64, []int64{-1, -1}, named(dimBatch, dimSeq)))
	x.b.Input(graph.ValueInfo("attention_mask", graph.ElemInt64, []int64{-1, -1}, named(dimBatch, dimTotal)))
	x.b.Input(graph.ValueInfo("position_ids", graph.ElemInt64, []int64{-1, -1}, named(dimBatch, dimSeq)))
	for i := range c.Layers {
		for _, kv := range []struct {
			name string
			dim  int
		}{{"key", c.HeadDim}, {"value", c.ValueDim}} {
			x.b.Input(graph.ValueInfo(fmt.Sprintf("past_key_values.%d.%s", i, kv.name), graph.ElemFloat,
				[]int64{-1, int64(c.KVHeads), -1, int64(kv.dim)}, named(dimBatch, "", dimPast, "")))
		}
	}
	x.b.Output(graph.ValueInfo("logits", graph.ElemFloat, []int64{-1, -1, int64(c.Vocab)}, named(dimBatch, dimSeq, "")))
	for i := range c.Layers {
		for _, kv := range []struct {
			name string
			dim  int
		}{{"key", c.HeadDim}, {"value", c.ValueDim}} {
			x.b.Output(graph.ValueInfo(fmt.Sprintf("present.%d.%s", i, kv.name), graph.ElemFloat,
				[]int64{-1, int64(c.KVHeads), -1, int64(kv.dim)}, named(dimBatch, "", dimTotal, "")))
		}
	}

	// A tied float head and the embedding share one [embed, vocab] matrix: the lookup
	// gathers its columns and transposes the (small) result.
	tied := x.tensors["output.weight"] == nil
	if x.keepsBlocks(x.tensors["token_embd.weight"].DType) || x.opts.Weights == Int4 || x.opts.Weights == Int8 {
		tied = false // the head is quantized, the lookup needs floats
	}
	var h string
	if tied {
		x.tiedHead = x.floatMatrix("token_embd.weight", c.Vocab, c.Embed, true)
		cols := x.op("Gather", "embed_cols", []string{x.tiedHead, "input_ids"}, graph.IntAttr("axis", 1))
		h = x.op("Transpose", "embed", []string{cols}, graph.IntsAttr("perm", []int64{1, 2, 0}))
	} else {
		emb := x.floatMatrix("token_embd.weight", c.Vocab, c.Embed, false)
		h = x.op("Gather", "embed", []string{emb, "input_ids"}, graph.IntAttr("axis", 0))
	}
	if x.err != nil {
		return x.err
	}
	if c.EmbedScale != 1 {
		h = x.op("Mul", "embed_scaled", []string{h, x.floatScalar("embed_scale", c.EmbedScale)})
	}
	x.rotary()
	x.mask()
	for il := range c.Layers {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		h = x.layer(il, h)
		if x.err != nil {
			return x.err
		}
	}
	h = x.rmsNorm(h, "output_norm.weight", c.Embed)
	head := "output.weight"
	if x.tensors[head] == nil {
		head = "token_embd.weight" // tied embeddings
	}
	out := "logits"
	if c.FinalSoftcap > 0 || c.LogitScale != 1 {
		out = ""
	}
	if x.tiedHead != "" {
		out = x.b.Names.Fresh(or(out, "lm_head"))
		x.b.Node("MatMul", out, []string{h, x.tiedHead}, []string{out})
	} else {
		out = x.linear(h, head, c.Vocab, c.Embed, out)
	}
	if c.LogitScale != 1 { // granite's (a division), command-r's
		scaled := "logits"
		if c.FinalSoftcap > 0 {
			scaled = x.b.Names.Fresh("logits_scaled")
		}
		x.b.Node("Mul", scaled, []string{out, x.floatScalar("logit_scale", c.LogitScale)}, []string{scaled})
		out = scaled
	}
	if c.FinalSoftcap > 0 {
		x.softcap(out, c.FinalSoftcap, "logits")
	}
	return x.err
}

func (x *exporter) model() *onnxpb.ModelProto {
	g := x.b.Graph("refit_llm")
	mp := graph.Model(g, "refit", Opset)
	if x.nbits {
		mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: ptr("com.microsoft"), Version: ptr[int64](1)})
	}
	return mp
}

func ptr[T any](v T) *T { return &v }

// or is a unless it is empty, else b.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// rotary makes the cos and sin of every (position, rotary pair), gathered by
// position_ids into [batch, 1, seq, rot/2]. The tables are computed here in float64:
// theta = pos * scale * base^(-2i/rot) / freq_factor_i.
func (x *exporter) rotary() {
	c := x.cfg
	half := c.RopeDims / 2
	var factors []float32
	if t := x.tensors["rope_freqs.weight"]; t != nil {
		f, err := t.Float32s()
		if err != nil || len(f) != half {
			x.fail(formatf("rope_freqs.weight: %d values (want %d), %v", len(f), half, err))
			return
		}
		factors = f
	}
	cos := make([]float32, x.maxPos*half)
	sin := make([]float32, x.maxPos*half)
	for i := range half {
		inv := math.Pow(float64(c.RopeBase), -2*float64(i)/float64(c.RopeDims)) * float64(c.RopeScale)
		if factors != nil {
			inv /= float64(factors[i])
		}
		for p := range x.maxPos {
			s, co := math.Sincos(float64(p) * inv)
			cos[p*half+i], sin[p*half+i] = float32(co), float32(s)
		}
	}
	dims := []int64{int64(x.maxPos), int64(half)}
	ct := x.b.Float("rope_cos", dims, cos)
	st := x.b.Float("rope_sin", dims, sin)
	one := x.vec(1)
	x.cos = x.op("Unsqueeze", "cos", []string{x.op("Gather", "cos_pos", []string{ct, "position_ids"}), one})
	x.sin = x.op("Unsqueeze", "sin", []string{x.op("Gather", "sin_pos", []string{st, "position_ids"}), one})
}

// softcap is tanh(in / cap) * cap, into a value named out (fresh when "").
func (x *exporter) softcap(in string, limit float32, out string) string {
	t := x.op("Tanh", "capped", []string{x.op("Div", "uncapped", []string{in, x.floatScalar("softcap", limit)})})
	if out == "" {
		out = x.b.Names.Fresh("softcapped")
	}
	x.b.Node("Mul", out, []string{t, x.floatScalar("softcap", limit)}, []string{out})
	return out
}

// gelu is GELU in its tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
func (x *exporter) gelu(in string) string {
	cube := x.op("Mul", "gelu_cube", []string{x.op("Mul", "gelu_sq", []string{in, in}), in})
	inner := x.op("Add", "gelu_inner", []string{in, x.op("Mul", "gelu_cubic", []string{cube, x.floatScalar("gelu_c", 0.044715)})})
	t := x.op("Tanh", "gelu_tanh", []string{x.op("Mul", "gelu_arg", []string{inner, x.floatScalar("gelu_k", float32(math.Sqrt(2/math.Pi)))})})
	half := x.op("Mul", "gelu_half", []string{in, x.floatScalar("half", 0.5)})
	return x.op("Mul", "gelu", []string{half, x.op("Add", "gelu_1p", []string{t, x.floatScalar("one", 1)})})
}

// slidingMask is the attention mask of sliding-window layers: the mask of every layer
// and, in addition, key j visible to new token i only when past + i - j < window.
func (x *exporter) slidingMask() string {
	if x.sliding == "" {
		near := x.op("Greater", "in_window", []string{x.keyRow,
			x.op("Sub", "window_start", []string{x.queryCol, x.scalar(int64(x.cfg.SlidingWindow))})})
		x.sliding = x.op("And", "allowed_window", []string{x.allowed, near})
	}
	return x.sliding
}

// grouped reports whether query heads share key/value heads, which the attention
// computes with 5-D tensors [batch, kv_heads, group, seq, dim].
func (x *exporter) grouped() bool { return x.cfg.Heads != x.cfg.KVHeads }

// mask makes the boolean attention mask: key j is visible to new token i when
// j <= past + i (causal, over the cache's index) and attention_mask[b, j] is 1.
func (x *exporter) mask() {
	s := x.op("Gather", "seq_len", []string{x.op("Shape", "ids_shape", []string{"input_ids"}), x.scalar(1)}, graph.IntAttr("axis", 0))
	t := x.op("Gather", "total_len", []string{x.op("Shape", "mask_shape", []string{"attention_mask"}), x.scalar(1)}, graph.IntAttr("axis", 0))
	past := x.op("Sub", "past_len", []string{t, s})
	keys := x.op("Range", "key_index", []string{x.scalar(0), t, x.scalar(1)})
	queries := x.op("Range", "query_index", []string{past, t, x.scalar(1)})
	x.keyRow = x.op("Unsqueeze", "key_row", []string{keys, x.vec(0)})
	x.queryCol = x.op("Unsqueeze", "query_col", []string{queries, x.vec(1)})
	causal := x.op("LessOrEqual", "causal", []string{x.keyRow, x.queryCol})
	var padAxes string
	if x.grouped() {
		padAxes = x.vec(1, 2, 3)
	} else {
		padAxes = x.vec(1, 2)
	}
	pad := x.op("Unsqueeze", "padding", []string{
		x.op("Cast", "mask_bool", []string{"attention_mask"}, graph.IntAttr("to", elemBool)), padAxes})
	x.allowed = x.op("And", "allowed", []string{causal, pad})
}

const (
	elemBool  = 9
	maskValue = -math.MaxFloat32 // what masked scores become (not -inf: a row with no visible key stays finite)
)

// rmsNorm is x / sqrt(mean(x^2) + eps) * w over the last axis.
func (x *exporter) rmsNorm(in, weight string, n int) string {
	w := x.vector(weight, n)
	sq := x.op("Mul", normPrefix+"sq", []string{in, in})
	mean := x.op("ReduceMean", normPrefix+"mean", []string{sq}, graph.IntsAttr("axes", []int64{-1}), graph.IntAttr("keepdims", 1))
	rms := x.op("Sqrt", normPrefix+"rms", []string{x.op("Add", normPrefix+"eps", []string{mean, x.floatScalar("eps", x.cfg.NormEps)})})
	return x.op("Mul", "normed", []string{x.op("Div", normPrefix+"div", []string{in, rms}), w})
}

// normPrefix starts the names of the nodes computing RMSNorm's statistics, which
// overflow in float16 on activations beyond 256 (see FloatNodes).
const normPrefix = "rmsnorm_"

// FloatNodes lists the nodes of an exported graph that should keep computing in
// float32 when the graph is converted to float16 or bfloat16 (package graph/half's
// Options.KeepNodes): the squares and means of the RMSNorms.
func FloatNodes(mp *onnxpb.ModelProto) []string {
	var names []string
	for _, n := range mp.GetGraph().GetNode() {
		if strings.HasPrefix(n.GetName(), normPrefix) {
			names = append(names, n.GetName())
		}
	}
	return names
}

// vector adds a 1-D float32 initializer from the named tensor of n values.
func (x *exporter) vector(name string, n int) string {
	t := x.tensors[name]
	if t == nil {
		x.fail(formatf("model has no tensor %s", name))
		return ""
	}
	if len(t.Shape) != 1 || t.Shape[0] != int64(n) {
		x.fail(formatf("tensor %s has shape %v, want [%d]", name, t.Shape, n))
		return ""
	}
	v, err := t.Float32s()
	if err != nil {
		x.fail(err)
		return ""
	}
	return x.b.Float(name, []int64{int64(n)}, v)
}

// layer appends transformer block il to the residual stream h.
func (x *exporter) layer(il int, h string) string {
	c := x.cfg
	p := "blk." + strconv.Itoa(il) + "."
	has := func(n string) bool { return x.tensors[p+n] != nil }
	n := x.rmsNorm(h, p+"attn_norm.weight", c.Embed)
	qDim, kvDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	// llama's GGUF q/k rows are permuted for interleaved rotary pairs; the graph
	// rotates halves, so they are un-permuted to Hugging Face's order.
	q := x.projection(n, p+"attn_q", qDim, c.Heads)
	k := x.projection(n, p+"attn_k", kvDim, c.KVHeads)
	v := x.projection(n, p+"attn_v", vDim, 0)
	q = x.heads(q, c.Heads, c.HeadDim)   // [B, S, H, D]
	k = x.heads(k, c.KVHeads, c.HeadDim) // [B, S, KV, D]
	v = x.heads(v, c.KVHeads, c.ValueDim)
	if has("attn_q_norm.weight") {
		q = x.rmsNorm(q, p+"attn_q_norm.weight", c.HeadDim)
		k = x.rmsNorm(k, p+"attn_k_norm.weight", c.HeadDim)
	}
	perm := graph.IntsAttr("perm", []int64{0, 2, 1, 3})
	q = x.rope(x.op("Transpose", "q_t", []string{q}, perm), c.HeadDim) // [B, H, S, D]
	k = x.rope(x.op("Transpose", "k_t", []string{k}, perm), c.HeadDim)
	v = x.op("Transpose", "v_t", []string{v}, perm)
	keys := fmt.Sprintf("present.%d.key", il)
	values := fmt.Sprintf("present.%d.value", il)
	x.b.Node("Concat", keys, []string{fmt.Sprintf("past_key_values.%d.key", il), k}, []string{keys}, graph.IntAttr("axis", 2))
	x.b.Node("Concat", values, []string{fmt.Sprintf("past_key_values.%d.value", il), v}, []string{values}, graph.IntAttr("axis", 2))
	mask := x.allowed
	if c.SlidingLayer(il) {
		mask = x.slidingMask()
	}
	att := x.attention(q, keys, values, mask) // [B, S, H*Dv]
	o := x.linear(att, p+"attn_output.weight", c.Embed, c.Heads*c.ValueDim, "")
	if has("post_attention_norm.weight") {
		o = x.rmsNorm(o, p+"post_attention_norm.weight", c.Embed)
	}
	h = x.op("Add", "resid", []string{h, x.residual(o)})
	n = x.rmsNorm(h, p+"ffn_norm.weight", c.Embed)
	var down string
	if c.Experts > 0 {
		down = x.moe(n, p)
	} else {
		down = x.ffn(n, p, "", c.FF)
	}
	if has("post_ffw_norm.weight") {
		down = x.rmsNorm(down, p+"post_ffw_norm.weight", c.Embed)
	}
	return x.op("Add", "resid", []string{h, x.residual(down)})
}

// residual scales a block's output by the model's residual scale (granite).
func (x *exporter) residual(in string) string {
	if x.cfg.ResidualScale == 1 {
		return in
	}
	return x.op("Mul", "resid_scaled", []string{in, x.floatScalar("residual_scale", x.cfg.ResidualScale)})
}

// ffn is down(act(gate n) * up n) with the weights p+"ffn_gate"+e+".weight" ...,
// ff wide.
func (x *exporter) ffn(n, p, e string, ff int) string {
	c := x.cfg
	gate := x.linear(n, p+"ffn_gate"+e+".weight", ff, c.Embed, "")
	up := x.linear(n, p+"ffn_up"+e+".weight", ff, c.Embed, "")
	var act string
	if c.GELU {
		act = x.gelu(gate)
	} else {
		act = x.op("Mul", "silu", []string{gate, x.op("Sigmoid", "sig", []string{gate})})
	}
	return x.linear(x.op("Mul", "gated", []string{act, up}), p+"ffn_down"+e+".weight", c.Embed, ff, "")
}

// moe is a mixture-of-experts feed-forward (mixtral, qwen2moe, qwen3moe, granitemoe):
// softmax over the router's logits, the top ExpertsUsed probabilities (renormalized to
// sum to 1 unless qwen2moe) scattered into a dense [batch, seq, experts] weight, the
// weighted sum of every expert's output, and qwen2moe's shared expert. Standard ONNX has no sparse dispatch: each expert runs on every token,
// and the unselected ones are weighted 0.
func (x *exporter) moe(n, p string) string {
	c := x.cfg
	probs := x.op("Softmax", "router_probs", []string{x.linear(n, p+"ffn_gate_inp.weight", c.Experts, c.Embed, "")}, graph.IntAttr("axis", -1))
	top := x.b.OpN("TopK", "router_topk", []string{probs, x.vec(int64(c.ExpertsUsed))}, []bool{true, true},
		graph.IntAttr("axis", -1), graph.IntAttr("largest", 1), graph.IntAttr("sorted", 1))
	weights := top[0]
	if c.ExpertNorm {
		sum := x.op("ReduceSum", "router_sum", []string{top[0], x.vec(-1)}, graph.IntAttr("keepdims", 1))
		weights = x.op("Div", "router_weights", []string{top[0], sum})
	}
	zeros := x.op("ConstantOfShape", "router_zeros", []string{x.op("Shape", "router_shape", []string{probs})},
		graph.TensorAttr("value", graph.FloatTensor("", []int64{1}, []float32{0})))
	dense := x.op("ScatterElements", "router_dense", []string{zeros, top[1], weights}, graph.IntAttr("axis", -1))
	var acc string
	for e := range c.Experts {
		w := x.op("Slice", "expert_weight", []string{dense, x.vec(int64(e)), x.vec(int64(e + 1)), x.vec(-1)})
		term := x.op("Mul", "expert_out", []string{x.ffn(n, p, "."+strconv.Itoa(e), c.ExpertFF), w})
		if acc == "" {
			acc = term
		} else {
			acc = x.op("Add", "experts_sum", []string{acc, term})
		}
	}
	if sh := x.tensors[p+"ffn_up_shexp.weight"]; sh != nil { // qwen2moe: sigmoid-gated shared expert
		gate := x.op("Sigmoid", "shexp_gate", []string{x.linear(n, p+"ffn_gate_inp_shexp.weight", 1, c.Embed, "")})
		shared := x.op("Mul", "shexp_out", []string{x.ffn(n, p, "_shexp", int(sh.Shape[0])), gate})
		acc = x.op("Add", "experts_sum", []string{acc, shared})
	}
	return acc
}

// projection is a q/k/v projection with its optional bias; permHeads > 0 un-permutes
// llama's interleaved rotary rows over that many heads.
func (x *exporter) projection(in, base string, rows, permHeads int) string {
	c := x.cfg
	if c.RopeNeox {
		permHeads = 0
	}
	y := x.linearPerm(in, base+".weight", rows, c.Embed, "", permHeads)
	if x.tensors[base+".bias"] != nil {
		b := x.tensors[base+".bias"]
		if permHeads > 0 {
			var err error
			if b, err = unpermute(b, permHeads); err != nil {
				x.fail(err)
				return y
			}
		}
		bias := x.vectorOf(b, rows)
		y = x.op("Add", "biased", []string{y, bias})
	}
	return y
}

func (x *exporter) vectorOf(t *tensor.Tensor, n int) string {
	saved := x.tensors[t.Name]
	x.tensors[t.Name] = t
	defer func() { x.tensors[t.Name] = saved }()
	return x.vector(t.Name, n)
}

// heads reshapes [B, S, heads*dim] to [B, S, heads, dim].
func (x *exporter) heads(in string, heads, dim int) string {
	return x.op("Reshape", "split_heads", []string{in, x.vec(0, 0, int64(heads), int64(dim))})
}

// rope rotates the first RopeDims of every head of [B, H, S, D] in halves (Hugging
// Face's rotate_half): (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
func (x *exporter) rope(in string, headDim int) string {
	half := int64(x.cfg.RopeDims / 2)
	axis := x.vec(3)
	slice := func(a, b int64) string {
		return x.op("Slice", "rot_part", []string{in, x.vec(a), x.vec(b), axis})
	}
	x1, x2 := slice(0, half), slice(half, 2*half)
	r1 := x.op("Sub", "rot1", []string{x.op("Mul", "x1c", []string{x1, x.cos}), x.op("Mul", "x2s", []string{x2, x.sin})})
	r2 := x.op("Add", "rot2", []string{x.op("Mul", "x2c", []string{x2, x.cos}), x.op("Mul", "x1s", []string{x1, x.sin})})
	parts := []string{r1, r2}
	if 2*half < int64(headDim) {
		parts = append(parts, slice(2*half, int64(headDim)))
	}
	return x.op("Concat", "roped", parts, graph.IntAttr("axis", 3))
}

// attention is softmax(q k^T * scale, masked) v for q [B, H, S, D] against the cache
// keys and values [B, KV, T, D]; it returns [B, S, H*Dv]. Grouped heads are computed
// in 5-D, the key/value heads broadcast over each group by MatMul (as repeating them
// with Expand would, without the copy).
func (x *exporter) attention(q, keys, values, mask string) string {
	c := x.cfg
	group := int64(c.Heads / c.KVHeads)
	kT := x.op("Transpose", "k_tr", []string{keys}, graph.IntsAttr("perm", []int64{0, 1, 3, 2}))
	v := values
	if x.grouped() {
		q = x.op("Reshape", "q_groups", []string{q, x.vec(0, int64(c.KVHeads), group, -1, int64(c.HeadDim))})
		kT = x.op("Unsqueeze", "k_groups", []string{kT, x.vec(2)})
		v = x.op("Unsqueeze", "v_groups", []string{v, x.vec(2)})
	}
	scores := x.op("Mul", "scores", []string{x.op("MatMul", "qk", []string{q, kT}), x.floatScalar("attn_scale", c.AttnScale)})
	if c.AttnSoftcap > 0 {
		scores = x.softcap(scores, c.AttnSoftcap, "")
	}
	scores = x.op("Where", "masked", []string{mask, scores, x.floatScalar("mask_value", maskValue)})
	probs := x.op("Softmax", "probs", []string{scores}, graph.IntAttr("axis", -1))
	out := x.op("MatMul", "attn", []string{probs, v})
	if x.grouped() {
		out = x.op("Reshape", "attn_heads", []string{out, x.vec(0, int64(c.Heads), -1, int64(c.ValueDim))})
	}
	out = x.op("Transpose", "attn_t", []string{out}, graph.IntsAttr("perm", []int64{0, 2, 1, 3}))
	return x.op("Reshape", "attn_merged", []string{out, x.vec(0, 0, int64(c.Heads*c.ValueDim))})
}
