package arch

import "github.com/refit-ml/refit"

// OLMo 2 normalizes after each sublayer instead of before (post_attention_layernorm
// and post_feedforward_layernorm on the sublayer outputs), RMS-normalizes the whole Q
// and K projections, and uses NEOX rotary.
var olmo2Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
	{"layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm"},
	{"layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm"},
	{"layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
	{"layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "olmo2",
		Classes: []string{"Olmo2ForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, olmo2Tensors),
		Skip:    rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "olmo2"}
			if c.Has("sliding_window") {
				p.fail(refit.Unsupportedf("arch", "olmo2: sliding_window (OLMo 3)"))
			}
			decoderParams(p)
			return p.err
		},
		Reverse: &Reverse{Class: "Olmo2ForCausalLM", ModelType: "olmo2"},
	})
}
