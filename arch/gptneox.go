package arch

import (
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// GPT-NeoX (Pythia): LayerNorms with biases, a fused QKV projection whose rows are
// grouped per head ([head][q,k,v][dim]) where llama.cpp wants [q,k,v][head][dim],
// partial NEOX rotary, a GELU MLP and (usually) parallel attention and MLP residuals.
var gptneoxTensors = []TensorName{
	{"gpt_neox.embed_in", "token_embd"},
	{"gpt_neox.final_layer_norm", "output_norm"},
	{"embed_out", "output"},
	{"gpt_neox.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"gpt_neox.layers.{bid}.attention.query_key_value", "blk.{bid}.attn_qkv"},
	{"gpt_neox.layers.{bid}.attention.dense", "blk.{bid}.attn_output"},
	{"gpt_neox.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
	{"gpt_neox.layers.{bid}.mlp.dense_h_to_4h", "blk.{bid}.ffn_up"},
	{"gpt_neox.layers.{bid}.mlp.dense_4h_to_h", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "gptneox",
		Classes: []string{"GPTNeoXForCausalLM"},
		Tensors: gptneoxTensors,
		Skip: []string{
			"gpt_neox.layers.{bid}.attention.rotary_emb.inv_freq", "gpt_neox.rotary_emb.inv_freq",
			"gpt_neox.layers.{bid}.attention.bias", "gpt_neox.layers.{bid}.attention.masked_bias",
		},
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "gptneox"}
			p.u32("context_length", "max_position_embeddings")
			p.u32("embedding_length", "hidden_size")
			p.u32("block_count", "num_hidden_layers")
			p.u32("feed_forward_length", "intermediate_size")
			heads := p.u32("attention.head_count", "num_attention_heads")
			p.set("attention.head_count_kv", heads)
			p.set("use_parallel_residual", c.Bool(true, "use_parallel_residual"))
			p.f32("attention.layer_norm_epsilon", "layer_norm_eps")
			if c.Has("rotary_emb_base") {
				p.f32("rope.freq_base", "rotary_emb_base")
			} else {
				p.optF32("rope.freq_base", "rope_theta")
			}
			key := "rotary_pct"
			if !c.Has(key) {
				key = "partial_rotary_factor"
			}
			p.set("rope.dimension_count", partialRotary(p, key))
			return p.err
		},
		Transform: func(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
			if !strings.HasSuffix(t.Name, ".attn_qkv.weight") && !strings.HasSuffix(t.Name, ".attn_qkv.bias") {
				return t, nil
			}
			heads, err := c.Int("num_attention_heads")
			if err != nil {
				return nil, err
			}
			return regroupTensor(t, int(heads), 3)
		},
		Reverse: &Reverse{Class: "GPTNeoXForCausalLM", ModelType: "gpt_neox",
			Untransform: func(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
				if !strings.HasSuffix(hf, ".query_key_value.weight") && !strings.HasSuffix(hf, ".query_key_value.bias") {
					return t, nil
				}
				heads, ok := MetaInt(md, arch+".attention.head_count")
				if !ok || heads <= 0 || heads > 1<<20 {
					return nil, errorf("%s: %s.attention.head_count is missing", hf, arch)
				}
				return regroupTensor(t, 3, int(heads))
			},
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				delete(cfg, "num_key_value_heads")
				delete(cfg, "rms_norm_eps")
				rename(cfg, "rope_theta", "rotary_emb_base")
				metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_eps")
				cfg["hidden_act"] = "gelu_new"
				cfg["rotary_pct"] = rotaryFraction(md, arch)
				cfg["use_parallel_residual"] = true
				if v, ok := md.Get(arch + ".use_parallel_residual"); ok {
					cfg["use_parallel_residual"] = v
				}
				return nil
			}},
	})
}
