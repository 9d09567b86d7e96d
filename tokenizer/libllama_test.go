package tokenizer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
	req := filepath.Join(t.TempDir(), "req.json")
	b, _ := json.Marshal(map[string]any{"models": models, "strings": extraStrings})
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
		})
	}
}
