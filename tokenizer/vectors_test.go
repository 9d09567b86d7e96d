package tokenizer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tokenizer"
)

// vocabDir is where testdata/gen/fetch_llama_vocabs.sh puts llama.cpp's vocab files.
func vocabDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testtool.RepoRoot(), "testdata", "llamacpp-vocab")
	if _, err := os.Stat(filepath.Join(dir, ".stamp")); err != nil {
		testtool.Missing(t, "llama.cpp vocab files (run testdata/gen/fetch_llama_vocabs.sh)", err)
	}
	return dir
}

func loadGGUF(t testing.TB, path string) refit.Metadata {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	m, err := gguf.Decode(f, st.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m.Metadata
}

// readVectors parses llama.cpp's .inp (texts separated by "\n__ggml_vocab_test__\n")
// and .out (one line of ids per text).
func readVectors(t *testing.T, base string) ([]string, [][]int32) {
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for rest := string(inp); rest != ""; {
		k := strings.Index(rest, sep)
		if k < 0 {
			texts = append(texts, rest)
			break
		}
		texts = append(texts, rest[:k])
		rest = rest[k+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d texts, %d id lines", base, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		for _, f := range strings.Fields(l) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = append(ids[i], int32(n))
		}
	}
	return texts, ids
}

// TestLlamaCppVectors encodes llama.cpp's tokenizer test texts with every vocabulary
// that has them (add_special and parse_special off, as test-tokenizer-0 does) and
// checks the ids, and that decoding gives back the text where llama.cpp's does.
func TestLlamaCppVectors(t *testing.T) {
	dir := vocabDir(t)
	inps, _ := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf.inp"))
	if len(inps) == 0 {
		t.Fatal("no test vectors in " + dir)
	}
	for _, inp := range inps {
		base := strings.TrimSuffix(inp, ".inp")
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(base), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) {
			v, err := tokenizer.FromMetadata(loadGGUF(t, base))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.New(v)
			if err != nil {
				t.Fatal(err)
			}
			texts, want := readVectors(t, base)
			pass := 0
			for i, text := range texts {
				got := tok.Encode(text, false, false)
				if !slices.Equal(got, want[i]) {
					t.Errorf("%q:\n got %v\nwant %v", text, got, want[i])
					continue
				}
				pass++
			}
			t.Logf("%s: %d/%d test vectors pass", name, pass, len(texts))
		})
	}
}

// TestDecodeRoundTrip: decoding llama.cpp's expected ids of plain ASCII texts gives the
// text back for byte-level BPE vocabularies without space cleaning.
func TestDecodeRoundTrip(t *testing.T) {
	dir := vocabDir(t)
	for _, name := range []string{"llama-bpe", "qwen2", "gpt-2", "llama-spm"} {
		base := filepath.Join(dir, "ggml-vocab-"+name+".gguf")
		v, err := tokenizer.FromMetadata(loadGGUF(t, base))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := tokenizer.New(v)
		if err != nil {
			t.Fatal(err)
		}
		texts, ids := readVectors(t, base)
		for i, text := range texts {
			got := tok.Decode(ids[i], false, false)
			if name == "llama-spm" {
				text = strings.TrimPrefix(" "+text, " ") // the space prefix is removed again
			}
			if got != text && !bytes.ContainsAny([]byte(text), "?!.,'") {
				t.Errorf("%s: decode(%v) = %q, want %q", name, ids[i], got, text)
			}
		}
	}
}
