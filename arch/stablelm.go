package arch

import "github.com/refit-ml/refit"

// StableLM (2): LayerNorms with biases, partial NEOX rotary, optional Q/K/V biases, a
// SiLU-gated MLP and sequential residuals. The 12B variant's per-head Q/K norms and
// parallel residual are refused.
var stablelmTensors = []TensorName{
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

func init() {
	Register(Arch{
		Name:    "stablelm",
		Classes: []string{"StableLmForCausalLM", "StableLMEpochForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, stablelmTensors),
		Skip:    rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "stablelm"}
			if c.Bool(false, "qk_layernorm") || c.Bool(false, "use_parallel_residual") {
				p.fail(refit.Unsupportedf("arch", "stablelm: qk_layernorm or use_parallel_residual (StableLM 2 12B)"))
			}
			layerNormDecoderParams(p)
			key := "partial_rotary_factor"
			if !c.Has(key) {
				key = "rope_pct"
			}
			p.set("rope.dimension_count", partialRotary(p, key))
			p.set("use_parallel_residual", false)
			return p.err
		},
		Reverse: &Reverse{Class: "StableLmForCausalLM", ModelType: "stablelm",
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				delete(cfg, "rms_norm_eps")
				metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_eps")
				cfg["partial_rotary_factor"] = rotaryFraction(md, arch)
				cfg["use_parallel_residual"] = false
				cfg["qk_layernorm"] = false
				cfg["use_qkv_bias"] = has("blk.0.attn_q.bias")
				return nil
			}},
	})
}
