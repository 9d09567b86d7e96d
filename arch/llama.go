package arch

import (
	"math"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// llamaTensors is the decoder layout shared by Llama, Mistral, Qwen2/3 and Gemma:
// separate Q/K/V/O projections and a gated MLP.
var llamaTensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
	{"layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
	{"layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
}

// decoderPrefixes: "model." for *ForCausalLM checkpoints, "" for bare base models.
var decoderPrefixes = []string{"model.", ""}

// rotarySkip drops precomputed rotary buffers some checkpoints store.
var rotarySkip = []string{
	"model.layers.{bid}.self_attn.rotary_emb.inv_freq",
	"layers.{bid}.self_attn.rotary_emb.inv_freq",
	"model.rotary_emb.inv_freq",
}

func init() {
	Register(Arch{
		Name:    "llama",
		Classes: []string{"LlamaForCausalLM", "LlamaModel", "MistralForCausalLM", "MistralModel", "MixtralForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, append([]TensorName{
			{"layers.{bid}.block_sparse_moe.gate", "blk.{bid}.ffn_gate_inp"},
		}, llamaTensors...)),
		Experts: []ExpertName{
			{"model.layers.{bid}.block_sparse_moe.experts.{xid}.w1", "blk.{bid}.ffn_gate_exps"},
			{"model.layers.{bid}.block_sparse_moe.experts.{xid}.w2", "blk.{bid}.ffn_down_exps"},
			{"model.layers.{bid}.block_sparse_moe.experts.{xid}.w3", "blk.{bid}.ffn_up_exps"},
		},
		ExpertCount: []string{"num_local_experts"},
		Skip:        rotarySkip,
		Params:      llamaParams,
		Transform:   llamaTransform,
		Extra:       llama3RopeFreqs,
		Reverse: &Reverse{Class: "LlamaForCausalLM", ModelType: "llama", Untransform: llamaUntransform,
			Folded: []string{"rope_freqs.weight"}, Fold: llama3Fold,
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				if n, _ := MetaInt(md, arch+".expert_count"); n > 1 {
					cfg["architectures"], cfg["model_type"] = []string{"MixtralForCausalLM"}, "mixtral"
				}
				return nil
			}},
	})
}

// decoderParams writes the keys common to Llama-like decoders.
func decoderParams(p *params) {
	p.u32("context_length", "max_position_embeddings", "n_ctx", "n_positions")
	p.u32("embedding_length", "hidden_size", "n_embd")
	p.u32("block_count", "num_hidden_layers", "n_layer")
	p.u32("feed_forward_length", "intermediate_size", "n_inner")
	heads := p.u32("attention.head_count", "num_attention_heads", "n_head")
	if p.c.Has("num_key_value_heads") {
		p.u32("attention.head_count_kv", "num_key_value_heads")
	} else {
		p.set("attention.head_count_kv", heads)
	}
	if p.c.Has("rope_theta") {
		p.f32("rope.freq_base", "rope_theta")
	} else if rp := p.c.Object("rope_parameters"); rp != nil && rp.Has("rope_theta") {
		v, err := rp.Float("rope_theta")
		p.fail(err)
		p.set("rope.freq_base", v)
	}
	p.f32("attention.layer_norm_rms_epsilon", "rms_norm_eps")
	p.optU32("expert_count", "num_local_experts", "num_experts")
	p.optU32("expert_used_count", "num_experts_per_tok")
	if p.c.Has("head_dim") {
		p.u32("attention.key_length", "head_dim")
		p.u32("attention.value_length", "head_dim")
	}
	ropeScaling(p)
}

// ropeScaling writes linear and YaRN rope scaling; other kinds are refused rather
// than silently converted into a model that computes something else.
func ropeScaling(p *params) {
	rs := ropeObject(p.c)
	if rs == nil {
		return
	}
	kind := rs.String("rope_type", "type")
	switch kind {
	case "", "default":
	case "llama3":
		if p.arch != "llama" {
			p.fail(refit.Unsupportedf("arch", "%s: rope_scaling type llama3", p.arch))
		}
		// carried by the rope_freqs tensor (llama3RopeFreqs)
	case "linear":
		f, err := rs.Float("factor")
		p.fail(err)
		p.set("rope.scaling.type", "linear")
		p.set("rope.scaling.factor", f)
	case "yarn":
		f, err := rs.Float("factor")
		p.fail(err)
		orig, err := rs.Int("original_max_position_embeddings")
		p.fail(err)
		p.set("rope.scaling.type", "yarn")
		p.set("rope.scaling.factor", f)
		p.set("rope.scaling.original_context_length", orig)
	default:
		p.fail(refit.Unsupportedf("arch", "%s: rope_scaling type %q", p.arch, kind))
	}
}

func llamaParams(c *Config, md *refit.Metadata) error {
	p := &params{c: c, md: md, arch: "llama"}
	decoderParams(p)
	p.u32("vocab_size", "vocab_size")
	p.set("rope.dimension_count", p.headDim())
	return p.err
}

// llamaTransform permutes Q and K rows into ggml's interleaved rotary layout.
func llamaTransform(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	var headsKey []string
	switch {
	case strings.HasSuffix(t.Name, ".attn_q.weight"), strings.HasSuffix(t.Name, ".attn_q.bias"):
		headsKey = []string{"num_attention_heads"}
	case strings.HasSuffix(t.Name, ".attn_k.weight"), strings.HasSuffix(t.Name, ".attn_k.bias"):
		headsKey = []string{"num_key_value_heads", "num_attention_heads"}
	default:
		return t, nil
	}
	heads, err := c.Int(headsKey...)
	if err != nil {
		return nil, err
	}
	return permuteTensor(t, int(heads))
}

// ropeObject returns rope_scaling, or rope_parameters (newer transformers), or nil.
func ropeObject(c *Config) *Config {
	if rs := c.Object("rope_scaling"); rs != nil {
		return rs
	}
	return c.Object("rope_parameters")
}

// llama3RopeFreqs computes Llama 3's per-dimension rotary frequency divisors
// (rope_type "llama3"), which llama.cpp reads from a rope_freqs tensor: 1 for short
// wavelengths, factor for long ones, and a smooth blend between.
func llama3RopeFreqs(c *Config) ([]*tensor.Tensor, error) {
	rs := ropeObject(c)
	if rs == nil || rs.String("rope_type", "type") != "llama3" {
		return nil, nil
	}
	p := &params{c: c, md: &refit.Metadata{}, arch: "llama"}
	dim := p.headDim()
	if p.err != nil {
		return nil, p.err
	}
	get := func(cfg *Config, def float64, keys ...string) float64 {
		if !cfg.Has(keys...) {
			return def
		}
		v, err := cfg.Float(keys...)
		p.fail(err)
		return float64(v)
	}
	base := get(c, get(rs, 10000, "rope_theta"), "rope_theta")
	factor := get(rs, 8, "factor")
	low := get(rs, 1, "low_freq_factor")
	high := get(rs, 4, "high_freq_factor")
	oldCtx := get(rs, 8192, "original_max_position_embeddings")
	if p.err != nil {
		return nil, p.err
	}
	if dim == 0 || dim%2 != 0 || dim > 1<<16 || high == low || factor == 0 {
		return nil, errorf("llama3 rope scaling: head size %d, factor %v, low %v, high %v", dim, factor, low, high)
	}
	out := llama3Factors(base, factor, low, high, oldCtx, int(dim))
	t, err := tensor.NewF32("rope_freqs.weight", tensor.Shape{int64(len(out))}, out)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{t}, nil
}

// llama3Factors computes the rope_freqs divisors for head size dim.
func llama3Factors(base, factor, low, high, oldCtx float64, dim int) []float32 {
	lowWavelen, highWavelen := oldCtx/low, oldCtx/high
	out := make([]float32, dim/2)
	for i := range out {
		// float32 as the reference converter computes the frequencies
		freq := float64(float32(1 / math.Pow(base, float64(2*i)/float64(dim))))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(factor)
		default:
			smooth := (oldCtx/wavelen - low) / (high - low)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// llama3Fold turns a rope_freqs tensor back into Llama 3's rope_scaling. GGUF keeps
// only the divisors, so the parameters are found by search over the values released
// models use (factor: the largest divisor; frequency factors and original context:
// powers of two) and accepted only when they recompute the tensor bit for bit. Other
// parameter sets that give the same tensor are equivalent for llama.cpp.
func llama3Fold(md refit.Metadata, arch string, ts map[string]*tensor.Tensor, cfg map[string]any) error {
	t := ts["rope_freqs.weight"]
	dim, ok := MetaInt(md, arch+".rope.dimension_count")
	if t == nil || !ok || len(t.Shape) != 1 || dim <= 0 || dim > 1<<16 || t.Shape[0] != dim/2 {
		return errorf("llama: rope_freqs does not match rope.dimension_count")
	}
	want, err := t.Float32s()
	if err != nil {
		return err
	}
	base := 10000.0
	if v, ok := md.Get(arch + ".rope.freq_base"); ok {
		if f, ok := v.(float32); ok {
			base = float64(f)
		}
	}
	factor := float32(0)
	for _, v := range want {
		factor = max(factor, v)
	}
	// Meta's values (1, 4, 8192) first, so that they are the ones found when equivalent
	// sets exist (only low/context and high/context matter).
	lows := []float64{1, 0.5, 2, 0.25, 4, 8}
	highs := []float64{4, 2, 8, 1, 16, 32, 64, 0.5}
	ctxs := []float64{8192, 4096, 2048, 16384, 32768, 65536, 131072}
	for c := 64.0; c <= 1<<20; c *= 2 {
		if !slices.Contains(ctxs, c) {
			ctxs = append(ctxs, c)
		}
	}
	for _, low := range lows {
		for _, high := range highs {
			if high <= low {
				continue
			}
			for _, ctx := range ctxs {
				got := llama3Factors(base, float64(factor), low, high, ctx, int(dim))
				if slices.Equal(got, want) {
					cfg["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": float64(factor),
						"low_freq_factor": low, "high_freq_factor": high, "original_max_position_embeddings": int64(ctx)}
					return nil
				}
			}
		}
	}
	return refit.Unsupportedf("arch", "llama: rope_freqs matches no Llama 3 rope_scaling parameters searched")
}
