package tokenizer

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
)

// GGUFExtras is the tokenizer_config.json key under which HFFiles records what the
// Hugging Face files cannot say (llama.cpp's pre-tokenizer name, every special id,
// token types beyond special/added, GGUF-only flags), so that Load gives back the
// GGUF vocabulary exactly. Hugging Face ignores unknown tokenizer_config keys.
const GGUFExtras = "gguf_tokenizer"

// extras is the GGUFExtras object.
type extras struct {
	Model             string               `json:"model"`
	Pre               string               `json:"pre,omitempty"`
	Special           map[string]uint32    `json:"special_ids,omitempty"`
	Types             map[string]TokenType `json:"token_types,omitempty"` // id -> type where the files imply another
	Scores            []float32            `json:"scores,omitempty"`      // BPE/WordPiece vocabularies with scores
	AddBOS            *bool                `json:"add_bos_token,omitempty"`
	AddEOS            *bool                `json:"add_eos_token,omitempty"`
	AddSep            *bool                `json:"add_sep_token,omitempty"`
	AddSpacePrefix    *bool                `json:"add_space_prefix,omitempty"`
	RemoveExtraSpaces *bool                `json:"remove_extra_whitespaces,omitempty"`
	Lowercase         *bool                `json:"lowercase,omitempty"`
	StripAccents      *bool                `json:"strip_accents,omitempty"`
	TokenTypeCount    *uint32              `json:"token_type_count,omitempty"`
	TemplateNames     []string             `json:"chat_templates,omitempty"`
	Architecture      string               `json:"architecture,omitempty"` // general.architecture
	Name              string               `json:"name,omitempty"`         // general.name
}

// HFFiles writes the vocabulary as Hugging Face tokenizer files: tokenizer.json
// (BPE, byte-level or with byte fallback; WordPiece; Unigram) and
// tokenizer_config.json for every model, plus tokenizer.model (SentencePiece, keeping
// scores and piece types) for "llama" and "t5", and vocab.txt for "bert". Load reads
// them back to the same vocabulary. RWKV vocabularies have no Hugging Face form
// (refit.ErrUnsupported).
func (v *Vocab) HFFiles() (map[string][]byte, error) {
	n := len(v.Tokens)
	if n == 0 {
		return nil, errorf("vocabulary has no tokens")
	}
	if v.Types != nil && len(v.Types) != n || v.Scores != nil && len(v.Scores) != n {
		return nil, errorf("%d tokens, %d types, %d scores", n, len(v.Types), len(v.Scores))
	}
	typ := func(i int) TokenType {
		if v.Types == nil {
			return Normal
		}
		return v.Types[i]
	}
	files := map[string][]byte{}
	ex := extras{Model: v.Model, Pre: v.Pre, Special: v.Special, AddBOS: v.AddBOS, AddEOS: v.AddEOS, AddSep: v.AddSep,
		AddSpacePrefix: v.AddSpacePrefix, RemoveExtraSpaces: v.RemoveExtraSpaces, Lowercase: v.Lowercase,
		StripAccents: v.StripAccents, TokenTypeCount: v.TokenTypeCount, Types: map[string]TokenType{},
		Architecture: v.Arch, Name: v.Name}
	// llama.cpp's view of the tokens: which it splits out of the text (control,
	// user-defined, unknown, including those its rules promote), and their strip flags.
	var attrs []uint16
	if tk, err := New(v); err == nil {
		attrs = tk.attrs
	}
	isAdded := func(i int) bool {
		if attrs != nil {
			return attrs[i]&(attrControl|attrUserDefined|attrUnknown) != 0
		}
		return typ(i) == Control || typ(i) == UserDefined || typ(i) == Unknown
	}
	var added []map[string]any
	// addToken adds token i as an added token and returns the type Load gives it back.
	addToken := func(i int, content string) TokenType {
		special := typ(i) != UserDefined
		var lstrip, rstrip bool
		if attrs != nil {
			special = attrs[i]&(attrControl|attrUnknown) != 0
			lstrip, rstrip = attrs[i]&attrLStrip != 0, attrs[i]&attrRStrip != 0
		}
		added = append(added, map[string]any{"id": i, "content": content, "single_word": false, "lstrip": lstrip,
			"rstrip": rstrip, "normalized": !special, "special": special})
		if special || looksSpecial(content) {
			return Control
		}
		return UserDefined
	}
	record := func(i int, back TokenType) {
		if back != typ(i) {
			ex.Types[strconv.Itoa(i)] = typ(i)
		}
	}
	var tj map[string]any
	switch v.Model {
	case "gpt2", "gemma4":
		raw := v.Model == "gemma4" || preRaw[preTypes[v.Pre].regexes]
		vocab := make(map[string]int, n)
		for i, tok := range v.Tokens {
			if isAdded(i) {
				record(i, addToken(i, tok))
				continue
			}
			record(i, Normal)
			if _, dup := vocab[tok]; dup {
				return nil, errorf("token %q appears twice", tok)
			}
			vocab[tok] = i
		}
		merges := v.Merges
		if merges == nil {
			merges = []string{}
		}
		if v.Scores != nil {
			ex.Scores = v.Scores
		}
		model := map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": raw, "ignore_merges": preTypes[v.Pre].ignoreMerges,
			"vocab": vocab, "merges": merges}
		if raw {
			if id, ok := v.Special["unknown"]; ok {
				model["unk_token"] = v.Tokens[id]
			}
			tj = tokenizerDoc(added, map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"},
				splitPre([]string{`[^\n]+|[\n]+`}, false), spmDecoder(false), model)
		} else {
			pt := preTypes[v.Pre]
			if v.Pre == "" {
				pt = preTypes["default"]
			}
			regexes := preRegexes[pt.regexes]
			if v.Pre == "gpt-2" {
				regexes = nil // a bare ByteLevel pre-tokenizer splits like GPT-2
			}
			if preTypes[v.Pre].regexes == "kimi_k2" || preTypes[v.Pre].regexes == "afmoe" {
				// the Hugging Face files would need the original patterns, which llama.cpp
				// replaces by hand-written splitters
				return nil, refit.Unsupportedf("tokenizer", "writing pre-tokenizer %q as tokenizer.json (llama.cpp splits it by hand)", v.Pre)
			}
			tj = tokenizerDoc(added, nil, splitPre(regexes, true), byteLevelStep(true), model)
		}
	case "llama":
		spm, err := v.sentencePiece(2)
		if err != nil {
			return nil, err
		}
		files["tokenizer.model"] = spm
		vocab := make(map[string]int, n)
		for i, tok := range v.Tokens {
			if isAdded(i) {
				addToken(i, tok) // tokenizer.model keeps the type
			}
			if _, dup := vocab[tok]; !dup {
				vocab[tok] = i
			}
		}
		prefix := v.AddSpacePrefix == nil || *v.AddSpacePrefix
		model := map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
			"vocab": vocab, "merges": v.spmMerges()}
		if id, ok := v.Special["unknown"]; ok {
			model["unk_token"] = v.Tokens[id]
		}
		var norm any = map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}
		if prefix {
			norm = map[string]any{"type": "Sequence", "normalizers": []any{
				map[string]any{"type": "Prepend", "prepend": "▁"}, norm}}
		}
		tj = tokenizerDoc(added, norm, nil, spmDecoder(prefix), model)
	case "t5":
		spm, err := v.sentencePiece(1)
		if err != nil {
			return nil, err
		}
		files["tokenizer.model"] = spm
		vocab := make([]any, n)
		for i, tok := range v.Tokens {
			if isAdded(i) {
				addToken(i, tok) // tokenizer.model keeps the type
			}
			var s float64
			if v.Scores != nil {
				s = float64(v.Scores[i])
			}
			vocab[i] = []any{tok, s}
		}
		model := map[string]any{"type": "Unigram", "vocab": vocab, "byte_fallback": false}
		if id, ok := v.Special["unknown"]; ok {
			model["unk_id"] = id
		}
		norms := []any{}
		if v.Charsmap != nil {
			norms = append(norms, map[string]any{"type": "Precompiled", "precompiled_charsmap": base64.StdEncoding.EncodeToString(v.Charsmap)})
		}
		if v.RemoveExtraSpaces == nil || *v.RemoveExtraSpaces {
			// SentencePiece's remove_extra_whitespaces: runs of spaces become one, and
			// leading and trailing spaces go
			norms = append(norms, map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": " {2,}"}, "content": " "},
				map[string]any{"type": "Strip", "strip_left": true, "strip_right": true})
		}
		prepend := "always"
		if v.AddSpacePrefix != nil && !*v.AddSpacePrefix {
			prepend = "never"
		}
		meta := map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": prepend, "split": true}
		tj = tokenizerDoc(added, map[string]any{"type": "Sequence", "normalizers": norms}, meta,
			map[string]any{"type": "Metaspace", "replacement": "▁", "prepend_scheme": prepend, "split": true}, model)
	case "bert":
		vocab := make(map[string]int, n)
		var lines strings.Builder
		for i, tok := range v.Tokens {
			hfTok := bertToHF(tok)
			if isAdded(i) {
				record(i, addToken(i, hfTok))
			} else {
				record(i, Normal)
			}
			if _, dup := vocab[hfTok]; dup {
				return nil, errorf("token %q appears twice", hfTok)
			}
			vocab[hfTok] = i
			lines.WriteString(hfTok)
			lines.WriteByte('\n')
		}
		if v.Scores != nil {
			ex.Scores = v.Scores
		}
		files["vocab.txt"] = []byte(lines.String())
		lower := v.Lowercase == nil || *v.Lowercase
		unk := "[UNK]"
		if id, ok := v.Special["unknown"]; ok {
			unk = bertToHF(v.Tokens[id])
		}
		model := map[string]any{"type": "WordPiece", "unk_token": unk, "continuing_subword_prefix": "##",
			"max_input_chars_per_word": 100, "vocab": vocab}
		norm := map[string]any{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
			"strip_accents": v.StripAccents, "lowercase": lower}
		tj = tokenizerDoc(added, norm, map[string]any{"type": "BertPreTokenizer"},
			map[string]any{"type": "WordPiece", "prefix": "##", "cleanup": true}, model)
		if cls, ok := v.Special["bos"]; ok {
			if sep, ok := v.Special["seperator"]; ok {
				tj["post_processor"] = bertPost(bertToHF(v.Tokens[cls]), cls, bertToHF(v.Tokens[sep]), sep)
			}
		} else if cls, ok := v.Special["cls"]; ok {
			if sep, ok := v.Special["seperator"]; ok {
				tj["post_processor"] = bertPost(bertToHF(v.Tokens[cls]), cls, bertToHF(v.Tokens[sep]), sep)
			}
		}
	default:
		return nil, refit.Unsupportedf("tokenizer", "writing a %q tokenizer as Hugging Face files", v.Model)
	}
	if len(ex.Types) == 0 {
		ex.Types = nil
	}
	b, err := json.MarshalIndent(tj, "", "  ")
	if err != nil {
		return nil, err
	}
	files["tokenizer.json"] = append(b, '\n')

	tc := map[string]any{GGUFExtras: ex, "clean_up_tokenization_spaces": false, "model_max_length": 1 << 30}
	for role, hf := range configRoles {
		if id, ok := v.Special[role]; ok {
			tok := v.Tokens[id]
			if v.Model == "bert" {
				tok = bertToHF(tok)
			}
			tc[hf+"_token"] = tok
		}
	}
	if v.AddBOS != nil {
		tc["add_bos_token"] = *v.AddBOS
	}
	if v.AddEOS != nil {
		tc["add_eos_token"] = *v.AddEOS
	}
	if len(v.NamedTemplates) > 0 {
		var list []map[string]string
		if v.ChatTemplate != "" {
			list = append(list, map[string]string{"name": "default", "template": v.ChatTemplate})
		}
		names := make([]string, 0, len(v.NamedTemplates))
		for k := range v.NamedTemplates {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			list = append(list, map[string]string{"name": k, "template": v.NamedTemplates[k]})
		}
		tc["chat_template"] = list
		ex.TemplateNames = v.TemplateNames
		tc[GGUFExtras] = ex
	} else if v.ChatTemplate != "" {
		tc["chat_template"] = v.ChatTemplate
	}
	if b, err = json.MarshalIndent(tc, "", "  "); err != nil {
		return nil, err
	}
	files["tokenizer_config.json"] = append(b, '\n')
	return files, nil
}

func tokenizerDoc(added []map[string]any, normalizer, pre, decoder any, model map[string]any) map[string]any {
	if added == nil {
		added = []map[string]any{}
	}
	return map[string]any{"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added,
		"normalizer": normalizer, "pre_tokenizer": pre, "post_processor": nil, "decoder": decoder, "model": model}
}

func byteLevelStep(regex bool) map[string]any {
	return map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex}
}

// splitPre chains one isolating Split per regex, then the byte-level step when asked.
func splitPre(regexes []string, byteLevel bool) any {
	if len(regexes) == 0 && byteLevel {
		return byteLevelStep(true)
	}
	var steps []any
	for _, re := range regexes {
		steps = append(steps, map[string]any{"type": "Split", "pattern": map[string]any{"Regex": re}, "behavior": "Isolated", "invert": false})
	}
	if byteLevel {
		steps = append(steps, byteLevelStep(false))
	}
	if len(steps) == 1 {
		return steps[0]
	}
	return map[string]any{"type": "Sequence", "pretokenizers": steps}
}

func spmDecoder(stripPrefix bool) any {
	steps := []any{
		map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
		map[string]any{"type": "ByteFallback"},
		map[string]any{"type": "Fuse"},
	}
	if stripPrefix {
		steps = append(steps, map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	return map[string]any{"type": "Sequence", "decoders": steps}
}

func bertPost(cls string, clsID uint32, sep string, sepID uint32) any {
	return map[string]any{"type": "TemplateProcessing",
		"single": []any{map[string]any{"SpecialToken": map[string]any{"id": cls, "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			map[string]any{"SpecialToken": map[string]any{"id": sep, "type_id": 0}}},
		"pair": []any{map[string]any{"SpecialToken": map[string]any{"id": cls, "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			map[string]any{"SpecialToken": map[string]any{"id": sep, "type_id": 0}},
			map[string]any{"Sequence": map[string]any{"id": "B", "type_id": 1}},
			map[string]any{"SpecialToken": map[string]any{"id": sep, "type_id": 1}}},
		"special_tokens": map[string]any{
			cls: map[string]any{"id": cls, "ids": []uint32{clsID}, "tokens": []string{cls}},
			sep: map[string]any{"id": sep, "ids": []uint32{sepID}, "tokens": []string{sep}}}}
}

// bertToHF undoes llama.cpp's WordPiece spelling: a word-initial piece carries a
// leading U+2581, a continuation piece none; Hugging Face writes continuations
// with "##" and bracketed specials as they are.
func bertToHF(tok string) string {
	if s, ok := strings.CutPrefix(tok, "▁"); ok {
		return s
	}
	if strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]") {
		return tok
	}
	return "##" + tok
}

// bertFromHF is llama.cpp's converter rule (the inverse of bertToHF).
func bertFromHF(tok string) string {
	if strings.HasPrefix(tok, "[") && strings.HasSuffix(tok, "]") {
		return tok
	}
	if s, ok := strings.CutPrefix(tok, "##"); ok {
		return s
	}
	return "▁" + tok
}

// spmMerges derives BPE merges from a SentencePiece vocabulary as Hugging Face's
// converter does: every split of a piece into two pieces, ordered by the merged
// piece's score (then the parts' ids).
func (v *Vocab) spmMerges() []string {
	type merge struct {
		l, r  string
		score float32
		id    int
		li    int
		ri    int
	}
	ids := make(map[string]int, len(v.Tokens))
	for i, t := range v.Tokens {
		if _, ok := ids[t]; !ok {
			ids[t] = i
		}
	}
	var ms []merge
	for i, t := range v.Tokens {
		if v.Types != nil && v.Types[i] != Normal {
			continue
		}
		for k := 1; k < len(t); k++ {
			l, r := t[:k], t[k:]
			li, ok1 := ids[l]
			ri, ok2 := ids[r]
			if !ok1 || !ok2 || strings.Contains(t, " ") {
				continue
			}
			var s float32
			if v.Scores != nil {
				s = v.Scores[i]
			}
			ms = append(ms, merge{l, r, s, i, li, ri})
		}
	}
	slices.SortStableFunc(ms, func(a, b merge) int {
		switch {
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		case a.id != b.id:
			return a.id - b.id
		case a.li != b.li:
			return a.li - b.li
		}
		return a.ri - b.ri
	})
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.l + " " + m.r
	}
	return out
}

// sentencePiece encodes the vocabulary as a SentencePiece ModelProto: pieces with
// scores and types, the trainer's model type (1 unigram, 2 BPE) and special ids,
// and the normalizer's flags and precompiled charsmap.
func (v *Vocab) sentencePiece(modelType int) ([]byte, error) {
	var b []byte
	for i, tok := range v.Tokens {
		var p []byte
		p = protowire.AppendTag(p, fieldPiece, protowire.BytesType)
		p = protowire.AppendString(p, tok)
		var s float32
		if v.Scores != nil {
			s = v.Scores[i]
		}
		p = protowire.AppendTag(p, fieldScore, protowire.Fixed32Type)
		p = protowire.AppendFixed32(p, math.Float32bits(s))
		t := Normal
		if v.Types != nil {
			t = v.Types[i]
		}
		if t < Normal || t > Byte {
			return nil, errorf("token %d has type %d, which SentencePiece cannot store", i, t)
		}
		p = protowire.AppendTag(p, fieldType, protowire.VarintType)
		p = protowire.AppendVarint(p, uint64(t))
		b = protowire.AppendTag(b, fieldPieces, protowire.BytesType)
		b = protowire.AppendBytes(b, p)
	}
	var ts []byte
	ts = protowire.AppendTag(ts, fieldModelType, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(modelType))
	for _, r := range []struct {
		num  protowire.Number
		role string
	}{{fieldUnkID, "unknown"}, {fieldBOSID, "bos"}, {fieldEOSID, "eos"}, {fieldPadID, "padding"}} {
		id := int64(-1)
		if x, ok := v.Special[r.role]; ok {
			id = int64(x)
		}
		ts = protowire.AppendTag(ts, r.num, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(id))
	}
	b = protowire.AppendTag(b, fieldTrainerSpec, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	if v.Charsmap != nil {
		ns = protowire.AppendTag(ns, fieldCharsmap, protowire.BytesType)
		ns = protowire.AppendBytes(ns, v.Charsmap)
	}
	boolField := func(num protowire.Number, p *bool, def bool) {
		val := def
		if p != nil {
			val = *p
		}
		ns = protowire.AppendTag(ns, num, protowire.VarintType)
		ns = protowire.AppendVarint(ns, protowire.EncodeBool(val))
	}
	boolField(fieldAddDummyPrefix, v.AddSpacePrefix, true)
	boolField(fieldRemoveExtraSpaces, v.RemoveExtraSpaces, modelType == 2)
	b = protowire.AppendTag(b, fieldNormalizerSpec, protowire.BytesType)
	b = protowire.AppendBytes(b, ns)
	return b, nil
}
