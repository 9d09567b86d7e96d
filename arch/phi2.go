package arch

import "github.com/refit-ml/refit"

// Phi-2 runs attention and the MLP in parallel from one LayerNorm (with bias), uses
// partial NEOX rotary, separate Q/K/V projections with biases, a GELU MLP and an
// output head with a bias.
var phi2Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"final_layernorm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.dense", "blk.{bid}.attn_output"},
	{"layers.{bid}.mlp.fc1", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.fc2", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "phi2",
		Classes: []string{"PhiForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, phi2Tensors),
		Skip:    rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "phi2"}
			p.u32("context_length", "max_position_embeddings", "n_positions")
			embd := p.u32("embedding_length", "hidden_size", "n_embd")
			ff, err := c.IntOr(4*embd, "intermediate_size", "n_inner")
			p.fail(err)
			p.set("feed_forward_length", ff)
			p.u32("block_count", "num_hidden_layers", "n_layer")
			heads := p.u32("attention.head_count", "num_attention_heads", "n_head")
			kv, err := c.IntOr(heads, "num_key_value_heads")
			p.fail(err)
			p.set("attention.head_count_kv", kv)
			p.f32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon")
			p.optF32("rope.freq_base", "rope_theta")
			p.set("rope.dimension_count", partialRotary(p, "partial_rotary_factor"))
			if c.Bool(false, "qk_layernorm") {
				p.fail(refit.Unsupportedf("arch", "phi2: qk_layernorm"))
			}
			return p.err
		},
		Reverse: &Reverse{Class: "PhiForCausalLM", ModelType: "phi", Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
			rename(cfg, "rms_norm_eps", "layer_norm_eps")
			metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_eps")
			cfg["hidden_act"] = "gelu_new"
			cfg["partial_rotary_factor"] = rotaryFraction(md, arch)
			return nil
		}},
	})
}

// partialRotary returns the rotary dimensions of a head, head size x the fraction under
// key (1 when absent).
func partialRotary(p *params, key string) uint32 {
	hd := p.headDim()
	if !p.c.Has(key) {
		return hd
	}
	f, err := p.c.Float(key)
	p.fail(err)
	if f <= 0 || f > 1 {
		p.errorf("%s: %s = %v", p.arch, key, f)
		return 0
	}
	return uint32(f * float32(hd))
}

// rotaryFraction is rope.dimension_count / head size, for config.json.
func rotaryFraction(md refit.Metadata, arch string) float64 {
	rot, ok1 := MetaInt(md, arch+".rope.dimension_count")
	embd, ok2 := MetaInt(md, arch+".embedding_length")
	heads, ok3 := MetaInt(md, arch+".attention.head_count")
	if !ok1 || !ok2 || !ok3 || heads <= 0 || embd <= 0 {
		return 1
	}
	return float64(rot) / float64(embd/heads)
}
