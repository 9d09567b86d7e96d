package tokenizer_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tokenizer"
)

// TestHFRoundTrip writes every llama.cpp vocabulary as Hugging Face files and reads
// them back: every tokenizer.* key of the GGUF (tokens, scores, token types, merges,
// model, pre-tokenizer, special ids, flags, chat templates) must come back equal.
func TestHFRoundTrip(t *testing.T) {
	dir := vocabDir(t)
	models, _ := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	for _, path := range models {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) {
			md := loadGGUF(t, path)
			v, err := tokenizer.FromMetadata(md)
			if err != nil {
				t.Fatal(err)
			}
			files, err := v.HFFiles()
			if err != nil {
				t.Fatal(err)
			}
			fsys := fstest.MapFS{}
			for n, b := range files {
				fsys[n] = &fstest.MapFile{Data: b}
			}
			back, err := tokenizer.Load(fsys, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := refit.Metadata{}
			back.Metadata(&got)
			n := 0
			for _, k := range md.Keys() {
				if !strings.HasPrefix(k, "tokenizer.") {
					continue
				}
				n++
				want, _ := md.Get(k)
				g, ok := got.Get(k)
				if !ok {
					t.Errorf("%s: lost", k)
					continue
				}
				if !reflect.DeepEqual(g, want) {
					t.Errorf("%s: got %s, want %s", k, brief(g), brief(want))
				}
			}
			for _, k := range got.Keys() {
				if _, ok := md.Get(k); !ok {
					g, _ := got.Get(k)
					t.Errorf("%s: added (%s)", k, brief(g))
				}
			}
			t.Logf("%s: %d tokenizer keys kept; files %v", name, n, keys(files))
		})
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func brief(v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice && rv.Len() > 8 {
		return fmt.Sprintf("%T len %d %v...", v, rv.Len(), rv.Slice(0, 8).Interface())
	}
	s := fmt.Sprintf("%T %v", v, v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
