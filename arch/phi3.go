package arch

import "github.com/refit-ml/refit"

// Phi-3 fuses Q/K/V into one projection and gate/up into one; llama.cpp keeps both
// fused (attn_qkv, and ffn_up holding gate then up), so tensors are only renamed.
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
		Params: func(c *Config, md *refit.Metadata) error {
			if rs := c.Object("rope_scaling"); rs != nil {
				return refit.Unsupportedf("arch", "phi3: rope_scaling (long-context factors) is not converted yet")
			}
			p := &params{c: c, md: md, arch: "phi3"}
			p.u32("context_length", "max_position_embeddings")
			orig, err := c.IntOr(0, "original_max_position_embeddings")
			p.fail(err)
			if orig > 0 {
				p.set("rope.scaling.original_context_length", orig)
			}
			p.u32("embedding_length", "hidden_size")
			p.u32("feed_forward_length", "intermediate_size")
			p.u32("block_count", "num_hidden_layers")
			heads := p.u32("attention.head_count", "num_attention_heads")
			kv, err := c.IntOr(heads, "num_key_value_heads")
			p.fail(err)
			p.set("attention.head_count_kv", kv)
			p.f32("attention.layer_norm_rms_epsilon", "rms_norm_eps")
			hd := p.headDim()
			rot := float32(1)
			if c.Has("partial_rotary_factor") {
				rot, err = c.Float("partial_rotary_factor")
				p.fail(err)
			}
			p.set("rope.dimension_count", uint32(rot*float32(hd)))
			theta, err := c.Float("rope_theta")
			if err == nil {
				p.set("rope.freq_base", theta)
			} else if c.Has("rope_theta") {
				p.fail(err)
			}
			p.optU32("attention.sliding_window", "sliding_window")
			return p.err
		},
	})
}
