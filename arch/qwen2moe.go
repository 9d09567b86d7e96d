package arch

import "github.com/refit-ml/refit"

// Qwen2-MoE is Qwen2's attention (Q/K/V biases, NEOX rotary) with a mixture-of-experts
// MLP in every block: a softmax router over the experts (the top-k weights are not
// renormalized), plus a shared expert scaled by a sigmoid gate.
var qwenMoETensors = []TensorName{
	{"layers.{bid}.mlp.gate", "blk.{bid}.ffn_gate_inp"},
	{"layers.{bid}.mlp.shared_expert.gate_proj", "blk.{bid}.ffn_gate_shexp"},
	{"layers.{bid}.mlp.shared_expert.up_proj", "blk.{bid}.ffn_up_shexp"},
	{"layers.{bid}.mlp.shared_expert.down_proj", "blk.{bid}.ffn_down_shexp"},
	{"layers.{bid}.mlp.shared_expert_gate", "blk.{bid}.ffn_gate_inp_shexp"},
}

var qwenMoEExperts = []ExpertName{
	{"model.layers.{bid}.mlp.experts.{xid}.gate_proj", "blk.{bid}.ffn_gate_exps"},
	{"model.layers.{bid}.mlp.experts.{xid}.up_proj", "blk.{bid}.ffn_up_exps"},
	{"model.layers.{bid}.mlp.experts.{xid}.down_proj", "blk.{bid}.ffn_down_exps"},
}

func init() {
	Register(Arch{
		Name:        "qwen2moe",
		Classes:     []string{"Qwen2MoeForCausalLM"},
		Tensors:     withPrefixes(decoderPrefixes, append(append([]TensorName{}, qwenMoETensors...), llamaTensors...)),
		Experts:     qwenMoEExperts,
		ExpertCount: []string{"num_experts"},
		Skip:        rotarySkip,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "qwen2moe"}
			decoderParams(p)
			p.optU32("expert_feed_forward_length", "moe_intermediate_size")
			p.optU32("expert_shared_feed_forward_length", "shared_expert_intermediate_size")
			if c.Bool(false, "norm_topk_prob") {
				p.fail(refit.Unsupportedf("arch", "qwen2moe: norm_topk_prob true (llama.cpp does not renormalize)"))
			}
			return p.err
		},
		Reverse: &Reverse{Class: "Qwen2MoeForCausalLM", ModelType: "qwen2_moe", Config: qwenMoEConfig},
	})
}

// qwenMoEConfig writes Qwen's MoE keys.
func qwenMoEConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	rename(cfg, "num_local_experts", "num_experts")
	metaCopy(md, arch, cfg, "expert_feed_forward_length", "moe_intermediate_size",
		"expert_shared_feed_forward_length", "shared_expert_intermediate_size")
	cfg["norm_topk_prob"] = arch == "qwen3moe"
	cfg["decoder_sparse_step"] = 1
	cfg["mlp_only_layers"] = []int{}
	return nil
}
