package arch

import (
	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// DeepSeek-V2/V3: multi-head latent attention (MLA) and a mixture of experts.
// Queries come from q_proj, or through a low-rank q_a_proj / q_a_layernorm / q_b_proj;
// keys and values from one compressed latent (kv_a_proj_with_mqa, whose last
// qk_rope_head_dim outputs are a rotary key shared by all heads) expanded by kv_b_proj.
// llama.cpp's absorbed MLA wants kv_b_proj split per head into attn_k_b (the key part,
// transposed) and attn_v_b. Rotary is on interleaved pairs, ggml's own layout. The
// first first_k_dense_replace blocks have a dense MLP; the rest route among
// n_routed_experts (softmax for V2, sigmoid with a score-correction bias for V3) plus
// n_shared_experts always-on experts.
var deepseek2Tensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.q_a_proj", "blk.{bid}.attn_q_a"},
	{"layers.{bid}.self_attn.q_a_layernorm", "blk.{bid}.attn_q_a_norm"},
	{"layers.{bid}.self_attn.q_b_proj", "blk.{bid}.attn_q_b"},
	{"layers.{bid}.self_attn.kv_a_proj_with_mqa", "blk.{bid}.attn_kv_a_mqa"},
	{"layers.{bid}.self_attn.kv_a_layernorm", "blk.{bid}.attn_kv_a_norm"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
	{"layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
	{"layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
	{"layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
	{"layers.{bid}.mlp.gate", "blk.{bid}.ffn_gate_inp"},
	{"layers.{bid}.mlp.gate.e_score_correction_bias", "blk.{bid}.exp_probs_b.bias"},
	{"layers.{bid}.mlp.shared_experts.gate_proj", "blk.{bid}.ffn_gate_shexp"},
	{"layers.{bid}.mlp.shared_experts.up_proj", "blk.{bid}.ffn_up_shexp"},
	{"layers.{bid}.mlp.shared_experts.down_proj", "blk.{bid}.ffn_down_shexp"},
}

func init() {
	Register(Arch{
		Name:        "deepseek2",
		Classes:     []string{"DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"},
		Tensors:     withPrefixes(decoderPrefixes, deepseek2Tensors),
		Experts:     qwenMoEExperts,
		ExpertCount: []string{"n_routed_experts"},
		Splits: []SplitName{{HF: "model.layers.{bid}.self_attn.kv_b_proj",
			GGUF: []string{"blk.{bid}.attn_k_b", "blk.{bid}.attn_v_b"}, Split: deepseekSplitKVB, Join: deepseekJoinKVB}},
		Skip:    rotarySkip,
		Params:  deepseek2Params,
		Reverse: &Reverse{Class: "DeepseekV2ForCausalLM", ModelType: "deepseek_v2", Config: deepseek2Config},
	})
}

func deepseek2Params(c *Config, md *refit.Metadata) error {
	p := &params{c: c, md: md, arch: "deepseek2"}
	if rs := ropeObject(c); rs != nil && rs.String("rope_type", "type") != "default" && rs.String("rope_type", "type") != "" {
		p.fail(refit.Unsupportedf("arch", "deepseek2: rope scaling %q", rs.String("rope_type", "type")))
	}
	if c.Has("num_nextn_predict_layers") {
		if n, err := c.Int("num_nextn_predict_layers"); err != nil || n > 0 {
			p.fail(refit.Unsupportedf("arch", "deepseek2: multi-token prediction layers"))
		}
	}
	p.u32("context_length", "max_position_embeddings")
	p.u32("embedding_length", "hidden_size")
	blocks := p.u32("block_count", "num_hidden_layers")
	p.u32("feed_forward_length", "intermediate_size")
	p.u32("attention.head_count", "num_attention_heads")
	p.set("attention.head_count_kv", uint32(1)) // MLA runs as multi-query over the latent
	p.f32("rope.freq_base", "rope_theta")
	eps := float32(1e-6)
	if c.Has("rms_norm_eps") {
		v, err := c.Float("rms_norm_eps")
		p.fail(err)
		eps = v
	}
	p.set("attention.layer_norm_rms_epsilon", eps)
	p.u32("vocab_size", "vocab_size")
	moe := c.Has("n_routed_experts")
	dense, err := c.IntOr(0, "first_k_dense_replace")
	p.fail(err)
	if !moe {
		dense = blocks
	}
	p.set("leading_dense_block_count", dense)
	q, err := c.IntOr(0, "q_lora_rank") // llama.cpp requires the key; 0 means q_proj
	p.fail(err)
	p.set("attention.q_lora_rank", q)
	r, err := c.IntOr(512, "kv_lora_rank")
	p.fail(err)
	rope := p.u32("rope.dimension_count", "qk_rope_head_dim")
	nope, err := c.Int("qk_nope_head_dim")
	p.fail(err)
	v, err := c.Int("v_head_dim")
	p.fail(err)
	p.set("attention.kv_lora_rank", r)
	p.set("attention.key_length", r+rope)
	p.set("attention.value_length", r)
	p.set("attention.key_length_mla", nope+rope)
	p.set("attention.value_length_mla", v)
	p.u32("expert_feed_forward_length", "moe_intermediate_size", "intermediate_size")
	if moe {
		p.u32("expert_count", "n_routed_experts")
		p.u32("expert_used_count", "num_experts_per_tok")
	}
	shared, err := c.IntOr(0, "n_shared_experts")
	p.fail(err)
	p.set("expert_shared_count", shared)
	p.optF32("expert_weights_scale", "routed_scaling_factor")
	if c.Bool(false, "norm_topk_prob") {
		p.set("expert_weights_norm", true)
	}
	switch s := c.String("scoring_func"); s {
	case "", "softmax":
		p.set("expert_gating_func", uint32(1))
	case "sigmoid":
		p.set("expert_gating_func", uint32(2))
	default:
		p.fail(refit.Unsupportedf("arch", "deepseek2: scoring_func %q", s))
	}
	if m := c.String("topk_method"); m != "" && m != "greedy" && m != "noaux_tc" {
		p.fail(refit.Unsupportedf("arch", "deepseek2: topk_method %q (group-limited routing)", m))
	}
	return p.err
}

// deepseekDims returns heads, qk_nope_head_dim and v_head_dim from config.json.
func deepseekDims(c *Config) (heads, nope, v int, err error) {
	h, err1 := c.Int("num_attention_heads")
	n, err2 := c.Int("qk_nope_head_dim")
	vv, err3 := c.Int("v_head_dim")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return 0, 0, 0, e
		}
	}
	if h > 1<<20 || n > 1<<20 || vv > 1<<20 {
		return 0, 0, 0, errorf("deepseek2: %d heads of %d + %d dimensions", h, n, vv)
	}
	return int(h), int(n), int(vv), nil
}

// deepseekSplitKVB splits kv_b_proj ([heads x (nope + v), rank]) into attn_k_b
// ([heads, rank, nope]: each head's key rows, transposed) and attn_v_b ([heads, v, rank]).
func deepseekSplitKVB(c *Config, t *tensor.Tensor, names []string) ([]*tensor.Tensor, error) {
	heads, nope, v, err := deepseekDims(c)
	if err != nil {
		return nil, err
	}
	if len(t.Shape) != 2 || t.DType.Quantized() || t.Shape[0] != int64(heads*(nope+v)) || heads <= 0 {
		return nil, errorf("deepseek2: kv_b_proj %q is %v %v, want [%d, rank]", t.Name, t.DType, t.Shape, heads*(nope+v))
	}
	rank := int(t.Shape[1])
	es := t.DType.TypeSize()
	src := t
	kb := tensor.NewLazy(int64(heads*rank*nope*es), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, heads*rank*nope*es)
		for h := range heads {
			in := b[h*(nope+v)*rank*es : (h*(nope+v)+nope)*rank*es]
			if err := Transpose2D(out[h*rank*nope*es:(h+1)*rank*nope*es], in, nope, rank, es); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
	vb := tensor.NewLazy(int64(heads*v*rank*es), func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, heads*v*rank*es)
		for h := range heads {
			out = append(out, b[(h*(nope+v)+nope)*rank*es:(h+1)*(nope+v)*rank*es]...)
		}
		return out, nil
	})
	return []*tensor.Tensor{
		{Name: names[0], DType: t.DType, Shape: tensor.Shape{int64(heads), int64(rank), int64(nope)}, Data: kb},
		{Name: names[1], DType: t.DType, Shape: tensor.Shape{int64(heads), int64(v), int64(rank)}, Data: vb},
	}, nil
}

// deepseekJoinKVB undoes deepseekSplitKVB. Block-quantized halves are dequantized
// to F32 first: their rows cannot be transposed as blocks.
func deepseekJoinKVB(md refit.Metadata, arch, name string, parts []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(parts) != 2 {
		return nil, errorf("deepseek2: %s from %d parts", name, len(parts))
	}
	kb, vb := parts[0], parts[1]
	var err error
	for _, p := range []**tensor.Tensor{&kb, &vb} {
		if (*p).DType.Quantized() {
			if *p, err = tensor.Cast(*p, tensor.F32); err != nil {
				return nil, err
			}
		}
	}
	if len(kb.Shape) != 3 || len(vb.Shape) != 3 || kb.DType != vb.DType || kb.Shape[0] != vb.Shape[0] || kb.Shape[1] != vb.Shape[2] {
		return nil, errorf("deepseek2: attn_k_b %v and attn_v_b %v do not belong together", kb.Shape, vb.Shape)
	}
	heads, rank, nope, v := int(kb.Shape[0]), int(kb.Shape[1]), int(kb.Shape[2]), int(vb.Shape[1])
	es := kb.DType.TypeSize()
	data := tensor.NewLazy(int64(heads*(nope+v)*rank*es), func() ([]byte, error) {
		k, err := kb.Bytes()
		if err != nil {
			return nil, err
		}
		vv, err := vb.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, heads*(nope+v)*rank*es)
		for h := range heads {
			dst := out[h*(nope+v)*rank*es:]
			if err := Transpose2D(dst[:nope*rank*es], k[h*rank*nope*es:(h+1)*rank*nope*es], rank, nope, es); err != nil {
				return nil, err
			}
			copy(dst[nope*rank*es:(nope+v)*rank*es], vv[h*v*rank*es:(h+1)*v*rank*es])
		}
		return out, nil
	})
	return &tensor.Tensor{Name: name, DType: kb.DType, Shape: tensor.Shape{int64(heads * (nope + v)), int64(rank)}, Data: data}, nil
}

func deepseek2Config(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	num := func(k string) int64 { v, _ := MetaInt(md, arch+"."+k); return v }
	heads := num("attention.head_count")
	cfg["num_key_value_heads"] = heads
	delete(cfg, "head_dim")
	rope := num("rope.dimension_count")
	cfg["qk_rope_head_dim"] = rope
	cfg["qk_nope_head_dim"] = num("attention.key_length_mla") - rope
	cfg["v_head_dim"] = num("attention.value_length_mla")
	cfg["kv_lora_rank"] = num("attention.kv_lora_rank")
	cfg["q_lora_rank"] = nil
	if q := num("attention.q_lora_rank"); q > 0 {
		cfg["q_lora_rank"] = q
	}
	cfg["first_k_dense_replace"] = num("leading_dense_block_count")
	cfg["moe_intermediate_size"] = num("expert_feed_forward_length")
	cfg["n_shared_experts"] = num("expert_shared_count")
	rename(cfg, "num_local_experts", "n_routed_experts")
	metaCopy(md, arch, cfg, "expert_weights_scale", "routed_scaling_factor")
	cfg["norm_topk_prob"] = false
	if v, ok := md.Get(arch + ".expert_weights_norm"); ok {
		cfg["norm_topk_prob"] = v
	}
	cfg["scoring_func"], cfg["topk_method"] = "softmax", "greedy"
	if num("expert_gating_func") == 2 {
		cfg["architectures"], cfg["model_type"] = []string{"DeepseekV3ForCausalLM"}, "deepseek_v3"
		cfg["scoring_func"], cfg["topk_method"] = "sigmoid", "noaux_tc"
		cfg["n_group"], cfg["topk_group"] = 1, 1
	}
	return nil
}
