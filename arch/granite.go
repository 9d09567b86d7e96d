package arch

import "github.com/refit-ml/refit"

// Granite (3.x) is Llama with four scalars: the embeddings are multiplied by
// embedding_multiplier, attention scores use attention_multiplier instead of
// 1/sqrt(head size), each sublayer's output is multiplied by residual_multiplier
// before it is added, and the logits are divided by logits_scaling.
func init() {
	Register(Arch{
		Name:      "granite",
		Classes:   []string{"GraniteForCausalLM"},
		Tensors:   withPrefixes(decoderPrefixes, llamaTensors),
		Skip:      rotarySkip,
		Params:    graniteParams("granite"),
		Transform: llamaTransform,
		Reverse: &Reverse{Class: "GraniteForCausalLM", ModelType: "granite", Untransform: llamaUntransform,
			Config: graniteConfig},
	})
}

func graniteParams(arch string) func(c *Config, md *refit.Metadata) error {
	return func(c *Config, md *refit.Metadata) error {
		p := &params{c: c, md: md, arch: arch}
		decoderParams(p)
		p.set("rope.dimension_count", p.headDim())
		p.optF32("attention.scale", "attention_multiplier")
		p.optF32("embedding_scale", "embedding_multiplier")
		p.optF32("residual_scale", "residual_multiplier")
		p.optF32("logit_scale", "logits_scaling")
		return p.err
	}
}

func graniteConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	metaCopy(md, arch, cfg, "attention.scale", "attention_multiplier", "embedding_scale", "embedding_multiplier",
		"residual_scale", "residual_multiplier", "logit_scale", "logits_scaling")
	return nil
}
