package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
)

// Tokenizer attacks (issue 13): vocabularies whose metadata or files disagree with
// themselves, and texts built to make a tokenizer recurse or loop. `refit tokenize`
// and `refit convert` must answer with exit 0 or 1, never crash, and write nothing
// on failure. The files are made here; they are a few KB.

// vocabGGUF writes a vocab-only GGUF with the given tokenizer keys on top of a
// small consistent vocabulary.
func vocabGGUF(t *testing.T, model string, set map[string]any, drop ...string) string {
	t.Helper()
	md := refit.Metadata{}
	md.Set("general.architecture", "llama")
	md.Set("tokenizer.ggml.model", model)
	toks := []string{"<unk>", "<s>", "</s>", "a", "b", "ab", "▁a", "<0x41>", "Ġ", "Ġa"}
	md.Set("tokenizer.ggml.tokens", toks)
	md.Set("tokenizer.ggml.scores", make([]float32, len(toks)))
	md.Set("tokenizer.ggml.token_type", []int32{2, 3, 3, 1, 1, 1, 1, 6, 1, 1})
	md.Set("tokenizer.ggml.merges", []string{"a b", "Ġ a"})
	for k, v := range set {
		md.Set(k, v)
	}
	m := &refit.Model{Format: "gguf", Metadata: md}
	for _, k := range drop {
		m.Metadata = without(m.Metadata, k)
	}
	path := filepath.Join(t.TempDir(), "vocab.gguf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

func without(md refit.Metadata, key string) refit.Metadata {
	out := refit.Metadata{}
	for _, k := range md.Keys() {
		if k != key {
			v, _ := md.Get(k)
			out.Set(k, v)
		}
	}
	return out
}

func TestHostileVocabularies(t *testing.T) {
	long := strings.Repeat("Ab", 1<<19) + strings.Repeat(" ", 1<<18) + strings.Repeat("9", 1<<18)
	textFile := filepath.Join(t.TempDir(), "long.txt")
	if err := os.WriteFile(textFile, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	xcda := []uint8{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4} // claims 2 GB of double array
	badNode := []uint8{8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x41, 0x03, 0, 0, 'x', 0}
	cases := map[string]struct {
		path string
		code int // -1: 0 or 1
	}{
		"short token types":  {vocabGGUF(t, "llama", map[string]any{"tokenizer.ggml.token_type": []int32{1, 1}}), 1},
		"short scores":       {vocabGGUF(t, "llama", map[string]any{"tokenizer.ggml.scores": []float32{0}}), 1},
		"no tokens":          {vocabGGUF(t, "llama", nil, "tokenizer.ggml.tokens"), 1},
		"unknown model":      {vocabGGUF(t, "mystery", nil), 1},
		"unknown pre":        {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.pre": "mystery"}), 1},
		"ids out of range":   {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.bos_token_id": uint32(1 << 30), "tokenizer.ggml.add_bos_token": true}), 0},
		"merges without gap": {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.merges": []string{"", "ab", " ", "a  b"}}), 0},
		"types out of enum":  {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.token_type": []int32{-7, 99, 3, 1, 1, 1, 1, 6, 1, 1}}), 0},
		"charsmap too big":   {vocabGGUF(t, "t5", map[string]any{"tokenizer.ggml.precompiled_charsmap": xcda}), 1},
		"charsmap bad nodes": {vocabGGUF(t, "t5", map[string]any{"tokenizer.ggml.precompiled_charsmap": badNode}), 0},
		"rwkv bad escapes":   {vocabGGUF(t, "rwkv", map[string]any{"tokenizer.ggml.tokens": []string{"\\", "\\x", "\\xz", "a\\", "\\x4", "b", "c", "d", "e", "f"}}), 0},
		"wordpiece no unk":   {vocabGGUF(t, "bert", nil), 0},
		"tekken long word":   {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.pre": "tekken"}), 0},
		"exaone-moe":         {vocabGGUF(t, "gpt2", map[string]any{"tokenizer.ggml.pre": "exaone-moe"}), 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{
				{"tokenize", c.path, "Hello <s> world ab\u00a0\xff\xfe 123 \U0001F999"},
				{"tokenize", "--no-parse-special", "--file", textFile, c.path},
				{"tokenize", "--decode", c.path, "0 1 2 3 7 9"},
			} {
				r := runRefit(t, limits{}, args...)
				if c.code >= 0 && r.code != c.code || r.code != 0 && r.code != 1 {
					t.Errorf("refit %s: exit %d, want %d\n%v", args[0], r.code, c.code, r)
				}
			}
			out := filepath.Join(t.TempDir(), "hf")
			r := runRefit(t, limits{}, "convert", "--to", "safetensors", c.path, out)
			if r.code != 0 && r.code != 1 {
				t.Errorf("convert: exit %d\n%v", r.code, r)
			}
			if _, err := os.Stat(out); r.code != 0 && err == nil {
				t.Errorf("a failed convert left %s", out)
			}
		})
	}
}

// TestHostileTokenizerFolders: Hugging Face tokenizer files that contradict
// themselves, read by `refit tokenize` and converted to GGUF.
func TestHostileTokenizerFolders(t *testing.T) {
	cases := map[string]map[string]string{
		"unigram bad pair":  {"tokenizer.json": `{"model":{"type":"Unigram","vocab":[["a"],["b",1,2]],"unk_id":9}}`},
		"unigram bad unk":   {"tokenizer.json": `{"model":{"type":"Unigram","vocab":[["a",-1],["b",-2]],"unk_id":-5}}`},
		"wordpiece ids":     {"tokenizer.json": `{"model":{"type":"WordPiece","vocab":{"a":16777300,"b":-1}}}`},
		"wordpiece dup":     {"tokenizer.json": `{"model":{"type":"WordPiece","vocab":{"a":0,"##a":0}}}`},
		"charsmap base64":   {"tokenizer.json": `{"normalizer":{"type":"Precompiled","precompiled_charsmap":"!!!"},"model":{"type":"Unigram","vocab":[["a",0]]}}`},
		"extras bad types":  {"tokenizer.json": `{"model":{"type":"WordPiece","vocab":{"a":0}}}`, "tokenizer_config.json": `{"gguf_tokenizer":{"model":"bert","token_types":{"x":9,"5":1}}}`},
		"extras bad scores": {"tokenizer.json": `{"model":{"type":"WordPiece","vocab":{"a":0}}}`, "tokenizer_config.json": `{"gguf_tokenizer":{"model":"bert","scores":[1,2,3]}}`},
		"extras ids":        {"tokenizer.json": `{"model":{"type":"WordPiece","vocab":{"a":0}}}`, "tokenizer_config.json": `{"gguf_tokenizer":{"model":"gpt2","pre":"qwen2","special_ids":{"bos":99}}}`},
		"vocab.txt only":    {"vocab.txt": "[UNK]\n[CLS]\r\n\n##\nab\n"},
		"spm truncated":     {"tokenizer.model": "\x0a\x10\x0a\x02ab"},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := runRefit(t, limits{}, "tokenize", dir, "a ab b")
			if r.code != 0 && r.code != 1 {
				t.Errorf("tokenize: exit %d\n%v", r.code, r)
			}
			out := filepath.Join(t.TempDir(), "v.gguf")
			r = runRefit(t, limits{}, "convert", dir, out)
			if r.code != 0 && r.code != 1 {
				t.Errorf("convert: exit %d\n%v", r.code, r)
			}
			if _, err := os.Stat(out); r.code != 0 && err == nil {
				t.Errorf("a failed convert left %s", out)
			}
		})
	}
}
