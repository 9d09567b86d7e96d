package arch

import (
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Falcon: parallel attention and MLP, LayerNorms with biases, NEOX rotary, no linear
// biases, and a fused QKV projection grouped per KV head (each group: its query heads,
// one key head, one value head), which llama.cpp wants as all queries, all keys, all
// values ("jploski" layout). Falcon-7B has one norm feeding both branches
// (input_layernorm) and one KV head; the "new decoder architecture" (40B, 180B) has
// separate ln_attn and ln_mlp norms and several KV heads.
var falconTensors = []TensorName{
	{"transformer.word_embeddings", "token_embd"},
	{"transformer.ln_f", "output_norm"},
	{"lm_head", "output"},
	{"transformer.h.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"transformer.h.{bid}.ln_mlp", "blk.{bid}.attn_norm"},
	{"transformer.h.{bid}.ln_attn", "blk.{bid}.attn_norm_2"},
	{"transformer.h.{bid}.self_attention.query_key_value", "blk.{bid}.attn_qkv"},
	{"transformer.h.{bid}.self_attention.dense", "blk.{bid}.attn_output"},
	{"transformer.h.{bid}.mlp.dense_h_to_4h", "blk.{bid}.ffn_up"},
	{"transformer.h.{bid}.mlp.dense_4h_to_h", "blk.{bid}.ffn_down"},
}

func init() {
	Register(Arch{
		Name:    "falcon",
		Classes: []string{"FalconForCausalLM", "RWForCausalLM"},
		Tensors: falconTensors,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "falcon"}
			if c.Bool(false, "alibi") || c.Bool(false, "bias") || !c.Bool(true, "parallel_attn") {
				p.fail(refit.Unsupportedf("arch", "falcon: alibi, linear biases or sequential attention"))
			}
			ctx, err := c.IntOr(2048, "max_position_embeddings")
			p.fail(err)
			p.set("context_length", ctx)
			embd := p.u32("embedding_length", "hidden_size")
			ff, err := c.IntOr(4*embd, "ffn_hidden_size")
			p.fail(err)
			p.set("feed_forward_length", ff)
			p.u32("block_count", "num_hidden_layers", "n_layer")
			p.u32("attention.head_count", "num_attention_heads", "n_head")
			kv, err := falconKV(c)
			p.fail(err)
			p.set("attention.head_count_kv", kv)
			p.f32("attention.layer_norm_epsilon", "layer_norm_epsilon")
			p.optF32("rope.freq_base", "rope_theta")
			p.set("tensor_data_layout", "jploski")
			return p.err
		},
		Transform: func(c *Config, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
			if !strings.HasSuffix(t.Name, ".attn_qkv.weight") {
				return t, nil
			}
			heads, err := c.Int("num_attention_heads", "n_head")
			if err != nil {
				return nil, err
			}
			kv, err := falconKV(c)
			if err != nil {
				return nil, err
			}
			order, err := falconOrder(int(heads), int(kv))
			if err != nil {
				return nil, err
			}
			return gatherTensor(t, order)
		},
		Reverse: &Reverse{Class: "FalconForCausalLM", ModelType: "falcon",
			Untransform: func(md refit.Metadata, arch, hf string, t *tensor.Tensor) (*tensor.Tensor, error) {
				heads, ok1 := MetaInt(md, arch+".attention.head_count")
				kv, ok2 := MetaInt(md, arch+".attention.head_count_kv")
				if !ok1 || !ok2 || heads > 1<<20 {
					return nil, errorf("%s: falcon head counts missing", hf)
				}
				if kv > 1 && strings.Contains(hf, ".input_layernorm.") {
					// the new decoder architecture's MLP norm
					x := *t
					x.Name = strings.Replace(hf, ".input_layernorm.", ".ln_mlp.", 1)
					return &x, nil
				}
				if !strings.HasSuffix(hf, ".query_key_value.weight") {
					return t, nil
				}
				order, err := falconOrder(int(heads), int(kv))
				if err != nil {
					return nil, err
				}
				return gatherTensor(t, invertOrder(order))
			},
			Config: falconConfig},
	})
}

// falconKV returns the KV head count: num_kv_heads in the new decoder architecture,
// else 1 (multi-query); old multi-head checkpoints group QKV differently and are refused.
func falconKV(c *Config) (uint32, error) {
	if c.Bool(false, "new_decoder_architecture") {
		return c.Int("num_kv_heads", "n_head_kv")
	}
	if !c.Bool(true, "multi_query") {
		return 0, refit.Unsupportedf("arch", "falcon: multi_query false without the new decoder architecture")
	}
	return 1, nil
}

// falconOrder is the head-row gather that turns per-KV-group QKV rows into all
// queries, then all keys, then all values.
func falconOrder(heads, kv int) ([]int, error) {
	if kv <= 0 || heads <= 0 || heads%kv != 0 {
		return nil, errorf("falcon: %d heads do not split into %d KV groups", heads, kv)
	}
	per := heads/kv + 2 // per group: heads/kv queries, a key, a value
	var order []int
	for g := range kv {
		for q := range heads / kv {
			order = append(order, g*per+q)
		}
	}
	for _, j := range []int{per - 2, per - 1} {
		for g := range kv {
			order = append(order, g*per+j)
		}
	}
	return order, nil
}

func falconConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	delete(cfg, "rms_norm_eps")
	delete(cfg, "num_key_value_heads")
	delete(cfg, "intermediate_size")
	delete(cfg, "hidden_act")
	metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_epsilon", "feed_forward_length", "ffn_hidden_size")
	kv, _ := MetaInt(md, arch+".attention.head_count_kv")
	if kv == 1 && has("blk.0.attn_norm_2.weight") {
		return refit.Unsupportedf("arch", "falcon: separate attention and MLP norms with one KV head")
	}
	cfg["alibi"], cfg["bias"], cfg["parallel_attn"] = false, false, true
	cfg["activation"] = "gelu_new"
	cfg["new_decoder_architecture"] = kv > 1
	cfg["multi_query"] = kv == 1
	cfg["num_kv_heads"] = kv
	return nil
}
