package arch

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Phi-3 fuses Q/K/V into one projection and gate/up into one; llama.cpp keeps both
// fused (attn_qkv, and ffn_up holding gate then up), so tensors are only renamed.
// Long-context variants ("longrope") carry per-dimension rotary factors, written as
// rope_factors_long / rope_factors_short tensors plus an attention factor.
var phi3Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.qkv_proj", "blk.{bid}.attn_qkv"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
	{"layers.{bid}.mlp.gate_up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "phi3",
		Classes: []string{"Phi3ForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, phi3Tensors),
		Skip:    rotarySkip,
		Params:  phi3Params,
		Extra:   phi3RopeFactors,
		Reverse: &Reverse{Class: "Phi3ForCausalLM", ModelType: "phi3", Config: phi3Config,
			Folded: []string{"rope_factors_long.weight", "rope_factors_short.weight"}, Fold: phi3Fold},
	})
}

// phi3Config writes the rotary fraction, original context and sliding window.
func phi3Config(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	metaCopy(md, arch, cfg, "rope.scaling.original_context_length", "original_max_position_embeddings")
	rot, ok1 := MetaInt(md, arch+".rope.dimension_count")
	embd, ok2 := MetaInt(md, arch+".embedding_length")
	heads, ok3 := MetaInt(md, arch+".attention.head_count")
	if ok1 && ok2 && ok3 && heads > 0 && embd > 0 && rot*heads != embd {
		cfg["partial_rotary_factor"] = float64(rot*heads) / float64(embd)
	}
	// 0 marks Phi-4, whose config.json has no sliding window.
	cfg["sliding_window"] = nil
	if sw, ok := MetaInt(md, arch+".attention.sliding_window"); ok && sw > 0 {
		cfg["sliding_window"] = sw
	}
	delete(cfg, "rope_scaling")
	return nil
}

// phi3Fold turns the rotary factor tensors back into a longrope rope_scaling.
func phi3Fold(md refit.Metadata, arch string, ts map[string]*tensor.Tensor, cfg map[string]any) error {
	long, short := ts["rope_factors_long.weight"], ts["rope_factors_short.weight"]
	if long == nil || short == nil {
		return errorf("phi3: rope_factors_long and rope_factors_short come together")
	}
	rs := map[string]any{"type": "longrope"}
	for key, t := range map[string]*tensor.Tensor{"long_factor": long, "short_factor": short} {
		if len(t.Shape) != 1 || t.Shape[0] > 1<<16 {
			return errorf("phi3: %s has shape %v", t.Name, t.Shape)
		}
		v, err := t.Float32s()
		if err != nil {
			return err
		}
		list := make([]json.Number, len(v))
		for i, f := range v {
			list[i] = json.Number(strconv.FormatFloat(float64(f), 'g', -1, 32))
		}
		rs[key] = list
	}
	cfg["rope_scaling"] = rs
	return nil
}

// phi3Rope returns the rotary dimension count, the original context length and the
// rope_scaling object (nil when absent or "default").
func phi3Rope(p *params) (ropeDims, origCtx uint32, rs *Config) {
	embd, err := p.c.Int("hidden_size", "n_embd")
	p.fail(err)
	heads, err := p.c.Int("num_attention_heads", "n_head")
	p.fail(err)
	rot := float32(1)
	if p.c.Has("partial_rotary_factor") {
		rot, err = p.c.Float("partial_rotary_factor")
		p.fail(err)
	}
	if heads == 0 || rot <= 0 || rot > 1 {
		p.errorf("phi3: %d heads, partial_rotary_factor %v", heads, rot)
		return 0, 0, nil
	}
	ropeDims = uint32(rot*float32(embd)) / heads
	rs = ropeObject(p.c)
	if rs != nil && (rs.String("rope_type", "type") == "default" || rs.String("rope_type", "type") == "") && !rs.Has("long_factor") {
		rs = nil
	}
	switch {
	case p.c.Has("original_max_position_embeddings"):
		origCtx, err = p.c.Int("original_max_position_embeddings")
	case rs != nil && rs.Has("original_max_position_embeddings"):
		origCtx, err = rs.Int("original_max_position_embeddings")
	default:
		origCtx, err = p.c.Int("max_position_embeddings", "n_positions")
	}
	p.fail(err)
	return ropeDims, origCtx, rs
}

func phi3Params(c *Config, md *refit.Metadata) error {
	p := &params{c: c, md: md, arch: "phi3"}
	maxPos := p.u32("context_length", "max_position_embeddings", "n_positions")
	ropeDims, origCtx, rs := phi3Rope(p)
	p.set("rope.scaling.original_context_length", origCtx)
	p.u32("embedding_length", "hidden_size", "n_embd")
	p.u32("feed_forward_length", "intermediate_size")
	p.u32("block_count", "num_hidden_layers")
	heads := p.u32("attention.head_count", "num_attention_heads", "n_head")
	kv, err := c.IntOr(heads, "num_key_value_heads", "n_head_kv")
	p.fail(err)
	p.set("attention.head_count_kv", kv)
	p.f32("attention.layer_norm_rms_epsilon", "rms_norm_eps")
	p.set("rope.dimension_count", ropeDims)
	if c.Has("rope_theta") {
		p.f32("rope.freq_base", "rope_theta")
	} else if rp := c.Object("rope_parameters"); rp != nil && rp.Has("rope_theta") {
		v, err := rp.Float("rope_theta")
		p.fail(err)
		p.set("rope.freq_base", v)
	}
	// Zero tells Phi-4 (no sliding window) apart from Phi-3 in llama.cpp.
	sw, err := c.IntOr(0, "sliding_window")
	p.fail(err)
	p.set("attention.sliding_window", sw)
	if rs != nil && p.err == nil {
		scale := float64(maxPos) / float64(max(origCtx, 1))
		attn := 1.0
		switch kind := rs.String("rope_type", "type"); kind {
		case "su", "longrope":
			if scale > 1 && origCtx > 1 {
				attn = math.Sqrt(1 + math.Log(scale)/math.Log(float64(origCtx)))
			}
		case "yarn":
			if scale > 1 {
				attn = 0.1*math.Log(scale) + 1
			}
		default:
			p.fail(refit.Unsupportedf("arch", "phi3: rope_scaling type %q", kind))
		}
		p.set("rope.scaling.attn_factor", float32(attn))
	}
	return p.err
}

// phi3RopeFactors returns the long and short rotary factor tensors of a longrope model.
func phi3RopeFactors(c *Config) ([]*tensor.Tensor, error) {
	p := &params{c: c, md: &refit.Metadata{}, arch: "phi3"}
	ropeDims, _, rs := phi3Rope(p)
	if p.err != nil || rs == nil {
		return nil, p.err
	}
	var out []*tensor.Tensor
	for _, f := range []struct{ key, name string }{{"long_factor", "rope_factors_long.weight"}, {"short_factor", "rope_factors_short.weight"}} {
		v, err := rs.Floats(f.key, 1<<16)
		if err != nil {
			return nil, err
		}
		if len(v) != int(ropeDims/2) {
			return nil, errorf("phi3: rope_scaling %s has %d entries, want %d", f.key, len(v), ropeDims/2)
		}
		t, err := tensor.NewF32(f.name, tensor.Shape{int64(len(v))}, v)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
