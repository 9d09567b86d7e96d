package arch

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
)

func TestMapName(t *testing.T) {
	tests := []struct {
		arch, hf, want string
		skip           bool
	}{
		{"llama", "model.embed_tokens.weight", "token_embd.weight", false},
		{"llama", "model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight", false},
		{"llama", "model.layers.31.mlp.down_proj.weight", "blk.31.ffn_down.weight", false},
		{"llama", "layers.2.input_layernorm.weight", "blk.2.attn_norm.weight", false},
		{"llama", "lm_head.weight", "output.weight", false},
		{"llama", "model.norm.weight", "output_norm.weight", false},
		{"llama", "model.layers.3.self_attn.rotary_emb.inv_freq", "", true},
		{"qwen2", "model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias", false},
		{"qwen3", "model.layers.1.self_attn.q_norm.weight", "blk.1.attn_q_norm.weight", false},
		{"gemma2", "model.layers.0.post_feedforward_layernorm.weight", "blk.0.post_ffw_norm.weight", false},
		{"gemma2", "model.layers.0.pre_feedforward_layernorm.weight", "blk.0.ffn_norm.weight", false},
		{"gemma2", "model.layers.0.post_attention_layernorm.weight", "blk.0.post_attention_norm.weight", false},
		{"gemma", "model.layers.0.post_attention_layernorm.weight", "blk.0.ffn_norm.weight", false},
		{"gpt2", "transformer.h.5.attn.c_attn.weight", "blk.5.attn_qkv.weight", false},
		{"gpt2", "h.5.mlp.c_fc.bias", "blk.5.ffn_up.bias", false},
		{"gpt2", "transformer.wpe.weight", "position_embd.weight", false},
		{"gpt2", "transformer.h.0.attn.masked_bias", "", true},
		{"phi3", "model.layers.4.mlp.gate_up_proj.weight", "blk.4.ffn_up.weight", false},
		{"phi3", "model.layers.4.self_attn.qkv_proj.weight", "blk.4.attn_qkv.weight", false},
		{"gptneox", "gpt_neox.layers.1.attention.query_key_value.bias", "blk.1.attn_qkv.bias", false},
		{"falcon", "transformer.h.0.ln_attn.weight", "blk.0.attn_norm_2.weight", false},
		{"deepseek2", "model.layers.2.mlp.gate.e_score_correction_bias", "blk.2.exp_probs_b.bias", false},
		{"deepseek2", "model.layers.2.self_attn.kv_a_proj_with_mqa.weight", "blk.2.attn_kv_a_mqa.weight", false},
		{"qwen2moe", "model.layers.0.mlp.shared_expert_gate.weight", "blk.0.ffn_gate_inp_shexp.weight", false},
		{"command-r", "lm_head.weight", "", true},
		{"bert", "encoder.layer.0.attention.output.LayerNorm.bias", "blk.0.attn_output_norm.bias", false},
		{"bert", "bert.pooler.dense.weight", "", true},
		{"nomic-bert", "encoder.layers.1.mlp.fc12.weight", "blk.1.ffn_gate.weight", false},
	}
	for _, tc := range tests {
		t.Run(tc.arch+"/"+tc.hf, func(t *testing.T) {
			a, ok := Lookup(tc.arch)
			if !ok {
				t.Fatalf("Lookup(%q) failed", tc.arch)
			}
			got, skip, err := a.MapName(tc.hf)
			if err != nil || got != tc.want || skip != tc.skip {
				t.Errorf("MapName(%q) = %q, %v, %v; want %q, %v", tc.hf, got, skip, err, tc.want, tc.skip)
			}
		})
	}
}

func TestMapNameUnknown(t *testing.T) {
	a, _ := Lookup("llama")
	for _, hf := range []string{
		"model.layers.0.self_attn.qkv_proj.weight", // phi3's, not llama's
		"model.layers.01.self_attn.q_proj.weight",  // leading zero
		"model.layers.-1.self_attn.q_proj.weight",
		"model.layers..self_attn.q_proj.weight",
		"model.layers.99999999999.self_attn.q_proj.weight",
		"vision_tower.encoder.weight",
	} {
		if _, _, err := a.MapName(hf); !errors.Is(err, refit.ErrUnsupported) {
			t.Errorf("MapName(%q) = %v, want ErrUnsupported", hf, err)
		}
	}
}

func TestRegistry(t *testing.T) {
	for _, class := range []string{"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
		"GemmaForCausalLM", "Gemma2ForCausalLM", "Phi3ForCausalLM", "GPT2LMHeadModel"} {
		if _, ok := ForClass(class); !ok {
			t.Errorf("ForClass(%q) found nothing", class)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("registering llama twice did not panic")
		}
	}()
	Register(Arch{Name: "llama", Params: llamaParams})
}

func TestConfig(t *testing.T) {
	c, err := ParseConfig([]byte(`{"a": 3, "b": -1, "c": 1.5, "d": "x", "e": 5000000000, "n": null, "t": true}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := c.Int("missing", "a"); v != 3 || err != nil {
		t.Errorf("Int(missing, a) = %d, %v", v, err)
	}
	for _, k := range []string{"b", "c", "d", "e", "n", "missing"} {
		if _, err := c.Int(k); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("Int(%q) = %v, want ErrFormat", k, err)
		}
	}
	if v, err := c.Float("c"); v != 1.5 || err != nil {
		t.Errorf("Float(c) = %v, %v", v, err)
	}
	if !c.Bool(false, "t") || c.Has("n") {
		t.Error("Bool/Has wrong")
	}
	for _, bad := range []string{``, `[]`, `null`, `{"a":`, `{"a": 1} x`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%q) accepted", bad)
		}
	}
}

// TestUnmapName: the reverse name maps give back the Hugging Face names (with the
// "model." prefix) that MapName and MapExpert map from.
func TestUnmapName(t *testing.T) {
	a, _ := Lookup("llama")
	for _, hf := range []string{"model.layers.12.self_attn.q_proj.weight", "lm_head.weight", "model.norm.weight"} {
		gguf, _, err := a.MapName(hf)
		if err != nil {
			t.Fatal(err)
		}
		if back, ok := a.UnmapName(gguf); !ok || back != hf {
			t.Errorf("UnmapName(%q) = %q, %v; want %q", gguf, back, ok, hf)
		}
	}
	if _, ok := a.UnmapName("blk.x.attn_q.weight"); ok {
		t.Error("UnmapName of an unknown name succeeded")
	}

	const w2 = "model.layers.3.block_sparse_moe.experts.%d.w2.weight"
	gguf, x, ok := a.MapExpert(fmt.Sprintf(w2, 1))
	if !ok || x != 1 || gguf != "blk.3.ffn_down_exps.weight" {
		t.Fatalf("MapExpert = %q, %d, %v", gguf, x, ok)
	}
	names, ok := a.ExpertNames(gguf, 3)
	if want := []string{fmt.Sprintf(w2, 0), fmt.Sprintf(w2, 1), fmt.Sprintf(w2, 2)}; !ok || !slices.Equal(names, want) {
		t.Errorf("ExpertNames = %q, %v; want %q", names, ok, want)
	}
	if _, ok := a.ExpertNames("blk.3.ffn_down.weight", 3); ok {
		t.Error("ExpertNames of a dense tensor succeeded")
	}
}
