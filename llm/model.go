package llm

import (
	"fmt"
	"io"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/tensor"
)

// Options configure Load and the sessions of a model. The zero value means defaults.
type Options struct {
	// Threads bounds the goroutines of each forward pass (<= 0: GOMAXPROCS).
	Threads int
	// Budget is charged for weights read into memory (when the source is not mapped),
	// for KV caches and activations. nil means no limit.
	Budget *refit.Budget
}

// layer holds one transformer block's weights; optional ones are nil.
type layer struct {
	attnNorm, qNorm, kNorm, postAttnNorm []float32
	ffnNorm, postFFNNorm                 []float32
	attnNormBias, ffnNormBias            []float32 // LayerNorm biases (nil: RMSNorm)
	oBias, upBias, downBias              []float32
	plainFFN                             bool // down(act(up·h)) without a gate (starcoder2)
	q, k, v, qkv, o                      *matrix
	qBias, kBias, vBias, qkvBias         []float32
	gate, up, down                       *matrix // up holds gate and up stacked when gate is nil (phi3)
	router                               *matrix
	gateExps, upExps, downExps           []*matrix
	// shared expert (qwen2moe): every token runs it, scaled by sigmoid(shexpGate·h)
	gateShexp, upShexp, downShexp *matrix
	shexpGate                     []float32
}

// Model is a decoder LLM ready to run. It is safe for concurrent use by several
// Sessions.
type Model struct {
	Config     Config
	Metadata   refit.Metadata
	opts       Options
	embed      *matrix
	output     *matrix
	outputNorm []float32
	outputBias []float32 // LayerNorm bias of the output norm, nil for RMSNorm
	headBias   []float32 // output.bias (phi2), nil when absent
	ropeFreqs  []float32 // per rotary pair divisor (llama3's rope_freqs), nil when absent
	// LongRoPE's per pair divisors (phi3): a session longer than Config.RopeOrigCtx
	// uses the long ones, as llama.cpp chooses by its context size.
	ropeLong, ropeShort []float32
	layers              []layer
}

// mapped is implemented by memory-mapped sources (refit.MappedFile).
type mapped interface{ Bytes() []byte }

// Load reads a GGUF model from r. When r has a Bytes method returning the whole file
// (a memory mapping), weights are used in place; otherwise they are read into memory.
func Load(r io.ReaderAt, size int64, opts *Options) (*Model, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	f, err := gguf.ParseBudget(r, size, o.Budget)
	if err != nil {
		return nil, err
	}
	var whole []byte
	if mp, ok := r.(mapped); ok && int64(len(mp.Bytes())) == size {
		whole = mp.Bytes()
	}
	md := refit.Metadata{}
	for _, kv := range f.KVs {
		md.Set(kv.Key, kv.Value)
	}
	infos := map[string]*gguf.TensorInfo{}
	for i := range f.Tensors {
		infos[f.Tensors[i].Name] = &f.Tensors[i]
	}
	l := &loader{f: f, r: r, whole: whole, infos: infos, budget: o.Budget}
	m := &Model{Metadata: md, opts: o}
	m.embed = l.matrix("token_embd.weight", -1, -1)
	if l.err != nil {
		return nil, l.err
	}
	cfg, err := ConfigFromMetadata(md, m.embed.Rows)
	if err != nil {
		return nil, err
	}
	m.Config = *cfg
	c := &m.Config
	if m.embed.Cols != c.Embed {
		return nil, formatf("token_embd.weight has %d columns, want %d", m.embed.Cols, c.Embed)
	}
	m.outputNorm = l.vector("output_norm.weight", c.Embed)
	if c.NormBias {
		m.outputBias = l.vector("output_norm.bias", c.Embed)
	}
	if _, ok := infos["output.weight"]; ok {
		m.output = l.matrix("output.weight", c.Vocab, c.Embed)
	} else {
		m.output = m.embed
	}
	if _, ok := infos["output.bias"]; ok {
		m.headBias = l.vector("output.bias", c.Vocab)
	}
	if _, ok := infos["rope_freqs.weight"]; ok {
		m.ropeFreqs = l.vector("rope_freqs.weight", c.RopeDims/2)
	}
	_, long := infos["rope_factors_long.weight"]
	_, short := infos["rope_factors_short.weight"]
	switch {
	case long != short:
		return nil, formatf("model has only one of rope_factors_long and rope_factors_short")
	case long && m.ropeFreqs != nil:
		return nil, formatf("model has both rope_freqs and LongRoPE factors")
	case long:
		m.ropeLong = l.vector("rope_factors_long.weight", c.RopeDims/2)
		m.ropeShort = l.vector("rope_factors_short.weight", c.RopeDims/2)
	}
	qDim, kvDim, vDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim, c.KVHeads*c.ValueDim
	m.layers = make([]layer, c.Layers)
	for i := range m.layers {
		L := &m.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		has := func(n string) bool { _, ok := infos[p+n]; return ok }
		postOnly := c.Arch == "olmo2" // normalizes block outputs only
		if !postOnly {
			L.attnNorm = l.vector(p+"attn_norm.weight", c.Embed)
		}
		if c.NormBias {
			L.attnNormBias = l.vector(p+"attn_norm.bias", c.Embed)
			if !c.Parallel {
				L.ffnNormBias = l.vector(p+"ffn_norm.bias", c.Embed)
			}
		}
		if c.LayerNorm && has("attn_q_norm.weight") {
			return nil, unsupportedf("%s with Q/K LayerNorms (StableLM 2 12B, Command R+)", c.Arch)
		}
		if has("attn_qkv.weight") {
			L.qkv = l.matrix(p+"attn_qkv.weight", qDim+kvDim+vDim, c.Embed)
			if has("attn_qkv.bias") { // phi2 as llama.cpp's converter writes it
				L.qkvBias = l.vector(p+"attn_qkv.bias", qDim+kvDim+vDim)
			}
		} else {
			L.q = l.matrix(p+"attn_q.weight", qDim, c.Embed)
			L.k = l.matrix(p+"attn_k.weight", kvDim, c.Embed)
			L.v = l.matrix(p+"attn_v.weight", vDim, c.Embed)
		}
		if has("attn_q.bias") {
			L.qBias = l.vector(p+"attn_q.bias", qDim)
			L.kBias = l.vector(p+"attn_k.bias", kvDim)
			L.vBias = l.vector(p+"attn_v.bias", vDim)
		}
		switch {
		case !has("attn_q_norm.weight"):
		case !postOnly: // per head
			L.qNorm = l.vector(p+"attn_q_norm.weight", c.HeadDim)
			L.kNorm = l.vector(p+"attn_k_norm.weight", c.HeadDim)
		default: // over the whole projection (olmo2)
			L.qNorm = l.vector(p+"attn_q_norm.weight", qDim)
			L.kNorm = l.vector(p+"attn_k_norm.weight", kvDim)
		}
		L.o = l.matrix(p+"attn_output.weight", c.Embed, c.Heads*c.ValueDim)
		if has("attn_output.bias") {
			L.oBias = l.vector(p+"attn_output.bias", c.Embed)
		}
		if postOnly || has("post_attention_norm.weight") {
			L.postAttnNorm = l.vector(p+"post_attention_norm.weight", c.Embed)
		}
		if postOnly || has("post_ffw_norm.weight") {
			L.postFFNNorm = l.vector(p+"post_ffw_norm.weight", c.Embed)
		}
		if !postOnly && !c.Parallel {
			L.ffnNorm = l.vector(p+"ffn_norm.weight", c.Embed)
		}
		switch {
		case c.Experts > 0:
			L.router = l.matrix(p+"ffn_gate_inp.weight", c.Experts, c.Embed)
			L.gateExps = l.experts(p+"ffn_gate_exps.weight", c.Experts, c.ExpertFF, c.Embed)
			L.upExps = l.experts(p+"ffn_up_exps.weight", c.Experts, c.ExpertFF, c.Embed)
			L.downExps = l.experts(p+"ffn_down_exps.weight", c.Experts, c.Embed, c.ExpertFF)
			if has("ffn_up_shexp.weight") {
				L.upShexp = l.matrix(p+"ffn_up_shexp.weight", -1, c.Embed)
				L.gateShexp = l.matrix(p+"ffn_gate_shexp.weight", L.upShexp.Rows, c.Embed)
				L.downShexp = l.matrix(p+"ffn_down_shexp.weight", c.Embed, L.upShexp.Rows)
				L.shexpGate = l.vector(p+"ffn_gate_inp_shexp.weight", c.Embed)
			}
		case has("ffn_gate.weight"):
			L.gate = l.matrix(p+"ffn_gate.weight", c.FF, c.Embed)
			L.up = l.matrix(p+"ffn_up.weight", c.FF, c.Embed)
			L.down = l.matrix(p+"ffn_down.weight", c.Embed, c.FF)
		case c.Arch != "phi3": // no gate (starcoder2)
			L.plainFFN = true
			L.up = l.matrix(p+"ffn_up.weight", c.FF, c.Embed)
			L.down = l.matrix(p+"ffn_down.weight", c.Embed, c.FF)
			if has("ffn_up.bias") {
				L.upBias = l.vector(p+"ffn_up.bias", c.FF)
				L.downBias = l.vector(p+"ffn_down.bias", c.Embed)
			}
		default: // gate and up stacked in one matrix (phi3)
			L.up = l.matrix(p+"ffn_up.weight", 2*c.FF, c.Embed)
			L.down = l.matrix(p+"ffn_down.weight", c.Embed, c.FF)
		}
		if l.err != nil {
			return nil, l.err
		}
	}
	if l.err != nil {
		return nil, l.err
	}
	return m, nil
}

type loader struct {
	f      *gguf.File
	r      io.ReaderAt
	whole  []byte
	infos  map[string]*gguf.TensorInfo
	budget *refit.Budget
	err    error
}

func (l *loader) fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// bytes returns the tensor's data, a view of the mapping or a copy read from r.
func (l *loader) bytes(ti *gguf.TensorInfo) []byte {
	size, err := ti.Size()
	if err != nil {
		l.fail(formatf("tensor %s: %v", ti.Name, err))
		return nil
	}
	off := l.f.DataOffset + int64(ti.Offset)
	if l.whole != nil {
		if off < 0 || off+size > int64(len(l.whole)) {
			l.fail(formatf("tensor %s lies outside the file", ti.Name))
			return nil
		}
		return l.whole[off : off+size : off+size]
	}
	if err := l.budget.Charge(size, "model weights"); err != nil {
		l.fail(err)
		return nil
	}
	b := make([]byte, size)
	if err := refit.ReadFullAt(l.r, b, off); err != nil {
		l.fail(fmt.Errorf("llm: reading tensor %s: %w", ti.Name, err))
		return nil
	}
	return b
}

func (l *loader) info(name string) *gguf.TensorInfo {
	ti, ok := l.infos[name]
	if !ok {
		l.fail(formatf("model has no tensor %s", name))
		return nil
	}
	return ti
}

// matrix loads a 2-D weight of rows x cols (ggml shape [cols, rows]); -1 accepts any.
func (l *loader) matrix(name string, rows, cols int) *matrix {
	ti := l.info(name)
	if ti == nil {
		return &matrix{}
	}
	if len(ti.Shape) != 2 || (cols >= 0 && ti.Shape[0] != int64(cols)) || (rows >= 0 && ti.Shape[1] != int64(rows)) {
		l.fail(formatf("tensor %s has shape %v, want [%d %d]", name, ti.Shape, cols, rows))
		return &matrix{}
	}
	if ti.Shape[0] > maxDim || ti.Shape[1] > 1<<24 || ti.Shape[0] == 0 || ti.Shape[1] == 0 {
		l.fail(formatf("tensor %s has shape %v", name, ti.Shape))
		return &matrix{}
	}
	return l.slab(ti, name, int(ti.Shape[1]), int(ti.Shape[0]), 0, 1)
}

// slab makes matrix number idx of n stacked in tensor ti.
func (l *loader) slab(ti *gguf.TensorInfo, name string, rows, cols, idx, n int) *matrix {
	d := ti.Type.DType()
	if !usable(d) {
		l.fail(unsupportedf("tensor %s has type %v", name, ti.Type))
		return &matrix{}
	}
	if cols%d.BlockSize() != 0 {
		l.fail(formatf("tensor %s: %d columns are not a multiple of %d", name, cols, d.BlockSize()))
		return &matrix{}
	}
	rowBytes := cols / d.BlockSize() * d.TypeSize()
	data := l.bytes(ti)
	if l.err != nil {
		return &matrix{}
	}
	per := rows * rowBytes
	if len(data) != per*n {
		l.fail(formatf("tensor %s has %d bytes, want %d", name, len(data), per*n))
		return &matrix{}
	}
	return &matrix{DType: d, Rows: rows, Cols: cols, RowBytes: rowBytes, Data: data[idx*per : (idx+1)*per]}
}

// experts loads a 3-D [n][rows][cols] tensor as n matrices.
func (l *loader) experts(name string, n, rows, cols int) []*matrix {
	ti := l.info(name)
	if ti == nil {
		return nil
	}
	if len(ti.Shape) != 3 || ti.Shape[0] != int64(cols) || ti.Shape[1] != int64(rows) || ti.Shape[2] != int64(n) {
		l.fail(formatf("tensor %s has shape %v, want [%d %d %d]", name, ti.Shape, cols, rows, n))
		return nil
	}
	out := make([]*matrix, n)
	for e := range out {
		out[e] = l.slab(ti, name, rows, cols, e, n)
	}
	return out
}

// vector loads a float tensor of n values ([n], or [n, 1] for a one-output
// projection) as float32.
func (l *loader) vector(name string, n int) []float32 {
	ti := l.info(name)
	if ti == nil {
		return make([]float32, n)
	}
	if len(ti.Shape) == 0 || len(ti.Shape) > 2 || ti.Shape[0] != int64(n) || (len(ti.Shape) == 2 && ti.Shape[1] != 1) {
		l.fail(formatf("tensor %s has shape %v, want [%d]", name, ti.Shape, n))
		return make([]float32, n)
	}
	d := ti.Type.DType()
	data := l.bytes(ti)
	if l.err != nil {
		return make([]float32, n)
	}
	out := make([]float32, n)
	if err := tensor.ToFloat32(out, data, d); err != nil {
		l.fail(formatf("tensor %s: %v", name, err))
	}
	return out
}

// usable reports whether matrices of type d can be decoded row by row.
func usable(d tensor.DType) bool {
	switch d {
	case tensor.F32, tensor.F16, tensor.BF16:
		return true
	case tensor.Invalid:
		return false
	}
	if !d.Quantized() {
		return false
	}
	probe := make([]float32, d.BlockSize())
	return tensor.Dequantize(probe, make([]byte, d.TypeSize()), d, 1) == nil
}
