package arch

import "github.com/refit-ml/refit"

// StarCoder2: Llama's attention (grouped KV heads, NEOX rotary) with biases on every
// projection, LayerNorms with biases, and a GELU MLP (c_fc, c_proj).
var starcoder2Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
	{"layers.{bid}.mlp.c_fc", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.c_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "starcoder2",
		Classes: []string{"Starcoder2ForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, starcoder2Tensors),
		Skip:    rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "starcoder2"}
			layerNormDecoderParams(p)
			return p.err
		},
		Reverse: &Reverse{Class: "Starcoder2ForCausalLM", ModelType: "starcoder2",
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				delete(cfg, "rms_norm_eps")
				metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "norm_epsilon")
				cfg["hidden_act"] = "gelu_pytorch_tanh"
				cfg["use_bias"] = true
				return nil
			}},
	})
}

// layerNormDecoderParams writes the keys of a decoder with LayerNorm (not RMSNorm).
func layerNormDecoderParams(p *params) {
	p.u32("context_length", "max_position_embeddings")
	p.u32("embedding_length", "hidden_size")
	p.u32("block_count", "num_hidden_layers")
	p.u32("feed_forward_length", "intermediate_size")
	heads := p.u32("attention.head_count", "num_attention_heads")
	kv, err := p.c.IntOr(heads, "num_key_value_heads")
	p.fail(err)
	p.set("attention.head_count_kv", kv)
	p.f32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", "norm_eps")
	p.optF32("rope.freq_base", "rope_theta")
	ropeScaling(p)
}
