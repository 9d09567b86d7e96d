package arch

import (
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// GPT-2: learned positions, LayerNorm with bias, fused QKV, GELU MLP. Its Conv1D
// layers store weights [in, out]; ggml wants [out, in], so they are transposed.
var gpt2Tensors = []TensorName{
	{"wte", "token_embd"},
	{"wpe", "position_embd"},
	{"ln_f", "output_norm"},
	{"lm_head", "output"},
	{"h.{bid}.ln_1", "blk.{bid}.attn_norm"},
	{"h.{bid}.attn.c_attn", "blk.{bid}.attn_qkv"},
	{"h.{bid}.attn.c_proj", "blk.{bid}.attn_output"},
	{"h.{bid}.ln_2", "blk.{bid}.ffn_norm"},
	{"h.{bid}.mlp.c_fc", "blk.{bid}.ffn_up"},
	{"h.{bid}.mlp.c_proj", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "gpt2",
		Classes: []string{"GPT2LMHeadModel", "GPT2Model"},
		Tensors: withPrefixes([]string{"transformer.", ""}, gpt2Tensors),
		// Causal-mask buffers saved by old transformers versions.
		Skip: []string{
			"transformer.h.{bid}.attn.bias", "h.{bid}.attn.bias",
			"transformer.h.{bid}.attn.masked_bias", "h.{bid}.attn.masked_bias",
		},
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "gpt2"}
			p.u32("block_count", "n_layer", "num_hidden_layers")
			p.u32("context_length", "n_ctx", "n_positions")
			embd := p.u32("embedding_length", "n_embd", "hidden_size")
			ff, err := c.IntOr(4*embd, "n_inner")
			p.fail(err)
			p.set("feed_forward_length", ff)
			p.u32("attention.head_count", "n_head", "num_attention_heads")
			p.f32("attention.layer_norm_epsilon", "layer_norm_epsilon")
			return p.err
		},
		Transform: func(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
			return gpt2Transpose(hf, t)
		},
		Reverse: &Reverse{Class: "GPT2LMHeadModel", ModelType: "gpt2",
			Untransform: func(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
				return gpt2Transpose(hf, t)
			},
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				rename(cfg, "hidden_size", "n_embd", "num_hidden_layers", "n_layer", "num_attention_heads", "n_head",
					"intermediate_size", "n_inner", "max_position_embeddings", "n_positions")
				cfg["n_ctx"] = cfg["n_positions"]
				delete(cfg, "num_key_value_heads")
				delete(cfg, "hidden_act")
				cfg["activation_function"] = "gelu_new"
				metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_epsilon")
				return nil
			}},
	})
}

// gpt2Transpose swaps the dimensions of the Conv1D weights (its own inverse).
func gpt2Transpose(hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
	if len(t.Shape) == 2 && strings.HasSuffix(hf, ".weight") &&
		(strings.Contains(hf, ".c_attn.") || strings.Contains(hf, ".c_proj.") || strings.Contains(hf, ".c_fc.")) {
		return transposeTensor(t)
	}
	return t, nil
}
