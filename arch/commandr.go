package arch

import "github.com/refit-ml/refit"

// Command-R (Cohere): one LayerNorm without bias feeding attention and the SiLU-gated
// MLP in parallel, rotary on interleaved pairs (ggml's own layout: no permutation),
// embeddings tied to the output and logits multiplied by logit_scale. Command-R+
// adds per-head LayerNorms of Q and K.
var commandrTensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
	{"layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
	{"layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
	{"layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "command-r",
		Classes: []string{"CohereForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, commandrTensors),
		// the output head is the embedding matrix
		Skip: append([]string{"lm_head.weight"}, rotarySkip...),
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "command-r"}
			p.u32("context_length", "model_max_length", "max_position_embeddings")
			p.u32("embedding_length", "hidden_size")
			p.u32("block_count", "num_hidden_layers")
			p.u32("feed_forward_length", "intermediate_size")
			heads := p.u32("attention.head_count", "num_attention_heads")
			kv, err := c.IntOr(heads, "num_key_value_heads")
			p.fail(err)
			p.set("attention.head_count_kv", kv)
			p.optF32("rope.freq_base", "rope_theta")
			p.f32("attention.layer_norm_epsilon", "layer_norm_eps")
			p.f32("logit_scale", "logit_scale")
			p.set("rope.scaling.type", "none")
			if rs := ropeObject(c); rs != nil && rs.String("rope_type", "type") != "default" {
				p.fail(refit.Unsupportedf("arch", "command-r: rope scaling"))
			}
			return p.err
		},
		Reverse: &Reverse{Class: "CohereForCausalLM", ModelType: "cohere", Tied: true,
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				delete(cfg, "rms_norm_eps")
				delete(cfg, "rope_scaling")
				metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_eps", "logit_scale", "logit_scale")
				cfg["use_qk_norm"] = has("blk.0.attn_q_norm.weight")
				return nil
			}},
	})
}
