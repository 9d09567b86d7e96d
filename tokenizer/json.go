package tokenizer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/refit-ml/refit"
)

// tokenizerJSON is the part of a Hugging Face tokenizer.json that GGUF needs.
type tokenizerJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    *normalizer     `json:"normalizer"`
	PreTokenizer  *preTokenizer   `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type         string           `json:"type"`
		Vocab        json.RawMessage  `json:"vocab"`
		Merges       json.RawMessage  `json:"merges"`
		ByteFallback bool             `json:"byte_fallback"`
		UnkID        *int64           `json:"unk_id"`
		UnkToken     *string          `json:"unk_token"`
		vocab        map[string]int64 // parsed Vocab (BPE, WordPiece)
		unigram      []unigramPiece   // parsed Vocab (Unigram)
	} `json:"model"`
}

type unigramPiece struct {
	Piece string
	Score float64
}

func (u *unigramPiece) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("unigram piece %s is not [piece, score]", b)
	}
	if err := json.Unmarshal(pair[0], &u.Piece); err != nil {
		return err
	}
	return json.Unmarshal(pair[1], &u.Score)
}

type normalizer struct {
	Type                string       `json:"type"`
	Normalizers         []normalizer `json:"normalizers"`
	PrecompiledCharsmap string       `json:"precompiled_charsmap"`
	Lowercase           *bool        `json:"lowercase"`
	StripAccents        *bool        `json:"strip_accents"`
}

// find returns the first normalizer of a type, searching sequences.
func (n *normalizer) find(typ string) *normalizer {
	if n == nil {
		return nil
	}
	if n.Type == typ {
		return n
	}
	for i := range n.Normalizers {
		if f := n.Normalizers[i].find(typ); f != nil {
			return f
		}
	}
	return nil
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

// splitNames names llama.cpp's regex sets (as HFFiles writes them): the type's own
// name where it is a pre-tokenizer name, else the first name using the set.
var splitNames = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	names := PreTokenizers()
	for _, n := range names {
		key := splitKey(preRegexes[preTypes[n].regexes])
		if strings.ReplaceAll(preTypes[n].regexes, "_", "-") == n {
			m[key] = n
		}
	}
	for _, n := range names {
		key := splitKey(preRegexes[preTypes[n].regexes])
		if _, ok := m[key]; !ok {
			m[key] = n
		}
	}
	return m
})

// canonicalRegex rewrites a tokenizer.json split pattern into the form llama.cpp
// runs it in, so that a model's original pattern finds its pre-tokenizer name:
// case-insensitive contractions spelled out, Tekken/GPT-4o's letter classes as
// llama.cpp's lookaheads, literal CR/LF as escapes.
var canonicalRegex = strings.NewReplacer(
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)`, `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`,
	`'(?i:[sdmt]|ll|ve|re)`, `'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])`,
	`[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`, `((?=[\p{L}])([^a-z]))`,
	`[\p{Ll}\p{Lm}\p{Lo}\p{M}]`, `((?=[\p{L}])([^A-Z]))`,
	`?+`, `?`, `++`, `+`,
	"\r", `\r`, "\n", `\n`,
).Replace

func splitKey(regexes []string) string {
	c := make([]string, len(regexes))
	for i, r := range regexes {
		c[i] = canonicalRegex(r)
	}
	return strings.Join(c, "\x00")
}

func parseTokenizerJSON(b []byte) (*tokenizerJSON, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json", Err: err}
	}
	switch tj.Model.Type {
	case "BPE", "WordPiece":
		if err := json.Unmarshal(tj.Model.Vocab, &tj.Model.vocab); err != nil {
			return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json model.vocab", Err: err}
		}
	case "Unigram":
		if err := json.Unmarshal(tj.Model.Vocab, &tj.Model.unigram); err != nil {
			return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json model.vocab", Err: err}
		}
	default:
		return nil, refit.Unsupportedf("tokenizer", "tokenizer.json model type %q (BPE, WordPiece, Unigram)", tj.Model.Type)
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
	if p.Type == "Sequence" && len(p.Pretokenizers) >= 2 {
		steps := p.Pretokenizers
		bl := steps[len(steps)-1]
		var regexes []string
		for _, st := range steps[:len(steps)-1] {
			if st.Type != "Split" || st.Pattern.Regex == "" {
				regexes = nil
				break
			}
			regexes = append(regexes, st.Pattern.Regex)
		}
		if regexes != nil && bl.Type == "ByteLevel" && bl.UseRegex != nil && !*bl.UseRegex {
			if len(regexes) == 1 {
				if name, ok := knownSplits[regexes[0]]; ok {
					return name, nil
				}
			}
			if name, ok := splitNames()[splitKey(regexes)]; ok {
				return name, nil
			}
			return "", refit.Unsupportedf("tokenizer", "unknown pre-tokenizer pattern %q (name it explicitly)", regexes)
		}
	}
	return "", refit.Unsupportedf("tokenizer", "unknown pre-tokenizer %q (name it explicitly)", p.Type)
}

// vocab builds the vocabulary of a tokenizer.json: byte-level BPE ("gpt2"), BPE
// with byte fallback (SentencePiece-style, "llama"), WordPiece ("bert", in
// llama.cpp's spelling) or Unigram ("t5").
func (tj *tokenizerJSON) vocab(pre string) (*Vocab, error) {
	byteLevel := tj.Model.Type == "BPE" && !tj.Model.ByteFallback
	if byteLevel && pre == "" {
		var err error
		if pre, err = tj.preName(); err != nil {
			return nil, err
		}
	}
	size := int64(len(tj.Model.unigram))
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
	if size > MaxVocabSize {
		return nil, errorf("tokenizer.json: %d tokens exceed %d", size, MaxVocabSize)
	}
	v := &Vocab{Pre: pre, Tokens: make([]string, size), Types: make([]TokenType, size)}
	spell := func(s string) string { return s }
	switch {
	case byteLevel:
		v.Model = "gpt2"
	case tj.Model.Type == "BPE":
		v.Model, v.Pre = "llama", "default"
		v.Scores = make([]float32, size)
	case tj.Model.Type == "WordPiece":
		v.Model = "bert"
		spell = bertFromHF
	case tj.Model.Type == "Unigram":
		v.Model, v.Pre = "t5", "default"
		v.Scores = make([]float32, size)
		if n := tj.Normalizer.find("Precompiled"); n != nil && n.PrecompiledCharsmap != "" {
			cm, err := base64.StdEncoding.DecodeString(n.PrecompiledCharsmap)
			if err != nil {
				return nil, &refit.FormatError{Format: "tokenizer", Offset: -1, Msg: "tokenizer.json precompiled_charsmap", Err: err}
			}
			v.Charsmap = cm
		}
	}
	if n := tj.Normalizer.find("BertNormalizer"); n != nil {
		v.Lowercase, v.StripAccents = n.Lowercase, n.StripAccents
	}
	seen := make([]bool, size)
	for tok, id := range tj.Model.vocab {
		if seen[id] {
			return nil, errorf("tokenizer.json: id %d is used by two tokens", id)
		}
		seen[id] = true
		v.Tokens[id], v.Types[id] = spell(tok), Normal
		if v.Model == "llama" {
			v.Scores[id] = -float32(id)
			if len(tok) == 6 && strings.HasPrefix(tok, "<0x") && strings.HasSuffix(tok, ">") {
				v.Types[id] = Byte
			}
		}
	}
	for id, p := range tj.Model.unigram {
		seen[id] = true
		v.Tokens[id], v.Types[id], v.Scores[id] = p.Piece, Normal, float32(p.Score)
	}
	if u := tj.Model.UnkID; u != nil && *u >= 0 && *u < size {
		v.Types[*u] = Unknown
	}
	if u := tj.Model.UnkToken; u != nil && tj.Model.Type != "WordPiece" {
		if id, ok := tj.Model.vocab[*u]; ok {
			v.Types[id] = Unknown
		}
	}
	for _, a := range tj.AddedTokens {
		seen[a.ID] = true
		v.Tokens[a.ID] = spell(a.Content)
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
	if tj.Model.Type == "BPE" {
		merges, err := parseMerges(tj.Model.Merges)
		if err != nil {
			return nil, err
		}
		v.Merges = merges
	}
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
