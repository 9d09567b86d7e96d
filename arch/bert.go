package arch

import "github.com/refit-ml/refit"

// BERT: an encoder (bidirectional attention) of post-LayerNorm blocks with learned
// absolute positions and token-type embeddings; llama.cpp returns its hidden states
// as embeddings. Masked-LM and pooler heads are dropped, as llama.cpp's converter
// does.
var bertTensors = []TensorName{
	{"embeddings.word_embeddings", "token_embd"},
	{"embeddings.position_embeddings", "position_embd"},
	{"embeddings.token_type_embeddings", "token_types"},
	{"embeddings.LayerNorm", "token_embd_norm"},
	{"encoder.layer.{bid}.attention.self.query", "blk.{bid}.attn_q"},
	{"encoder.layer.{bid}.attention.self.key", "blk.{bid}.attn_k"},
	{"encoder.layer.{bid}.attention.self.value", "blk.{bid}.attn_v"},
	{"encoder.layer.{bid}.attention.output.dense", "blk.{bid}.attn_output"},
	{"encoder.layer.{bid}.attention.output.LayerNorm", "blk.{bid}.attn_output_norm"},
	{"encoder.layer.{bid}.intermediate.dense", "blk.{bid}.ffn_up"},
	{"encoder.layer.{bid}.output.dense", "blk.{bid}.ffn_down"},
	{"encoder.layer.{bid}.output.LayerNorm", "blk.{bid}.layer_output_norm"},
}

func init() {
	Register(Arch{
		Name:    "bert",
		Classes: []string{"BertModel", "BertForMaskedLM"},
		Tensors: withPrefixes([]string{"", "bert."}, bertTensors),
		Skip: []string{"pooler.dense", "bert.pooler.dense", "embeddings.position_ids", "bert.embeddings.position_ids",
			"cls.predictions.bias", "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
			"cls.predictions.decoder"},
		Params: func(c *Config, md *refit.Metadata) error {
			p := &params{c: c, md: md, arch: "bert"}
			if act := c.String("hidden_act"); act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu" {
				p.fail(refit.Unsupportedf("arch", "bert: hidden_act %q", act))
			}
			if pe := c.String("position_embedding_type"); pe != "" && pe != "absolute" {
				p.fail(refit.Unsupportedf("arch", "bert: position_embedding_type %q", pe))
			}
			encoderParams(p)
			return p.err
		},
		Reverse: &Reverse{Class: "BertModel", ModelType: "bert", Config: encoderConfig},
	})
}

// encoderParams writes the keys of a BERT-like encoder.
func encoderParams(p *params) {
	p.u32("context_length", "max_position_embeddings", "n_positions")
	p.u32("embedding_length", "hidden_size", "n_embd")
	p.u32("feed_forward_length", "intermediate_size", "n_inner")
	p.u32("block_count", "num_hidden_layers", "n_layer")
	heads := p.u32("attention.head_count", "num_attention_heads", "n_head")
	p.set("attention.head_count_kv", heads)
	p.f32("attention.layer_norm_epsilon", "layer_norm_eps", "layer_norm_epsilon")
	p.set("attention.causal", false)
	types, err := p.c.IntOr(1, "type_vocab_size")
	p.fail(err)
	// llama.cpp sizes the token-type embeddings by this vocabulary key
	p.md.Set("tokenizer.ggml.token_type_count", types)
}

func encoderConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	delete(cfg, "rms_norm_eps")
	delete(cfg, "num_key_value_heads")
	delete(cfg, "tie_word_embeddings")
	metaCopy(md, arch, cfg, "attention.layer_norm_epsilon", "layer_norm_eps")
	cfg["hidden_act"] = "gelu_new"
	if n, ok := MetaInt(md, "tokenizer.ggml.token_type_count"); ok {
		cfg["type_vocab_size"] = n
	}
	return nil
}
