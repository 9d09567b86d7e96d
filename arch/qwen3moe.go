package arch

import "github.com/refit-ml/refit"

// Qwen3-MoE is Qwen3's attention (per-head Q/K RMSNorm, no biases) with a
// mixture-of-experts MLP in every block: softmax router, top-k weights renormalized,
// no shared expert.
func init() {
	Register(Arch{
		Name:    "qwen3moe",
		Classes: []string{"Qwen3MoeForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, append([]TensorName{
			{"layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
			{"layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
			{"layers.{bid}.mlp.gate", "blk.{bid}.ffn_gate_inp"},
		}, llamaTensors...)),
		Experts:     qwenMoEExperts,
		ExpertCount: []string{"num_experts"},
		Skip:        rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "qwen3moe"}
			decoderParams(p)
			p.optU32("expert_feed_forward_length", "moe_intermediate_size")
			if !c.Bool(true, "norm_topk_prob") {
				p.fail(refit.Unsupportedf("arch", "qwen3moe: norm_topk_prob false (llama.cpp renormalizes)"))
			}
			return p.err
		},
		Reverse: &Reverse{Class: "Qwen3MoeForCausalLM", ModelType: "qwen3_moe", Config: qwenMoEConfig},
	})
}
