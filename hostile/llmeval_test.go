package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
)

// refit eval on GGUF language models whose hyperparameters lie (issue 16): each must
// fail with exit 1 and a message, never crash or allocate what the file claims.
func TestLLMEvalHostile(t *testing.T) {
	root := filepath.Join("..", "testdata")
	src := filepath.Join(root, "models", "llm", "llama-f16.gguf")
	text := filepath.Join(root, "llm", "eval.txt")
	for _, tc := range []struct {
		name  string
		edit  func(f *gguf.File)
		want  string
		extra []string
	}{
		{"many layers", setKV("llama.block_count", uint32(1<<20)), "no tensor blk.2.", nil},
		{"too many layers", setKV("llama.block_count", uint32(1<<30)), "out of range", nil},
		{"zero heads", setKV("llama.attention.head_count", uint32(0)), "zero-sized", nil},
		{"heads not a multiple", setKV("llama.attention.head_count_kv", uint32(3)), "not a multiple", nil},
		{"wide keys", setKV("llama.attention.key_length", uint32(1<<20)), "has shape", nil},
		{"wrong width", setKV("llama.embedding_length", uint32(4096)), "columns", nil},
		{"unknown architecture", setKV("general.architecture", "nonesuch"), "unsupported", nil},
		{"no tokenizer", func(f *gguf.File) {
			for i := range f.KVs {
				if f.KVs[i].Key == "tokenizer.ggml.model" {
					f.KVs[i].Key = "tokenizer.ggml.xmodel"
				}
			}
		}, "tokenizer", nil},
		{"huge context", nil, "too short", []string{"--ctx", "1073741824"}},
		{"long context, tiny budget", nil, "exceed the memory budget", []string{"--ctx", "4096", "--max-memory", "1MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := src
			if tc.edit != nil {
				in = rewriteGGUF(t, src, tc.edit)
			}
			args := append([]string{"eval", in, "--text", text, "--chunks", "1", "--ctx", "64"}, tc.extra...)
			r := runRefit(t, limits{}, args...)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("refit %v: want exit 1 and %q\n%v", args, tc.want, r)
			}
		})
	}
}

func setKV(key string, v any) func(f *gguf.File) {
	return func(f *gguf.File) {
		for i := range f.KVs {
			if f.KVs[i].Key == key {
				f.KVs[i].Value = v
				return
			}
		}
		f.KVs = append(f.KVs, gguf.KV{Key: key, Value: v})
	}
}

// rewriteGGUF writes a copy of src with its header edited.
func rewriteGGUF(t *testing.T, src string, edit func(f *gguf.File)) string {
	t.Helper()
	mf, err := refit.OpenMapped(src)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	f, err := gguf.Parse(mf, mf.Size())
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	out := filepath.Join(t.TempDir(), "edited.gguf")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := f.WriteTo(w); err != nil {
		t.Fatal(err)
	}
	return out
}
