package arch

import "github.com/refit-ml/refit"

// Gemma 2 adds norms after attention and after the MLP, logit soft-capping and
// alternating sliding-window attention.
var gemma2Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm"},
	{"layers.{bid}.pre_feedforward_layernorm", "blk.{bid}.ffn_norm"},
	{"layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm"},
	{"layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
	{"layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "gemma2",
		Classes: []string{"Gemma2ForCausalLM", "Gemma2Model"},
		Tensors: withPrefixes(decoderPrefixes, gemma2Tensors),
		// lm_head is tied to embed_tokens; llama.cpp reuses token_embd.
		Skip: append([]string{"lm_head.weight"}, rotarySkip...),
		Params: func(c *Config, md *refit.Metadata) error {
			if err := gemmaParams("gemma2")(c, md); err != nil {
				return err
			}
			p := &params{c: c, md: md, arch: "gemma2"}
			p.optF32("attn_logit_softcapping", "attn_logit_softcapping")
			p.optF32("final_logit_softcapping", "final_logit_softcapping")
			p.optU32("attention.sliding_window", "sliding_window")
			return p.err
		},
		Transform: gemmaNorms,
		Reverse: &Reverse{Class: "Gemma2ForCausalLM", ModelType: "gemma2", Tied: true, Untransform: gemmaUnnorms,
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				if err := gemmaConfig(md, arch, cfg, has); err != nil {
					return err
				}
				metaCopy(md, arch, cfg, "attn_logit_softcapping", "attn_logit_softcapping",
					"final_logit_softcapping", "final_logit_softcapping", "attention.sliding_window", "sliding_window",
					// llama.cpp scales queries by 1/sqrt(head size)
					"attention.key_length", "query_pre_attn_scalar")
				return nil
			}},
	})
}
