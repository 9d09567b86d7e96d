//go:build unix

package hostile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// Attack class "llmarch": LLM files whose fused, split or packed tensors (DeepSeek's
// attn_k_b/attn_v_b, gpt-oss's MXFP4 experts and blocks/scales, Falcon's grouped QKV,
// Llama 3's rope_freqs) are inconsistent with each other or with the metadata: huge or
// zero head counts, halves of a pair missing, wrong types and shapes. Both directions
// (GGUF -> Hugging Face folder, Hugging Face folder -> GGUF) must refuse them with an
// error and leave no output. The files are a few KB, built at test time.

func hostileTensor(t *testing.T, name string, d tensor.DType, s ...int64) *tensor.Tensor {
	t.Helper()
	n, err := tensor.ByteSize(d, tensor.Shape(s))
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.FromBytes(name, d, tensor.Shape(s), make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func writeGGUFModel(t *testing.T, path, arch string, meta map[string]any, ts ...*tensor.Tensor) {
	t.Helper()
	m := &refit.Model{Format: "gguf", Tensors: ts}
	m.Metadata.Set("general.architecture", arch)
	for _, k := range []string{"embedding_length", "block_count", "attention.head_count", "attention.head_count_kv", "context_length"} {
		m.Metadata.Set(arch+"."+k, uint32(2))
	}
	for k, v := range meta {
		m.Metadata.Set(k, v)
	}
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLLMArchGGUFToHF(t *testing.T) {
	f32 := tensor.F32
	cases := []struct {
		name, arch string
		meta       map[string]any
		tensors    []*tensor.Tensor
	}{
		{"deepseek k_b without v_b", "deepseek2", nil, []*tensor.Tensor{hostileTensor(t, "blk.0.attn_k_b.weight", f32, 2, 4, 2)}},
		{"deepseek k_b v_b mismatch", "deepseek2", nil, []*tensor.Tensor{hostileTensor(t, "blk.0.attn_k_b.weight", f32, 2, 4, 2),
			hostileTensor(t, "blk.0.attn_v_b.weight", f32, 3, 3, 4)}},
		{"gpt-oss experts not MXFP4", "gpt-oss", nil, []*tensor.Tensor{hostileTensor(t, "blk.0.ffn_down_exps.weight", f32, 2, 32, 32)}},
		{"gpt-oss gate without up", "gpt-oss", nil, []*tensor.Tensor{hostileTensor(t, "blk.0.ffn_gate_exps.weight", tensor.MXFP4, 2, 32, 32)}},
		{"falcon huge kv heads", "falcon", map[string]any{"falcon.attention.head_count_kv": uint32(1 << 31)},
			[]*tensor.Tensor{hostileTensor(t, "blk.0.attn_qkv.weight", f32, 8, 8)}},
		{"gpt-neox huge heads", "gptneox", map[string]any{"gptneox.attention.head_count": uint32(1 << 30)},
			[]*tensor.Tensor{hostileTensor(t, "blk.0.attn_qkv.weight", f32, 6, 8)}},
		{"llama rope_freqs huge dims", "llama", map[string]any{"llama.rope.dimension_count": uint32(1 << 31)},
			[]*tensor.Tensor{hostileTensor(t, "rope_freqs.weight", f32, 8)}},
		{"phi3 rope factors alone", "phi3", nil, []*tensor.Tensor{hostileTensor(t, "rope_factors_long.weight", f32, 8)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "m.gguf")
			writeGGUFModel(t, in, tc.arch, tc.meta, tc.tensors...)
			out := filepath.Join(dir, "hf")
			r := runRefit(t, limits{}, "convert", in, out, "--to", "safetensors")
			if r.code == 0 {
				t.Fatalf("refit convert succeeded on a malformed %s file\n%v", tc.arch, r)
			}
			if ents, _ := os.ReadDir(out); len(ents) > 0 {
				t.Errorf("a refused conversion left %d files in %s", len(ents), out)
			}
		})
	}
}

func TestLLMArchHFToGGUF(t *testing.T) {
	const tok = `{"added_tokens":[{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}],
"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`
	const gptoss = `{"architectures":["GptOssForCausalLM"],"hidden_size":32,"num_hidden_layers":1,"head_dim":8,
"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":32,"max_position_embeddings":32,"rms_norm_eps":1e-5,
"vocab_size":5,"rope_theta":10000.0,"num_local_experts":2,"num_experts_per_tok":1,"sliding_window":16}`
	const deepseek = `{"architectures":["DeepseekV2ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"intermediate_size":6,"max_position_embeddings":32,"rms_norm_eps":1e-5,"vocab_size":5,
"rope_theta":10000.0,"kv_lora_rank":4,"qk_nope_head_dim":2,"qk_rope_head_dim":2,"v_head_dim":4294967295}`
	cases := []struct {
		name, config string
		tensors      []*tensor.Tensor
	}{
		{"gpt-oss scales of another shape", gptoss, []*tensor.Tensor{
			hostileTensor(t, "model.layers.0.mlp.experts.down_proj_blocks", tensor.U8, 2, 32, 1, 16),
			hostileTensor(t, "model.layers.0.mlp.experts.down_proj_scales", tensor.U8, 2, 31, 1)}},
		{"gpt-oss blocks without scales", gptoss, []*tensor.Tensor{
			hostileTensor(t, "model.layers.0.mlp.experts.down_proj_blocks", tensor.U8, 2, 32, 1, 16)}},
		{"deepseek huge v_head_dim", deepseek, []*tensor.Tensor{
			hostileTensor(t, "model.layers.0.self_attn.kv_b_proj.weight", tensor.F32, 12, 4)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			if err := safetensors.Encode(&buf, &refit.Model{Tensors: tc.tensors}, nil); err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{"config.json": []byte(tc.config), "tokenizer.json": []byte(tok),
				"model.safetensors": buf.Bytes()} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(t.TempDir(), "out.gguf")
			r := runRefit(t, limits{}, "convert", dir, out)
			if r.code == 0 {
				t.Fatalf("refit convert succeeded on a malformed folder\n%v", r)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a refused conversion left %s", out)
			}
		})
	}
}
