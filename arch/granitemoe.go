package arch

// GraniteMoE is Granite with a mixture-of-experts MLP whose experts are stored stacked
// already: input_linear holds gate and up for all experts ([experts, 2 x ffn, embd]),
// split into ffn_gate_exps and ffn_up_exps; output_linear is ffn_down_exps. The
// router takes softmax over the top-k logits, which equals llama.cpp's renormalized
// top-k of the softmax.
func init() {
	Register(Arch{
		Name:    "granitemoe",
		Classes: []string{"GraniteMoeForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, append([]TensorName{
			{"layers.{bid}.block_sparse_moe.router.layer", "blk.{bid}.ffn_gate_inp"},
			{"layers.{bid}.block_sparse_moe.output_linear", "blk.{bid}.ffn_down_exps"},
		}, llamaTensors...)),
		Splits: []SplitName{
			{HF: "model.layers.{bid}.block_sparse_moe.input_linear", GGUF: []string{"blk.{bid}.ffn_gate_exps", "blk.{bid}.ffn_up_exps"}},
		},
		Skip:      rotarySkip,
		Params:    graniteParams("granitemoe"),
		Transform: llamaTransform,
		Reverse: &Reverse{Class: "GraniteMoeForCausalLM", ModelType: "granitemoe", Untransform: llamaUntransform,
			Config: graniteConfig},
	})
}
