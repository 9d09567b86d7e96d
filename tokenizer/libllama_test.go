package tokenizer_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tokenizer"
)

// extraStrings go beyond llama.cpp's test vectors: Unicode scripts, whitespace runs,
// digit runs, emoji sequences, control tokens written as text, contractions.
var extraStrings = []string{
	"", " ", "\n", "\t\t \n \n\n", "     leading and trailing     ", "a  b   c    d",
	"1234567890 12 345 6789 0.5 1,000,000", "٣٤٥ ૧૨૩ ⅓ ½",
	"Hello <s> world </s> <|endoftext|> <|im_start|>user\nhi<|im_end|>",
	"[CLS] [SEP] [MASK] <mask> <pad> <unk>",
	"emoji: 🦙🦙 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🏳️‍🌈",
	"mixed: Ünïcödé ÅÄÖ ß ǅ ﬁ Ⅻ ℌ",
	"中文字符测试，标点。 日本語のテキスト、カタカナ。 한국어 텍스트입니다.",
	"عربي: مرحبا بالعالم! עברית: שלום עולם",
	"Русский текст с ЗАГЛАВНЫМИ буквами, ёлка.",
	"ภาษาไทย हिन्दी তেলুগু తెలుగు",
	"I'm sure you'll say it's 'quoted' and \"double\" — isn't it? We'VE ALL'D",
	"code: for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; } // comment\n\tif x:\n\t\treturn",
	"URLs https://example.com/a?b=c&d=e#f and e-mail a.b@c.de",
	"\r\n\r\nwindows\r\nlines \u00a0nbsp\u2003em\u3000ideo",
	"zero\u200bwidth\u200djoiner\ufeffbom",
	"combining: e\u0301 a\u0308 n\u0303 \u0915\u093f",
	"<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
	"...!!!???,,,;;;:::---___===+++***",
}

type llamaResult struct {
	Error  string      `json:"error"`
	Tokens [][][]int32 `json:"tokens"`
	Text   []string    `json:"text"`
}

// TestAgainstLibllama tokenizes extraStrings with node-llama-cpp's libllama and with
// this package, for every vocabulary file llama.cpp ships, in all four
// add_special x parse_special modes, and compares the detokenized text too.
func TestAgainstLibllama(t *testing.T) {
	dir := vocabDir(t)
	testtool.RequirePython(t, "ctypes", "json")
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	libdir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	models, _ := filepath.Glob(filepath.Join(dir, "ggml-vocab-*.gguf"))
	// each vocabulary also goes GGUF -> Hugging Face files -> GGUF, and llama.cpp must
	// tokenize the result exactly like the original
	tmp := t.TempDir()
	roundTrip := map[string]string{}
	for _, path := range models {
		rt := filepath.Join(tmp, "rt-"+filepath.Base(path))
		writeRoundTrip(t, path, rt)
		roundTrip[path] = rt
	}
	all := slices.Clone(models)
	for _, p := range models {
		all = append(all, roundTrip[p])
	}
	req := filepath.Join(tmp, "req.json")
	b, _ := json.Marshal(map[string]any{"models": all, "strings": extraStrings})
	if err := os.WriteFile(req, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llama_tokenize.py"))
	if err != nil {
		t.Fatal(err)
	}
	out := testtool.RunPython(t, string(script), libdir, req)
	var res map[string]llamaResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, path := range models {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "ggml-vocab-"), ".gguf")
		t.Run(name, func(t *testing.T) {
			r := res[path]
			if r.Error != "" {
				t.Skipf("libllama: %s", r.Error)
			}
			v, err := tokenizer.FromMetadata(loadGGUF(t, path))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.New(v)
			if err != nil {
				t.Fatal(err)
			}
			pass, total := 0, 0
			for i, s := range extraStrings {
				for mode, want := range r.Tokens[i] {
					add, parse := mode%2 == 1, mode >= 2
					got := tok.Encode(s, add, parse)
					total++
					if !slices.Equal(got, want) {
						t.Errorf("%q add_special=%v parse_special=%v:\n got %v\nwant %v", s, add, parse, got, want)
						continue
					}
					pass++
				}
				if got := tok.Decode(r.Tokens[i][0], false, false); got != r.Text[i] {
					t.Errorf("decode %v: got %q, want %q", r.Tokens[i][0], got, r.Text[i])
				}
			}
			t.Logf("%s: %d/%d encodings agree with libllama", name, pass, total)
			rt := res[roundTrip[path]]
			if rt.Error != "" {
				t.Fatalf("libllama cannot load the GGUF -> HF -> GGUF round trip: %s", rt.Error)
			}
			if !reflect.DeepEqual(rt.Tokens, r.Tokens) || !slices.Equal(rt.Text, r.Text) {
				t.Errorf("libllama tokenizes the GGUF -> HF -> GGUF round trip differently")
			}
		})
	}
}

// writeRoundTrip writes the GGUF at path as Hugging Face files, reads them back and
// writes the vocabulary as a vocab-only GGUF at out.
func writeRoundTrip(t *testing.T, path, out string) {
	t.Helper()
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
	m, err := hf.ConvertTokenizer(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	// llama.cpp reads the architecture's hyper-parameters even for a vocab-only file
	for _, k := range md.Keys() {
		if !strings.HasPrefix(k, "tokenizer.") && !strings.HasPrefix(k, "general.") {
			x, _ := md.Get(k)
			m.Metadata.Set(k, x)
		}
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatal(err)
	}
}

// TestPreTokenizersAgainstLibllama gives GPT-2's vocabulary every pre-tokenizer name
// llama.cpp knows (one name per distinct behaviour) and compares this package's
// tokenization of extraStrings and llama.cpp's test texts with libllama's.
func TestPreTokenizersAgainstLibllama(t *testing.T) {
	dir := vocabDir(t)
	testtool.RequirePython(t, "ctypes", "json")
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	libdir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	base := loadGGUF(t, filepath.Join(dir, "ggml-vocab-gpt-2.gguf"))
	texts, _ := readVectors(t, filepath.Join(dir, "ggml-vocab-llama-bpe.gguf"))
	texts = append(texts, extraStrings...)
	texts = append(texts, "ab1234 x12 1234567", "HelloWORLD fooBar ÅngströmΩ", "<sentinel:12>IMGIMGABZ", "a\u0301b\u0308 \u0915\u093f")
	tmp := t.TempDir()
	paths := map[string]string{}
	var names, models []string
	for _, name := range tokenizer.PreTokenizers() {
		key := tokenizer.PreBehaviour(name)
		if _, seen := paths[key]; seen {
			continue
		}
		switch name {
		case "gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace":
			// raw UTF-8 merges: a byte-level vocabulary trips llama.cpp's assertion
			// that no token holds a space
			continue
		}
		md := base.Clone()
		md.Set("tokenizer.ggml.pre", name)
		p := filepath.Join(tmp, name+".gguf")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := gguf.Encode(f, &refit.Model{Format: "gguf", Metadata: md}, nil); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths[key] = p
		names = append(names, name)
		models = append(models, p)
	}
	req := filepath.Join(tmp, "req.json")
	b, _ := json.Marshal(map[string]any{"models": models, "strings": texts})
	if err := os.WriteFile(req, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llama_tokenize.py"))
	if err != nil {
		t.Fatal(err)
	}
	out := testtool.RunPython(t, string(script), libdir, req)
	var res map[string]llamaResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			r := res[models[i]]
			if r.Error != "" {
				t.Skipf("libllama: %s", r.Error)
			}
			md := base.Clone()
			md.Set("tokenizer.ggml.pre", name)
			v, err := tokenizer.FromMetadata(md)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.New(v)
			if errors.Is(err, refit.ErrUnsupported) {
				t.Skipf("%v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			pass, total := 0, 0
			for j, s := range texts {
				for mode, want := range r.Tokens[j] {
					add, parse := mode%2 == 1, mode >= 2
					total++
					if got := tok.Encode(s, add, parse); !slices.Equal(got, want) {
						t.Errorf("%q add_special=%v parse_special=%v:\n got %v\nwant %v", s, add, parse, got, want)
						continue
					}
					pass++
				}
				if got := tok.Decode(r.Tokens[j][0], false, false); got != r.Text[j] {
					t.Errorf("decode %v: got %q, want %q", r.Tokens[j][0], got, r.Text[j])
				}
			}
			t.Logf("%s: %d/%d encodings agree with libllama", name, pass, total)
		})
	}
}
