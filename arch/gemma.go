package arch

import (
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Gemma is a Llama layout with GELU gating, tied embeddings, NEOX rotary and RMSNorm
// weights stored as an offset from 1; the converter adds the 1 (ggml multiplies by
// the weight). The sqrt(hidden_size) embedding scale is applied by llama.cpp at run time.
func init() {
	Register(Arch{
		Name:    "gemma",
		Classes: []string{"GemmaForCausalLM", "GemmaModel"},
		Tensors: withPrefixes(decoderPrefixes, llamaTensors),
		// lm_head is tied to embed_tokens; llama.cpp reuses token_embd.
		Skip:      append([]string{"lm_head.weight"}, rotarySkip...),
		Params:    gemmaParams("gemma"),
		Transform: gemmaNorms,
		Reverse: &Reverse{Class: "GemmaForCausalLM", ModelType: "gemma", Tied: true,
			Untransform: gemmaUnnorms, Config: gemmaConfig},
	})
}

// gemmaConfig writes the activation and head size Gemma's config.json carries.
func gemmaConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	cfg["hidden_act"] = "gelu_pytorch_tanh"
	cfg["hidden_activation"] = "gelu_pytorch_tanh"
	metaCopy(md, arch, cfg, "attention.key_length", "head_dim")
	return nil
}

// gemmaUnnorms undoes gemmaNorms.
func gemmaUnnorms(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	if strings.HasSuffix(hf, "norm.weight") {
		return subOne(t)
	}
	return t, nil
}

func gemmaParams(name string) func(c *Config, md *refit.Metadata) error {
	return func(c *Config, md *refit.Metadata) error {
		p := &params{c: c, md: md, arch: name}
		decoderParams(p)
		if !c.Has("head_dim") {
			hd := p.headDim()
			p.set("attention.key_length", hd)
			p.set("attention.value_length", hd)
		}
		return p.err
	}
}

// gemmaNorms adds 1 to every RMSNorm weight.
func gemmaNorms(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	if strings.HasSuffix(hf, "norm.weight") {
		return addOne(t)
	}
	return t, nil
}
