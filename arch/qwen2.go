package arch

import "github.com/refit-ml/refit"

// Qwen2 is a Llama layout with Q/K/V biases and NEOX (half-split) rotary, which ggml
// computes directly: no permutation.
func init() {
	Register(Arch{
		Name:    "qwen2",
		Classes: []string{"Qwen2ForCausalLM", "Qwen2Model"},
		Tensors: withPrefixes(decoderPrefixes, llamaTensors),
		Skip:    rotarySkip,
		Reverse: &Reverse{Class: "Qwen2ForCausalLM", ModelType: "qwen2"},
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "qwen2"}
			decoderParams(p)
			return p.err
		},
	})
}
