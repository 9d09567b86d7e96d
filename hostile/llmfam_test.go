package hostile

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/gguf"
)

// refit eval on the committed tiny llama relabelled as the families package llm
// added (qwen2moe, gemma3, phi3 LongRoPE, granite, olmo2, stablelm) with
// hyperparameters or tensors that do not fit: exit 1 and a message, never a crash.
func TestLLMFamilyHostile(t *testing.T) {
	root := filepath.Join("..", "testdata")
	src := filepath.Join(root, "models", "llm", "llama-f16.gguf")
	text := filepath.Join(root, "llm", "eval.txt")
	for _, tc := range []struct {
		name, arch string
		kvs        map[string]any
		want       string
	}{
		{"granite negative logit scale", "granite", map[string]any{"logit_scale": float32(-1)}, "granite scales"},
		{"qwen2moe without experts", "qwen2moe", map[string]any{"expert_count": uint32(4), "expert_used_count": uint32(2)}, "no tensor blk.0.ffn_gate_inp"},
		{"qwen3moe more used than experts", "qwen3moe", map[string]any{"expert_count": uint32(2), "expert_used_count": uint32(3)}, "experts used"},
		{"gemma3 huge sliding pattern", "gemma3", map[string]any{"attention.sliding_window": uint32(4), "attention.sliding_window_pattern": uint32(1 << 30)}, "out of range"},
		{"gemma3 zero local rope base", "gemma3", map[string]any{"rope.freq_base_swa": float32(0)}, "rope base"},
		{"phi3 zero rope attention factor", "phi3", map[string]any{"rope.scaling.attn_factor": float32(0)}, "rope attention factor"},
		{"olmo2 without output norms", "olmo2", nil, "no tensor blk.0.post_attention_norm"},
		{"stablelm without norm biases", "stablelm", nil, "no tensor output_norm.bias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := rewriteGGUF(t, src, func(f *gguf.File) {
				for i := range f.KVs {
					if k, ok := strings.CutPrefix(f.KVs[i].Key, "llama."); ok {
						f.KVs[i].Key = tc.arch + "." + k
					}
					if f.KVs[i].Key == "general.architecture" {
						f.KVs[i].Value = tc.arch
					}
				}
				for k, v := range tc.kvs {
					f.KVs = append(f.KVs, gguf.KV{Key: tc.arch + "." + k, Value: v})
				}
			})
			args := []string{"eval", in, "--text", text, "--chunks", "1", "--ctx", "64"}
			r := runRefit(t, limits{}, args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("refit %v: want exit 1 and %q\n%v", args, tc.want, r)
			}
		})
	}
}
