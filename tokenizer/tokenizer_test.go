package tokenizer

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
)

const byteLevel = `{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}`

func tokJSON(pre, merges, added string) string {
	return `{"added_tokens":[` + added + `],"pre_tokenizer":` + pre + `,
"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"c":4},"merges":` + merges + `}}`
}

func load(t *testing.T, files map[string]string, opts *Options) (*Vocab, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return Load(fsys, opts)
}

func TestLoadBPE(t *testing.T) {
	added := `{"id":5,"content":"<s>","special":true},{"id":6,"content":"<|im_end|>","special":false},{"id":7,"content":"hi▁there","special":false}`
	v, err := load(t, map[string]string{
		"tokenizer.json":        tokJSON(byteLevel, `[["a","b"]]`, added),
		"tokenizer_config.json": `{"bos_token":{"content":"<s>"},"eos_token":"<|im_end|>","chat_template":[{"name":"default","template":"T"},{"name":"tool_use","template":"U"}]}`,
		"config.json":           `{"pad_token_id":[3,4]}`,
	}, &Options{VocabSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	wantTokens := []string{"a", "b", "ab", "[PAD3]", "c", "<s>", "<|im_end|>", "hi▁there", "[PAD8]", "[PAD9]"}
	if !slices.Equal(v.Tokens, wantTokens) {
		t.Errorf("Tokens = %q, want %q", v.Tokens, wantTokens)
	}
	wantTypes := []TokenType{Normal, Normal, Normal, Unused, Normal, Control, Control, UserDefined, Unused, Unused}
	if !slices.Equal(v.Types, wantTypes) {
		t.Errorf("Types = %v, want %v", v.Types, wantTypes)
	}
	if !slices.Equal(v.Merges, []string{"a b"}) || v.Model != "gpt2" || v.Pre != "gpt-2" || v.Scores != nil {
		t.Errorf("Merges %q, Model %q, Pre %q, Scores %v", v.Merges, v.Model, v.Pre, v.Scores)
	}
	if v.Special["bos"] != 5 || v.Special["eos"] != 6 || v.Special["padding"] != 3 {
		t.Errorf("Special = %v", v.Special)
	}
	if v.ChatTemplate != "T" || v.AddBOS != nil {
		t.Errorf("ChatTemplate %q, AddBOS %v", v.ChatTemplate, v.AddBOS)
	}
	md := refit.Metadata{}
	v.Metadata(&md)
	if got, _ := md.Get("tokenizer.ggml.padding_token_id"); got != uint32(3) {
		t.Errorf("padding_token_id = %#v", got)
	}
	if _, ok := md.Get("tokenizer.ggml.scores"); ok {
		t.Error("BPE vocabulary wrote scores")
	}
}

func TestPreTokenizerNames(t *testing.T) {
	split := func(re string) string {
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(re)
		return `{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"` + q +
			`"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}`
	}
	tests := []struct {
		pre, want string
		err       error
	}{
		{byteLevel, "gpt-2", nil},
		{`{"type":"ByteLevel"}`, "gpt-2", nil},
		{split(regexLlama3), "llama-bpe", nil},
		{split(regexQwen2), "qwen2", nil},
		{split(regexGPT2), "gpt-2", nil},
		{split(`\w+`), "", refit.ErrUnsupported},
		{`{"type":"Whitespace"}`, "", refit.ErrUnsupported},
		{`null`, "", refit.ErrUnsupported},
	}
	for _, tc := range tests {
		v, err := load(t, map[string]string{"tokenizer.json": tokJSON(tc.pre, `["a b"]`, "")}, nil)
		if !errors.Is(err, tc.err) || (err == nil && v.Pre != tc.want) {
			t.Errorf("pre_tokenizer %s: %v, %v; want %q, %v", tc.pre, v, err, tc.want, tc.err)
		}
	}
	v, err := load(t, map[string]string{"tokenizer.json": tokJSON(`{"type":"Whitespace"}`, `[]`, "")}, &Options{Pre: "default"})
	if err != nil || v.Pre != "default" {
		t.Errorf("explicit Pre: %v, %v", v, err)
	}
}

func TestLoadBPEErrors(t *testing.T) {
	tests := []struct {
		name, tok string
		want      error
	}{
		{"not json", `{`, refit.ErrFormat},
		{"wordlevel", `{"model":{"type":"WordLevel","vocab":{"a":0}}}`, refit.ErrUnsupported},
		{"negative id", tokJSON(byteLevel, `[]`, `{"id":-1,"content":"x"}`), refit.ErrFormat},
		{"huge id", tokJSON(byteLevel, `[]`, `{"id":99999999999,"content":"x"}`), refit.ErrFormat},
		{"duplicate id", strings.Replace(tokJSON(byteLevel, `[]`, ""), `"c":4`, `"c":1`, 1), refit.ErrFormat},
		{"bad merge", tokJSON(byteLevel, `["ab"]`, ""), refit.ErrFormat},
		{"bad merge pair", tokJSON(byteLevel, `[["a","b","c"]]`, ""), refit.ErrFormat},
		{"merge type", tokJSON(byteLevel, `[1]`, ""), refit.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, map[string]string{"tokenizer.json": tc.tok}, nil); !errors.Is(err, tc.want) {
				t.Errorf("Load = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := load(t, map[string]string{}, nil); !errors.Is(err, ErrNoTokenizer) {
		t.Errorf("Load(empty) = %v, want ErrNoTokenizer", err)
	}
	if _, err := load(t, map[string]string{"tokenizer.json": tokJSON(byteLevel, `[]`, ""), "tokenizer_config.json": `[`}, nil); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("bad tokenizer_config.json: %v", err)
	}
}

func TestAddBOSFromPostProcessor(t *testing.T) {
	tok := strings.Replace(tokJSON(byteLevel, `[]`, `{"id":5,"content":"<s>","special":true}`), `"pre_tokenizer"`,
		`"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}]},"pre_tokenizer"`, 1)
	v, err := load(t, map[string]string{"tokenizer.json": tok, "tokenizer_config.json": `{"bos_token":"<s>"}`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.AddBOS == nil || !*v.AddBOS || v.AddEOS != nil {
		t.Errorf("AddBOS %v, AddEOS %v; want true, nil", v.AddBOS, v.AddEOS)
	}
}

// spmModel builds a tokenizer.model: pieces, a trainer spec and a normalizer spec.
func spmModel(pieces []spmPiece, trainer map[protowire.Number]int64, dummyPrefix bool) []byte {
	var b []byte
	for _, p := range pieces {
		var m []byte
		m = protowire.AppendTag(m, fieldPiece, protowire.BytesType)
		m = protowire.AppendString(m, p.text)
		m = protowire.AppendTag(m, fieldScore, protowire.Fixed32Type)
		m = protowire.AppendFixed32(m, math.Float32bits(p.score))
		if p.typ != 0 {
			m = protowire.AppendTag(m, fieldType, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(p.typ))
		}
		b = protowire.AppendTag(b, fieldPieces, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	var ts []byte
	ts = protowire.AppendTag(ts, 1, protowire.BytesType) // input file name: ignored
	ts = protowire.AppendString(ts, "corpus.txt")
	for num, v := range trainer {
		ts = protowire.AppendTag(ts, num, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(v))
	}
	b = protowire.AppendTag(b, fieldTrainerSpec, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	ns = protowire.AppendTag(ns, fieldAddDummyPrefix, protowire.VarintType)
	ns = protowire.AppendVarint(ns, protowire.EncodeBool(dummyPrefix))
	b = protowire.AppendTag(b, fieldNormalizerSpec, protowire.BytesType)
	return protowire.AppendBytes(b, ns)
}

type spmPiece struct {
	text  string
	score float32
	typ   TokenType
}

var spmPieces = []spmPiece{
	{"<pad>", 0, Control}, {"<eos>", 0, Control}, {"<bos>", 0, Control}, {"<unk>", 0, Unknown},
	{"<0x41>", 0, Byte}, {"▁a", -1.5, 0}, {"b", -2, Normal}, {"<mask>", 0, UserDefined}, {"old", 0, Unused},
}

func TestParseSentencePiece(t *testing.T) {
	b := spmModel(spmPieces, map[protowire.Number]int64{fieldUnkID: 3, fieldBOSID: 2, fieldEOSID: 1, fieldPadID: 0}, false)
	v, err := ParseSentencePiece(b)
	if err != nil {
		t.Fatal(err)
	}
	if v.Model != "llama" || len(v.Tokens) != 9 || v.Tokens[5] != "▁a" || v.Scores[5] != -1.5 || v.Scores[6] != -2 {
		t.Errorf("vocab %q %v", v.Tokens, v.Scores)
	}
	wantTypes := []TokenType{Control, Control, Control, Unknown, Byte, Normal, Normal, UserDefined, Unused}
	if !slices.Equal(v.Types, wantTypes) {
		t.Errorf("Types = %v, want %v", v.Types, wantTypes)
	}
	want := map[string]uint32{"unknown": 3, "bos": 2, "eos": 1, "padding": 0}
	for r, id := range want {
		if v.Special[r] != id {
			t.Errorf("Special[%s] = %d, want %d", r, v.Special[r], id)
		}
	}
	if v.AddSpacePrefix == nil || *v.AddSpacePrefix {
		t.Errorf("AddSpacePrefix = %v, want false", v.AddSpacePrefix)
	}

	// Defaults: unk 0, bos 1, eos 2, no pad (-1 is a sign-extended varint).
	v, err = ParseSentencePiece(spmModel(spmPieces, map[protowire.Number]int64{fieldPadID: -1}, true))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := v.Special["padding"]; ok || v.Special["bos"] != 1 || !*v.AddSpacePrefix {
		t.Errorf("defaults: Special %v, AddSpacePrefix %v", v.Special, *v.AddSpacePrefix)
	}

	// tokenizer_config.json overrides the trainer spec; scores are written.
	fsys := fstest.MapFS{
		"tokenizer.model":       {Data: b},
		"tokenizer_config.json": {Data: []byte(`{"bos_token":"<bos>","eos_token":"<eos>","add_bos_token":true,"add_eos_token":false}`)},
	}
	v, err = Load(fsys, &Options{VocabSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	md := refit.Metadata{}
	v.Metadata(&md)
	if s, _ := md.Get("tokenizer.ggml.scores"); len(s.([]float32)) != 10 {
		t.Errorf("scores = %v", s)
	}
	if got, _ := md.Get("tokenizer.ggml.add_space_prefix"); got != false {
		t.Errorf("add_space_prefix = %v", got)
	}
	if got, _ := md.Get("tokenizer.ggml.bos_token_id"); got != uint32(2) {
		t.Errorf("bos_token_id = %v", got)
	}
}

func TestParseSentencePieceErrors(t *testing.T) {
	good := spmModel(spmPieces, nil, true)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-3]},
		{"bad tag", []byte{0x00}},
		{"group", []byte{0x0b}},
		{"bad type", spmModel([]spmPiece{{"x", 0, 9}}, nil, true)},
		{"huge length", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSentencePiece(tc.b); !errors.Is(err, refit.ErrFormat) {
				t.Errorf("ParseSentencePiece = %v, want ErrFormat", err)
			}
		})
	}
}

// TestPreTokenizerOriginals: the split patterns as models' tokenizer.json files spell
// them find llama.cpp's pre-tokenizer names.
func TestPreTokenizerOriginals(t *testing.T) {
	seq := func(res ...string) *preTokenizer {
		p := &preTokenizer{Type: "Sequence"}
		for _, r := range res {
			s := preTokenizer{Type: "Split"}
			s.Pattern.Regex = r
			p.Pretokenizers = append(p.Pretokenizers, s)
		}
		no := false
		p.Pretokenizers = append(p.Pretokenizers, preTokenizer{Type: "ByteLevel", UseRegex: &no})
		return p
	}
	for want, res := range map[string][]string{
		"qwen35":         {`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		"tekken":         {`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		"gpt-4o":         {`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`},
		"seed-coder":     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\r\n]+|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
		"bailingmoe":     {`'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`},
		"deepseek-coder": preRegexes["deepseek_coder"],
	} {
		tj := &tokenizerJSON{PreTokenizer: seq(res...)}
		got, err := tj.preName()
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v", want, got, err)
		}
	}
}
