package hf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// withWeights returns a tiny folder (tinyLlama's tokenizer) with config cfg and only
// the given tensors as weights.
func withWeights(t *testing.T, cfg string, ts ...*tensor.Tensor) fstest.MapFS {
	t.Helper()
	fsys := tinyLlama(t)
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, &refit.Model{Tensors: ts}, nil); err != nil {
		t.Fatal(err)
	}
	fsys["model.safetensors"] = &fstest.MapFile{Data: buf.Bytes()}
	fsys["config.json"] = &fstest.MapFile{Data: []byte(cfg)}
	return fsys
}

func f32(t *testing.T, name string, s ...int64) *tensor.Tensor {
	t.Helper()
	x, err := tensor.NewF32(name, tensor.Shape(s), iota(int(tensor.Shape(s).Elements())))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func u8(t *testing.T, name string, s ...int64) *tensor.Tensor {
	t.Helper()
	x, err := tensor.FromBytes(name, tensor.U8, tensor.Shape(s), make([]byte, tensor.Shape(s).Elements()))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

const (
	deepseekConfig = `{"architectures":["DeepseekV2ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"intermediate_size":6,"max_position_embeddings":32,"rms_norm_eps":1e-5,"vocab_size":5,
"rope_theta":10000.0,"kv_lora_rank":4,"qk_nope_head_dim":2,"qk_rope_head_dim":2,"v_head_dim":3}`
	gptossConfig = `{"architectures":["GptOssForCausalLM"],"hidden_size":32,"num_hidden_layers":1,"head_dim":8,
"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":32,"max_position_embeddings":32,"rms_norm_eps":1e-5,
"vocab_size":5,"rope_theta":10000.0,"num_local_experts":2,"num_experts_per_tok":1,"sliding_window":16}`
	neoxConfig = `{"architectures":["GPTNeoXForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
"intermediate_size":6,"max_position_embeddings":32,"layer_norm_eps":1e-5,"vocab_size":5,"rotary_pct":0.5}`
)

// Malformed checkpoints of the families with fused or packed tensors are refused with
// a format or unsupported error, never a panic.
func TestConvertHFFamilyErrors(t *testing.T) {
	tests := []struct {
		name string
		fsys fstest.MapFS
	}{
		{"deepseek kv_b rows", withWeights(t, deepseekConfig, f32(t, "model.layers.0.self_attn.kv_b_proj.weight", 9, 4))},
		{"deepseek kv_b 1-D", withWeights(t, deepseekConfig, f32(t, "model.layers.0.self_attn.kv_b_proj.weight", 40))},
		{"gpt-oss scales missing", withWeights(t, gptossConfig, u8(t, "model.layers.0.mlp.experts.down_proj_blocks", 2, 32, 1, 16))},
		{"gpt-oss scales shape", withWeights(t, gptossConfig, u8(t, "model.layers.0.mlp.experts.down_proj_blocks", 2, 32, 1, 16),
			u8(t, "model.layers.0.mlp.experts.down_proj_scales", 2, 32, 2))},
		{"gpt-oss blocks as floats", withWeights(t, gptossConfig, f32(t, "model.layers.0.mlp.experts.down_proj_blocks", 2, 32, 1, 16),
			u8(t, "model.layers.0.mlp.experts.down_proj_scales", 2, 32, 1))},
		{"gpt-oss odd gate/up bias", withWeights(t, gptossConfig, u8(t, "model.layers.0.mlp.experts.gate_up_proj_blocks", 2, 64, 1, 16),
			u8(t, "model.layers.0.mlp.experts.gate_up_proj_scales", 2, 64, 1), f32(t, "model.layers.0.mlp.experts.gate_up_proj_bias", 2, 63))},
		{"gpt-neox qkv rows", withWeights(t, neoxConfig, f32(t, "gpt_neox.layers.0.attention.query_key_value.weight", 7, 8))},
		{"granitemoe odd input_linear", withWeights(t, `{"architectures":["GraniteMoeForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"intermediate_size":6,"max_position_embeddings":32,"rms_norm_eps":1e-5,"vocab_size":5,"rope_theta":1e4,
"num_local_experts":2,"num_experts_per_tok":1}`, f32(t, "model.layers.0.block_sparse_moe.input_linear.weight", 2, 7, 8))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ConvertHF(context.Background(), tc.fsys, &ConvertOptions{DType: tensor.F32})
			if err == nil {
				// lazy tensors fail when pulled
				for _, x := range m.Tensors {
					if _, err = x.Bytes(); err != nil {
						break
					}
				}
				m.Close()
			}
			t.Log(err)
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Errorf("ConvertHF = %v, want ErrFormat or ErrUnsupported", err)
			}
		})
	}
}

// A GGUF file whose packed or split tensors are incomplete or of the wrong type is
// refused by the reverse path, leaving no output.
func TestReverseFamilyErrors(t *testing.T) {
	base := func(arch string, kv ...any) refit.Metadata {
		var md refit.Metadata
		md.Set("general.architecture", arch)
		for _, k := range []string{"embedding_length", "block_count", "attention.head_count", "attention.head_count_kv"} {
			md.Set(arch+"."+k, uint32(2))
		}
		for i := 0; i+1 < len(kv); i += 2 {
			md.Set(kv[i].(string), kv[i+1])
		}
		return md
	}
	tests := []struct {
		name string
		m    *refit.Model
	}{
		{"deepseek k_b alone", &refit.Model{Format: "gguf", Metadata: base("deepseek2"),
			Tensors: []*tensor.Tensor{f32(t, "blk.0.attn_k_b.weight", 2, 4, 2)}}},
		{"deepseek k_b v_b mismatch", &refit.Model{Format: "gguf", Metadata: base("deepseek2"),
			Tensors: []*tensor.Tensor{f32(t, "blk.0.attn_k_b.weight", 2, 4, 2), f32(t, "blk.0.attn_v_b.weight", 2, 3, 5)}}},
		{"gpt-oss F32 experts", &refit.Model{Format: "gguf", Metadata: base("gpt-oss"),
			Tensors: []*tensor.Tensor{f32(t, "blk.0.ffn_down_exps.weight", 2, 32, 32)}}},
		{"falcon zero kv heads", &refit.Model{Format: "gguf", Metadata: base("falcon", "falcon.attention.head_count_kv", uint32(0)),
			Tensors: []*tensor.Tensor{f32(t, "blk.0.attn_qkv.weight", 8, 8)}}},
		{"gpt-neox qkv rows", &refit.Model{Format: "gguf", Metadata: base("gptneox"),
			Tensors: []*tensor.Tensor{f32(t, "blk.0.attn_qkv.weight", 7, 8)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			err := ReverseGGUF(context.Background(), tc.m, dir, nil)
			t.Log(err)
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Errorf("ReverseGGUF = %v, want ErrFormat or ErrUnsupported", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 0 {
				t.Errorf("a failed reverse left %d files", len(ents))
			}
		})
	}
}
