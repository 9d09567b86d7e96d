package tokenizer

import (
	"fmt"
	"math"
	"strings"

	"github.com/refit-ml/refit"
)

// Models lists the tokenizer.ggml.model values this package tokenizes: "llama"
// (SentencePiece BPE with byte fallback), "gpt2" (byte-level BPE), "bert" (WordPiece),
// "t5" (Unigram), "rwkv" (greedy trie) and "gemma4" (BPE over raw UTF-8).
var Models = []string{"llama", "gpt2", "bert", "t5", "rwkv", "gemma4"}

// FromMetadata reads the tokenizer.* keys of GGUF metadata into a Vocab. Arrays are
// checked against each other; ids out of range are dropped, as llama.cpp does.
func FromMetadata(md refit.Metadata) (*Vocab, error) {
	v := &Vocab{Model: md.String("tokenizer.ggml.model"), Pre: md.String("tokenizer.ggml.pre"), Special: map[string]uint32{}}
	if v.Model == "" {
		return nil, errorf("metadata has no tokenizer.ggml.model")
	}
	tv, _ := md.Get("tokenizer.ggml.tokens")
	tokens, ok := tv.([]string)
	if !ok || len(tokens) == 0 {
		return nil, errorf("tokenizer.ggml.tokens is missing or not a string array")
	}
	if len(tokens) > MaxVocabSize {
		return nil, errorf("%d tokens exceed %d", len(tokens), MaxVocabSize)
	}
	v.Tokens = tokens
	if x, ok := md.Get("tokenizer.ggml.scores"); ok {
		switch s := x.(type) {
		case []float32:
			v.Scores = s
		case []int32:
			v.Scores = make([]float32, len(s))
			for i, n := range s {
				v.Scores[i] = float32(n)
			}
		default:
			return nil, errorf("tokenizer.ggml.scores is %T", x)
		}
		if len(v.Scores) < len(tokens) {
			return nil, errorf("tokenizer.ggml.scores has %d values for %d tokens", len(v.Scores), len(tokens))
		}
		v.Scores = v.Scores[:len(tokens)]
	}
	if x, ok := md.Get("tokenizer.ggml.token_type"); ok {
		t, ok := x.([]int32)
		if !ok || len(t) < len(tokens) {
			return nil, errorf("tokenizer.ggml.token_type is %T of %d values for %d tokens", x, len(t), len(tokens))
		}
		v.Types = make([]TokenType, len(tokens))
		for i := range v.Types {
			v.Types[i] = TokenType(t[i])
		}
	}
	if x, ok := md.Get("tokenizer.ggml.merges"); ok {
		m, ok := x.([]string)
		if !ok {
			return nil, errorf("tokenizer.ggml.merges is %T, not a string array", x)
		}
		v.Merges = m
	}
	for _, r := range append(Roles, ExtraRoles...) {
		if id, ok := metaUint(md, "tokenizer.ggml."+r+"_token_id"); ok && id < uint64(len(tokens)) {
			v.Special[r] = uint32(id)
		}
	}
	v.AddBOS = metaBool(md, "tokenizer.ggml.add_bos_token")
	v.AddEOS = metaBool(md, "tokenizer.ggml.add_eos_token")
	v.AddSep = metaBool(md, "tokenizer.ggml.add_sep_token")
	v.AddSpacePrefix = metaBool(md, "tokenizer.ggml.add_space_prefix")
	v.RemoveExtraSpaces = metaBool(md, "tokenizer.ggml.remove_extra_whitespaces")
	v.Lowercase = metaBool(md, "tokenizer.ggml.normalizer.lowercase")
	v.StripAccents = metaBool(md, "tokenizer.ggml.normalizer.strip_accents")
	if x, ok := md.Get("tokenizer.ggml.precompiled_charsmap"); ok {
		switch c := x.(type) {
		case []uint8:
			v.Charsmap = c
		case []int8:
			v.Charsmap = make([]byte, len(c))
			for i, b := range c {
				v.Charsmap[i] = byte(b)
			}
		default:
			return nil, errorf("tokenizer.ggml.precompiled_charsmap is %T", x)
		}
	}
	if n, ok := metaUint(md, "tokenizer.ggml.token_type_count"); ok && n <= math.MaxUint32 {
		c := uint32(n)
		v.TokenTypeCount = &c
	}
	v.ChatTemplate = md.String("tokenizer.chat_template")
	if x, ok := md.Get("tokenizer.chat_templates"); ok {
		if names, ok := x.([]string); ok {
			v.TemplateNames = names
		}
	}
	for _, k := range md.Keys() {
		if name, ok := strings.CutPrefix(k, "tokenizer.chat_template."); ok {
			if v.NamedTemplates == nil {
				v.NamedTemplates = map[string]string{}
			}
			v.NamedTemplates[name] = md.String(k)
		}
	}
	v.Name = md.String("general.name")
	v.Arch = md.String("general.architecture")
	return v, nil
}

// ExtraRoles are the special ids beyond Roles that GGUF may carry.
var ExtraRoles = []string{"eot", "eom", "cls", "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep"}

func metaUint(md refit.Metadata, key string) (uint64, bool) {
	x, ok := md.Get(key)
	if !ok {
		return 0, false
	}
	switch n := x.(type) {
	case uint8:
		return uint64(n), true
	case uint16:
		return uint64(n), true
	case uint32:
		return uint64(n), true
	case uint64:
		return n, true
	case int8:
		return uint64(n), n >= 0
	case int16:
		return uint64(n), n >= 0
	case int32:
		return uint64(n), n >= 0
	case int64:
		return uint64(n), n >= 0
	}
	return 0, false
}

func metaBool(md refit.Metadata, key string) *bool {
	if x, ok := md.Get(key); ok {
		if b, ok := x.(bool); ok {
			return &b
		}
	}
	return nil
}

// String describes a vocabulary in one line.
func (v *Vocab) String() string {
	return fmt.Sprintf("%s/%s, %d tokens, %d merges", v.Model, v.Pre, len(v.Tokens), len(v.Merges))
}
