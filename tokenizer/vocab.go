package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
)

// TokenType is a GGUF token type (tokenizer.ggml.token_type); the values are
// sentencepiece's piece types, which llama.cpp uses unchanged.
type TokenType int32

// Token types.
const (
	Normal      TokenType = 1
	Unknown     TokenType = 2
	Control     TokenType = 3
	UserDefined TokenType = 4
	Unused      TokenType = 5
	Byte        TokenType = 6
)

// Limits on what a tokenizer file may claim before anything is allocated.
const (
	MaxFileSize  = 256 << 20 // tokenizer.json, tokenizer.model
	MaxSideFile  = 16 << 20  // tokenizer_config.json, config.json, chat_template.jinja
	MaxVocabSize = 1 << 24
)

// Special token roles, in GGUF key order: tokenizer.ggml.<role>_token_id.
// "seperator" is spelled as GGUF spells it.
var Roles = []string{"bos", "eos", "unknown", "seperator", "padding", "mask"}

// Vocab is a tokenizer in the form GGUF stores it.
type Vocab struct {
	Model  string      // tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
	Pre    string      // tokenizer.ggml.pre: the pre-tokenizer name llama.cpp knows
	Tokens []string    // by id
	Scores []float32   // SentencePiece only
	Types  []TokenType // by id
	Merges []string    // BPE only, "left right" in rank order

	// Special maps a role from Roles to a token id.
	Special map[string]uint32
	// AddBOS, AddEOS and AddSpacePrefix are nil when the files do not say.
	AddBOS, AddEOS, AddSpacePrefix *bool
	ChatTemplate                   string

	// GGUF keys some models carry (nil or empty when absent).
	AddSep, RemoveExtraSpaces, Lowercase, StripAccents *bool
	Charsmap                                           []byte // Unigram normalizer (tokenizer.ggml.precompiled_charsmap)
	TokenTypeCount                                     *uint32
	// NamedTemplates are tokenizer.chat_template.NAME; TemplateNames is
	// tokenizer.chat_templates, the list of names llama.cpp writes beside them.
	NamedTemplates map[string]string
	TemplateNames  []string

	// Name and Arch are general.name and general.architecture, which decide a few
	// token attributes in llama.cpp.
	Name, Arch string
}

// ErrNoTokenizer reports a folder with neither tokenizer.json nor tokenizer.model.
var ErrNoTokenizer = errors.New("tokenizer: no tokenizer.json or tokenizer.model")

// Options control Load. The zero value means defaults.
type Options struct {
	// VocabSize pads the vocabulary with unused "[PADn]" tokens up to the model's
	// embedding rows (config.json vocab_size); zero means no padding.
	VocabSize int
	// Pre overrides the pre-tokenizer name detected from tokenizer.json.
	Pre string
}

// Load reads the tokenizer of a Hugging Face folder: tokenizer.model (SentencePiece:
// BPE "llama" or Unigram "t5") when present, else tokenizer.json (byte-level BPE,
// BPE with byte fallback, WordPiece, Unigram), else vocab.txt (WordPiece); plus
// special tokens, add_bos/add_eos and the chat template from tokenizer_config.json,
// config.json and chat_template.jinja. What HFFiles recorded under GGUFExtras in
// tokenizer_config.json is applied last, so GGUF -> HF -> GGUF keeps the vocabulary.
func Load(fsys fs.FS, opts *Options) (*Vocab, error) {
	if opts == nil {
		opts = &Options{}
	}
	tokJSON, err := readOptional(fsys, "tokenizer.json", MaxFileSize)
	if err != nil {
		return nil, err
	}
	spm, err := readOptional(fsys, "tokenizer.model", MaxFileSize)
	if err != nil {
		return nil, err
	}
	vocabTxt, err := readOptional(fsys, "vocab.txt", MaxFileSize)
	if err != nil {
		return nil, err
	}
	cfg, err := readOptional(fsys, "tokenizer_config.json", MaxSideFile)
	if err != nil {
		return nil, err
	}
	var ex *extras
	if cfg != nil {
		var tc map[string]json.RawMessage
		if err := json.Unmarshal(cfg, &tc); err != nil {
			return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer_config.json", Err: err}
		}
		if raw, ok := tc[GGUFExtras]; ok {
			ex = &extras{}
			if err := json.Unmarshal(raw, ex); err != nil {
				return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer_config.json " + GGUFExtras, Err: err}
			}
		}
	}
	pre := opts.Pre
	if pre == "" && ex != nil {
		pre = ex.Pre
	}
	var (
		v  *Vocab
		tj *tokenizerJSON
	)
	if tokJSON != nil {
		if tj, err = parseTokenizerJSON(tokJSON); err != nil {
			if spm == nil {
				return nil, err
			}
			tj = nil // tokenizer.model is authoritative; the JSON only adds hints
		}
	}
	switch {
	case spm != nil:
		v, err = ParseSentencePiece(spm)
	case tj != nil:
		v, err = tj.vocab(pre)
	case vocabTxt != nil:
		v, err = parseVocabTxt(vocabTxt)
	default:
		return nil, ErrNoTokenizer
	}
	if err != nil {
		return nil, err
	}
	if pre != "" {
		v.Pre = pre
	}
	if opts.VocabSize > MaxVocabSize {
		return nil, refit.Errorf("tokenizer", -1, "vocab_size %d exceeds %d", opts.VocabSize, MaxVocabSize)
	}
	v.pad(opts.VocabSize)
	modelCfg, err := readOptional(fsys, "config.json", MaxSideFile)
	if err != nil {
		return nil, err
	}
	tmpl, err := readOptional(fsys, "chat_template.jinja", MaxSideFile)
	if err != nil {
		return nil, err
	}
	if v.Scores != nil && ex == nil {
		if err := v.applyAddedTokens(cfg); err != nil {
			return nil, err
		}
	}
	if err := v.applySpecial(tj, cfg, modelCfg); err != nil {
		return nil, err
	}
	if tmpl != nil && v.ChatTemplate == "" {
		v.ChatTemplate = string(tmpl)
	}
	if ex != nil {
		if err := v.applyExtras(ex); err != nil {
			return nil, err
		}
	}
	if opts.Pre != "" {
		v.Pre = opts.Pre
	}
	if v.Model == "llama" {
		v.Merges = nil // SentencePiece vocabularies merge by score
	}
	return v, nil
}

// applyExtras restores what HFFiles recorded beside the Hugging Face files.
func (v *Vocab) applyExtras(ex *extras) error {
	if ex.Model != "" {
		v.Model = ex.Model
	}
	v.Pre = ex.Pre
	v.Special = map[string]uint32{}
	for r, id := range ex.Special {
		if int(id) < len(v.Tokens) {
			v.Special[r] = id
		}
	}
	for k, t := range ex.Types {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id >= len(v.Types) || t < Normal || t > Byte {
			return errorf("tokenizer_config.json %s: token type %q: %d", GGUFExtras, k, t)
		}
		v.Types[id] = t
	}
	if ex.Scores != nil {
		if len(ex.Scores) != len(v.Tokens) {
			return errorf("tokenizer_config.json %s: %d scores for %d tokens", GGUFExtras, len(ex.Scores), len(v.Tokens))
		}
		v.Scores = ex.Scores
	} else if v.Model == "gpt2" || v.Model == "bert" || v.Model == "gemma4" {
		v.Scores = nil
	}
	v.AddBOS, v.AddEOS, v.AddSep, v.AddSpacePrefix = ex.AddBOS, ex.AddEOS, ex.AddSep, ex.AddSpacePrefix
	v.RemoveExtraSpaces, v.Lowercase, v.StripAccents, v.TokenTypeCount = ex.RemoveExtraSpaces, ex.Lowercase, ex.StripAccents, ex.TokenTypeCount
	v.TemplateNames = ex.TemplateNames
	v.Arch, v.Name = ex.Architecture, ex.Name
	return nil
}

// parseVocabTxt reads a WordPiece vocab.txt (one token per line, id = line number).
func parseVocabTxt(b []byte) (*Vocab, error) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) > MaxVocabSize {
		return nil, errorf("vocab.txt has more than %d lines", MaxVocabSize)
	}
	v := &Vocab{Model: "bert", Tokens: make([]string, len(lines)), Types: make([]TokenType, len(lines)), Special: map[string]uint32{}}
	// BertTokenizer's default special tokens; CLS is what llama.cpp adds as BOS
	roles := map[string][]string{"[UNK]": {"unknown"}, "[CLS]": {"cls", "bos"}, "[SEP]": {"seperator"}, "[PAD]": {"padding"}, "[MASK]": {"mask"}}
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		v.Tokens[i] = bertFromHF(l)
		v.Types[i] = Normal
		if strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]") && len(l) > 2 {
			v.Types[i] = Control
		}
		for _, r := range roles[l] {
			if _, dup := v.Special[r]; !dup {
				v.Special[r] = uint32(i)
			}
		}
	}
	return v, nil
}

// pad extends the vocabulary to n tokens with unused placeholders.
func (v *Vocab) pad(n int) {
	for i := len(v.Tokens); i < n; i++ {
		v.Tokens = append(v.Tokens, fmt.Sprintf("[PAD%d]", i))
		v.Types = append(v.Types, Unused)
		if v.Scores != nil {
			v.Scores = append(v.Scores, -1000)
		}
	}
}

// Metadata adds the tokenizer.* keys to md.
func (v *Vocab) Metadata(md *refit.Metadata) {
	md.Set("tokenizer.ggml.model", v.Model)
	if v.Pre != "" {
		md.Set("tokenizer.ggml.pre", v.Pre)
	}
	md.Set("tokenizer.ggml.tokens", append([]string(nil), v.Tokens...))
	if v.Scores != nil {
		md.Set("tokenizer.ggml.scores", append([]float32(nil), v.Scores...))
	}
	types := make([]int32, len(v.Types))
	for i, t := range v.Types {
		types[i] = int32(t)
	}
	md.Set("tokenizer.ggml.token_type", types)
	if v.Merges != nil {
		md.Set("tokenizer.ggml.merges", append([]string(nil), v.Merges...))
	}
	for _, r := range Roles {
		if id, ok := v.Special[r]; ok {
			md.Set("tokenizer.ggml."+r+"_token_id", id)
		}
	}
	if v.AddBOS != nil {
		md.Set("tokenizer.ggml.add_bos_token", *v.AddBOS)
	}
	if v.AddEOS != nil {
		md.Set("tokenizer.ggml.add_eos_token", *v.AddEOS)
	}
	if v.AddSpacePrefix != nil {
		md.Set("tokenizer.ggml.add_space_prefix", *v.AddSpacePrefix)
	}
	for _, r := range ExtraRoles {
		if id, ok := v.Special[r]; ok {
			md.Set("tokenizer.ggml."+r+"_token_id", id)
		}
	}
	for _, b := range []struct {
		key string
		v   *bool
	}{{"add_sep_token", v.AddSep}, {"remove_extra_whitespaces", v.RemoveExtraSpaces},
		{"normalizer.lowercase", v.Lowercase}, {"normalizer.strip_accents", v.StripAccents}} {
		if b.v != nil {
			md.Set("tokenizer.ggml."+b.key, *b.v)
		}
	}
	if v.Charsmap != nil {
		md.Set("tokenizer.ggml.precompiled_charsmap", append([]uint8(nil), v.Charsmap...))
	}
	if v.TokenTypeCount != nil {
		md.Set("tokenizer.ggml.token_type_count", *v.TokenTypeCount)
	}
	if v.ChatTemplate != "" {
		md.Set("tokenizer.chat_template", v.ChatTemplate)
	}
	if v.TemplateNames != nil {
		md.Set("tokenizer.chat_templates", append([]string(nil), v.TemplateNames...))
	}
	names := make([]string, 0, len(v.NamedTemplates))
	for k := range v.NamedTemplates {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		md.Set("tokenizer.chat_template."+k, v.NamedTemplates[k])
	}
}

// id returns the id of a token's text, searching from the end so added tokens win.
func (v *Vocab) id(text string) (uint32, bool) {
	for i := len(v.Tokens) - 1; i >= 0; i-- {
		if v.Tokens[i] == text {
			return uint32(i), true
		}
	}
	return 0, false
}

// readOptional reads a whole file, at most limit bytes; a missing file is (nil, nil).
func readOptional(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, refit.Errorf("tokenizer", -1, "%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

func errorf(msg string, args ...any) error { return refit.Errorf("tokenizer", -1, msg, args...) }

func boolPtr(b bool) *bool { return &b }

// looksSpecial mirrors the converter heuristic: added tokens shaped like <|...|> or
// <unused...> are control tokens even when not flagged special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>")) ||
		(strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"))
}
