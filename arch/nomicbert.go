package arch

import "github.com/refit-ml/refit"

// nomic-bert (nomic-embed-text): a BERT-style post-LayerNorm encoder with NEOX rotary
// instead of learned positions, a fused QKV projection (q, k, v contiguous) and a
// SiLU-gated MLP (fc11 up, fc12 gate, fc2 down), all without biases.
var nomicTensors = []TensorName{
	{"embeddings.word_embeddings", "token_embd"},
	{"embeddings.token_type_embeddings", "token_types"},
	{"emb_ln", "token_embd_norm"},
	{"encoder.layers.{bid}.attn.Wqkv", "blk.{bid}.attn_qkv"},
	{"encoder.layers.{bid}.attn.out_proj", "blk.{bid}.attn_output"},
	{"encoder.layers.{bid}.norm1", "blk.{bid}.attn_output_norm"},
	{"encoder.layers.{bid}.mlp.fc11", "blk.{bid}.ffn_up"},
	{"encoder.layers.{bid}.mlp.fc12", "blk.{bid}.ffn_gate"},
	{"encoder.layers.{bid}.mlp.fc2", "blk.{bid}.ffn_down"},
	{"encoder.layers.{bid}.norm2", "blk.{bid}.layer_output_norm"},
}

func init() {
	Register(Arch{
		Name:    "nomic-bert",
		Classes: []string{"NomicBertModel"},
		Tensors: nomicTensors,
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "nomic-bert"}
			if c.Bool(false, "causal") || c.Bool(false, "prenorm") || c.Bool(false, "rotary_emb_interleaved") ||
				c.Bool(false, "qkv_proj_bias") || c.Bool(false, "mlp_fc1_bias") || c.Bool(false, "mlp_fc2_bias") ||
				c.Has("moe_every_n_layers") {
				p.fail(refit.Unsupportedf("arch", "nomic-bert: causal, prenorm, interleaved rotary, biases or experts"))
			}
			if act := c.String("activation_function"); act != "" && act != "swiglu" {
				p.fail(refit.Unsupportedf("arch", "nomic-bert: activation_function %q", act))
			}
			if f, err := c.Float("rotary_emb_fraction"); err == nil && f != 1 {
				p.fail(refit.Unsupportedf("arch", "nomic-bert: rotary_emb_fraction %v", f))
			}
			encoderParams(p)
			if c.Has("rotary_emb_base") {
				p.f32("rope.freq_base", "rotary_emb_base")
			}
			return p.err
		},
		Reverse: &Reverse{Class: "NomicBertModel", ModelType: "nomic_bert",
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				if err := encoderConfig(md, arch, cfg, has); err != nil {
					return err
				}
				rename(cfg, "hidden_size", "n_embd", "num_hidden_layers", "n_layer", "num_attention_heads", "n_head",
					"intermediate_size", "n_inner", "max_position_embeddings", "n_positions", "rope_theta", "rotary_emb_base",
					"layer_norm_eps", "layer_norm_epsilon")
				delete(cfg, "hidden_act")
				cfg["activation_function"] = "swiglu"
				cfg["rotary_emb_fraction"] = 1.0
				cfg["rotary_emb_interleaved"] = false
				cfg["causal"], cfg["prenorm"] = false, false
				cfg["qkv_proj_bias"], cfg["mlp_fc1_bias"], cfg["mlp_fc2_bias"] = false, false, false
				return nil
			}},
	})
}
