package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/refit-ml/refit"
)

// tokenizerJSON is the part of a Hugging Face tokenizer.json that GGUF needs.
type tokenizerJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	PreTokenizer  *preTokenizer   `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type   string           `json:"type"`
		Vocab  json.RawMessage  `json:"vocab"`
		Merges json.RawMessage  `json:"merges"`
		vocab  map[string]int64 // parsed Vocab
	} `json:"model"`
}

type addedToken struct {
	ID      int64  `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type preTokenizer struct {
	Type     string `json:"type"`
	UseRegex *bool  `json:"use_regex"`
	Pattern  struct {
		Regex  string `json:"Regex"`
		String string `json:"String"`
	} `json:"pattern"`
	Pretokenizers []preTokenizer `json:"pretokenizers"`
}

// Split patterns of known pre-tokenizers, as tokenizer.json spells them, and the
// name llama.cpp gives each.
const (
	regexGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	regexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	regexQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

var knownSplits = map[string]string{
	regexGPT2:   "gpt-2",
	regexLlama3: "llama-bpe",
	regexQwen2:  "qwen2",
}

func parseTokenizerJSON(b []byte) (*tokenizerJSON, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json", Err: err}
	}
	if tj.Model.Type != "BPE" {
		return nil, refit.Unsupportedf("tokenizer", "tokenizer.json model type %q (only BPE)", tj.Model.Type)
	}
	if err := json.Unmarshal(tj.Model.Vocab, &tj.Model.vocab); err != nil {
		return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json model.vocab", Err: err}
	}
	return &tj, nil
}

// preName names the pre-tokenizer: a bare byte-level one splits like GPT-2; a Split
// followed by a regex-free byte-level step is named by its pattern.
func (tj *tokenizerJSON) preName() (string, error) {
	p := tj.PreTokenizer
	if p == nil {
		return "", refit.Unsupportedf("tokenizer", "tokenizer.json has no pre_tokenizer (not byte-level BPE)")
	}
	if p.Type == "ByteLevel" && (p.UseRegex == nil || *p.UseRegex) {
		return "gpt-2", nil
	}
	if p.Type == "Sequence" && len(p.Pretokenizers) == 2 {
		split, bl := p.Pretokenizers[0], p.Pretokenizers[1]
		if split.Type == "Split" && bl.Type == "ByteLevel" && bl.UseRegex != nil && !*bl.UseRegex {
			if name, ok := knownSplits[split.Pattern.Regex]; ok {
				return name, nil
			}
			return "", refit.Unsupportedf("tokenizer", "unknown pre-tokenizer pattern %q (name it explicitly)", split.Pattern.Regex)
		}
	}
	return "", refit.Unsupportedf("tokenizer", "unknown pre-tokenizer %q (name it explicitly)", p.Type)
}

// vocab builds a byte-level BPE vocabulary.
func (tj *tokenizerJSON) vocab(pre string) (*Vocab, error) {
	if pre == "" {
		var err error
		if pre, err = tj.preName(); err != nil {
			return nil, err
		}
	}
	size := int64(0)
	for tok, id := range tj.Model.vocab {
		if id < 0 || id >= MaxVocabSize {
			return nil, errorf("tokenizer.json: token %q has id %d", tok, id)
		}
		size = max(size, id+1)
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID >= MaxVocabSize {
			return nil, errorf("tokenizer.json: added token %q has id %d", a.Content, a.ID)
		}
		size = max(size, a.ID+1)
	}
	v := &Vocab{Model: "gpt2", Pre: pre, Tokens: make([]string, size), Types: make([]TokenType, size)}
	seen := make([]bool, size)
	for tok, id := range tj.Model.vocab {
		if seen[id] {
			return nil, errorf("tokenizer.json: id %d is used by two tokens", id)
		}
		seen[id] = true
		v.Tokens[id], v.Types[id] = tok, Normal
	}
	for _, a := range tj.AddedTokens {
		seen[a.ID] = true
		v.Tokens[a.ID] = a.Content
		if a.Special || looksSpecial(a.Content) {
			v.Types[a.ID] = Control
		} else {
			v.Types[a.ID] = UserDefined
		}
	}
	for i := range seen {
		if !seen[i] {
			v.Tokens[i], v.Types[i] = fmt.Sprintf("[PAD%d]", i), Unused
		}
	}
	merges, err := parseMerges(tj.Model.Merges)
	if err != nil {
		return nil, err
	}
	v.Merges = merges
	return v, nil
}

// parseMerges accepts both spellings: ["a b", ...] and [["a", "b"], ...].
func parseMerges(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return []string{}, nil
	}
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		for i, m := range asStrings {
			if strings.Count(m, " ") != 1 {
				return nil, errorf("tokenizer.json: merge %d %q is not two tokens", i, m)
			}
		}
		return asStrings, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json model.merges", Err: err}
	}
	out := make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 || strings.Contains(p[0], " ") || strings.Contains(p[1], " ") {
			return nil, errorf("tokenizer.json: merge %d %q is not two tokens without spaces", i, p)
		}
		out[i] = p[0] + " " + p[1]
	}
	return out, nil
}
