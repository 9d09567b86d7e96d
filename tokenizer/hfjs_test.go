package tokenizer_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tokenizer"
)

// TestHFFilesInTokenizersJS loads the Hugging Face files HFFiles writes for every
// llama.cpp vocabulary in tokenizers.js (@huggingface/tokenizers) and compares its
// encodings of llama.cpp's test texts and extraStrings with llama.cpp's (this
// package's, which TestLlamaCppVectors and TestAgainstLibllama tie to llama.cpp).
func TestHFFilesInTokenizersJS(t *testing.T) {
	dir := vocabDir(t)
	nm := testtool.NodeModules(t, "@huggingface/tokenizers")
	node, err := exec.LookPath("node")
	if err != nil {
		testtool.Missing(t, "node", err)
	}
	models, _ := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	texts, _ := readVectors(t, filepath.Join(dir, "ggml-vocab-llama-bpe.gguf"))
	texts = append(texts, extraStrings...)
	tmp := t.TempDir()
	var dirs []string
	toks := map[string]*tokenizer.Tokenizer{}
	for _, path := range models {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), ".gguf")
		v, err := tokenizer.FromMetadata(loadGGUF(t, path))
		if err != nil {
			t.Fatal(err)
		}
		files, err := v.HFFiles()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out := filepath.Join(tmp, name)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, b := range files {
			if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := tokenizer.New(v)
		if err != nil {
			t.Fatal(err)
		}
		toks[out] = tok
		dirs = append(dirs, out)
	}
	req := filepath.Join(tmp, "req.json")
	b, _ := json.Marshal(map[string]any{"dirs": dirs, "strings": texts})
	if err := os.WriteFile(req, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join(testtool.RepoRoot(), "testdata", "gen", "hf_tokenize.mjs"), req)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
	cmd.Dir = testtool.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res map[string]struct {
		IDs   [][]int32 `json:"ids"`
		Error string    `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		name := filepath.Base(d)
		t.Run(name, func(t *testing.T) {
			r := res[d]
			if r.Error != "" {
				t.Fatalf("tokenizers.js cannot load the files: %s", r.Error)
			}
			pass := 0
			var bad []string
			for i, s := range texts {
				// Hugging Face always splits added tokens out of the text: llama.cpp's parse_special
				want := toks[d].Encode(s, false, true)
				if slices.Equal(r.IDs[i], want) {
					pass++
				} else {
					bad = append(bad, s)
				}
			}
			t.Logf("%s: %d/%d texts tokenize as in llama.cpp; differ: %q", name, pass, len(texts), bad)
			if min, ok := jsMinAgree[name]; !ok || pass < min {
				t.Errorf("%s: %d/%d agree, expected at least %d", name, pass, len(texts), jsMinAgree[name])
			}
		})
	}
}

// jsMinAgree is how many of the 70 texts must tokenize alike. All but bert-bge: there
// llama.cpp's WordPiece normalizer differs from Hugging Face's BertNormalizer by design
// (it keeps only the first code point of a decomposition, so Hangul syllables become
// their leading jamo and Devanagari/Thai/Telugu lose marks differently), which changes
// the CJK/Korean, Indic-script and combining-mark texts.
var jsMinAgree = map[string]int{
	"aquila": 70, "baichuan": 70, "bert-bge": 67, "command-r": 70, "deepseek-coder": 70, "deepseek-llm": 70,
	"falcon": 70, "gemma-4": 70, "gpt-2": 70, "gpt-neox": 70, "llama-bpe": 70, "llama-spm": 70, "mpt": 70,
	"nomic-bert-moe": 70, "phi-3": 70, "qwen2": 70, "qwen35": 70, "refact": 70, "starcoder": 70,
}
