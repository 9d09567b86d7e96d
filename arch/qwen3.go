package arch

import "github.com/refit-ml/refit"

// Qwen3 is Qwen2 without Q/K/V biases, with per-head RMSNorm of Q and K and an
// explicit head_dim.
func init() {
	Register(Arch{
		Name:    "qwen3",
		Classes: []string{"Qwen3ForCausalLM", "Qwen3Model"},
		Tensors: withPrefixes(decoderPrefixes, append([]TensorName{
			{"layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
			{"layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
		}, llamaTensors...)),
		Skip:    rotarySkip,
		Reverse: &Reverse{Class: "Qwen3ForCausalLM", ModelType: "qwen3"},
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "qwen3"}
			decoderParams(p)
			return p.err
		},
	})
}
