package tokenizer

import (
	"container/heap"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/refit-ml/refit"
)

// Token attributes as llama.cpp derives them (llama_token_attr).
const (
	attrUnknown     = 1 << 1
	attrUnused      = 1 << 2
	attrNormal      = 1 << 3
	attrControl     = 1 << 4
	attrUserDefined = 1 << 5
	attrByte        = 1 << 6
	attrLStrip      = 1 << 8
	attrRStrip      = 1 << 9
)

// Tokenizer encodes text to token ids and back the way llama.cpp does for a GGUF
// vocabulary. It is safe for concurrent use.
type Tokenizer struct {
	v       *Vocab
	kind    string // "spm", "bpe", "wpm", "ugm", "rwkv"
	pre     preType
	res     []*regex // BPE split regexes
	raw     bool     // BPE words are raw UTF-8, not byte-level encoded
	ids     map[string]int32
	attrs   []uint16
	ranks   map[[2]string]int
	special []int32 // control/user-defined/unknown ids, longest text first
	maxLen  int

	bos, eos, unk, sep int32 // -1 when absent
	addBOS, addEOS     bool
	addSep             bool
	addSpacePrefix     bool
	removeExtraSpaces  bool
	escapeSpaces       bool
	cleanSpaces        bool
	lowercase, strip   bool

	ugm  *unigram
	rwkv *trie
}

// New prepares v for encoding. It refuses models and pre-tokenizers llama.cpp does
// not know (refit.ErrUnsupported).
func New(v *Vocab) (*Tokenizer, error) {
	t := &Tokenizer{v: v, ids: make(map[string]int32, len(v.Tokens)), bos: -1, eos: -1, unk: -1, sep: -1, lowercase: true}
	n := len(v.Tokens)
	t.attrs = make([]uint16, n)
	for i, tok := range v.Tokens {
		if tok == "" {
			tok = "[EMPTY_" + itoa(i) + "]"
		}
		t.ids[tok] = int32(i)
		t.maxLen = max(t.maxLen, len(tok))
		tt := Normal
		if v.Types != nil {
			tt = v.Types[i]
		}
		t.attrs[i] = typeAttr(tt)
	}
	def := func(bos, eos, unk, sep int32) { t.bos, t.eos, t.unk, t.sep = bos, eos, unk, sep }
	t.cleanSpaces = true
	switch v.Model {
	case "llama":
		t.kind = "spm"
		def(1, 2, 0, -1)
		t.addSpacePrefix, t.cleanSpaces, t.addBOS = true, false, true
	case "bert":
		t.kind = "wpm"
		def(101, -1, 100, 102)
		t.addBOS, t.addSep = true, true
	case "gpt2", "gemma4":
		t.kind = "bpe"
		def(11, 11, -1, -1)
		pre := v.Pre
		if v.Model == "gemma4" {
			pre = "gemma4"
			def(-1, -1, -1, -1)
		}
		if pre == "" {
			pre = "default"
		}
		pt, ok := preTypes[pre]
		if !ok {
			return nil, refit.Unsupportedf("tokenizer", "pre-tokenizer %q (llama.cpp does not know it)", pre)
		}
		t.pre = pt
		t.raw = preRaw[pt.regexes]
		t.escapeSpaces = pt.escapeSpaces
		t.cleanSpaces = !pt.keepSpaces
		if pt.addBOS {
			t.addBOS = true
		}
		t.addSep = pt.addSep
		if pre == "whitespace" {
			t.lowercase = false
		}
		if pt.noBOS {
			t.bos = -1
		}
		for _, src := range preRegexes[pt.regexes] {
			re, err := compileRegex(src, usesCategory(src))
			if err != nil {
				return nil, err
			}
			t.res = append(t.res, re)
		}
		t.ranks = make(map[[2]string]int, len(v.Merges))
		for i, m := range v.Merges {
			// the first space after the first byte separates the pair, as in llama.cpp
			var a, b string
			if k := strings.IndexByte(m[min(1, len(m)):], ' '); k >= 0 {
				a, b = m[:k+1], m[k+2:]
			}
			key := [2]string{a, b}
			if _, dup := t.ranks[key]; !dup {
				t.ranks[key] = i
			}
		}
	case "t5":
		t.kind = "ugm"
		def(-1, 1, 2, -1)
		t.addEOS, t.cleanSpaces = true, false
	case "rwkv":
		t.kind = "rwkv"
		def(-1, -1, -1, -1)
		t.addSpacePrefix, t.cleanSpaces = false, false
	default:
		return nil, refit.Unsupportedf("tokenizer", "tokenizer model %q", v.Model)
	}
	if v.AddSpacePrefix != nil {
		t.addSpacePrefix = *v.AddSpacePrefix
	}
	if v.RemoveExtraSpaces != nil {
		t.removeExtraSpaces = *v.RemoveExtraSpaces
	}
	for _, r := range []struct {
		role string
		id   *int32
	}{{"bos", &t.bos}, {"eos", &t.eos}, {"unknown", &t.unk}, {"seperator", &t.sep}} {
		if *r.id >= int32(n) {
			*r.id = -1
		}
		if id, ok := v.Special[r.role]; ok && int(id) < n {
			*r.id = int32(id)
		}
	}
	if v.AddBOS != nil {
		t.addBOS = *v.AddBOS
	}
	if v.AddEOS != nil {
		t.addEOS = *v.AddEOS
	}
	if v.AddSep != nil {
		t.addSep = *v.AddSep
	}
	if v.Lowercase != nil {
		t.lowercase = *v.Lowercase
	}
	t.strip = t.lowercase
	if v.StripAccents != nil {
		t.strip = *v.StripAccents
	}
	t.fixAttrs()
	switch t.kind {
	case "ugm":
		u, err := newUnigram(t)
		if err != nil {
			return nil, err
		}
		t.ugm = u
	case "rwkv":
		t.rwkv = newTrie()
		for i, tok := range v.Tokens {
			t.rwkv.insert(unescapeRWKV(tok), int32(i))
		}
	}
	return t, nil
}

func usesCategory(re string) bool {
	for _, c := range []string{`\p{N}`, `\p{L}`, `\p{P}`, `\p{M}`, `\p{S}`, `\p{Lu}`, `\p{Ll}`, `\p{Lt}`, `\p{Lm}`, `\p{Lo}`} {
		if strings.Contains(re, c) {
			return true
		}
	}
	return false
}

func typeAttr(t TokenType) uint16 {
	switch t {
	case Normal:
		return attrNormal
	case Unknown:
		return attrUnknown
	case Control:
		return attrControl
	case UserDefined:
		return attrUserDefined
	case Unused:
		return attrUnused
	case Byte:
		return attrByte
	}
	return 0
}

// Token texts llama.cpp recognizes as special roles when the GGUF does not name
// them (llama_vocab::impl::load); the first present one becomes CONTROL.
var roleTexts = []struct {
	role  string
	texts []string
}{
	{"eot", []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}},
	{"eom", []string{"<|eom_id|>"}},
	{"fim_pre", []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}},
	{"fim_suf", []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}},
	{"fim_mid", []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}},
	{"fim_pad", []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}},
	{"fim_rep", []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}},
	{"fim_sep", []string{"<|file_sep|>"}},
}

// eogTexts end generation in llama.cpp and are made CONTROL.
var eogTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
	"<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
	"<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["}

// fixAttrs applies llama.cpp's text-based attribute overrides and builds the
// special-token list the partition step searches for.
func (t *Tokenizer) fixAttrs() {
	roles := map[string]int32{}
	for r, id := range t.v.Special {
		roles[r] = int32(id)
	}
	for _, rt := range roleTexts {
		if _, ok := roles[rt.role]; ok {
			continue
		}
		for _, s := range rt.texts {
			if id, ok := t.ids[s]; ok {
				roles[rt.role] = id
				t.attrs[id] |= attrControl
				break
			}
		}
	}
	for s, id := range t.ids {
		if t.attrs[id]&attrControl != 0 && strings.Contains(s, "unused") {
			t.attrs[id] |= attrUnused
		}
	}
	eog := map[int32]bool{}
	for _, r := range []string{"fim_pad", "fim_rep", "fim_sep"} {
		if id, ok := roles[r]; ok {
			eog[id] = true
		}
	}
	for _, s := range eogTexts {
		if id, ok := t.ids[s]; ok {
			eog[id] = true
			t.attrs[id] |= attrControl
		}
	}
	for _, s := range []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"} {
		if id, ok := t.ids[s]; ok {
			t.attrs[id] = attrUserDefined
		}
	}
	if t.eos >= 0 {
		eog[t.eos] = true
	}
	for _, r := range []string{"eot", "eom"} {
		if id, ok := roles[r]; ok {
			eog[id] = true
		}
	}
	has := func(s string) (int32, bool) {
		id, ok := t.ids[s]
		return id, ok && eog[id]
	}
	_, ret := has("<|return|>")
	_, call := has("<|call|>")
	_, calls := has("<|calls|>")
	_, flush := has("<|flush|>")
	if end, ok := has("<|end|>"); ok && ((ret && (call || calls)) || ((call || calls) && flush)) {
		t.attrs[end] = attrUserDefined
	}
	if _, ok := has("<|tool_response>"); ok {
		if s, ok := has("</s>"); ok {
			t.attrs[s] = attrNormal
		}
	}
	for id, a := range t.attrs {
		if a&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.special = append(t.special, int32(id))
		}
	}
	slices.SortStableFunc(t.special, func(a, b int32) int { return len(t.v.Tokens[b]) - len(t.v.Tokens[a]) })
	name := strings.ToLower(t.v.Name)
	set := func(tok string, attr uint16, on bool) {
		if id, ok := t.ids[tok]; ok {
			if on {
				t.attrs[id] |= attr
			} else {
				t.attrs[id] &^= attr
			}
		}
	}
	switch {
	case strings.Contains(t.v.Pre, "jina-v2-de") || strings.Contains(t.v.Pre, "jina-v2-es") || strings.Contains(t.v.Pre, "jina-v2-code") ||
		strings.Contains(t.v.Arch, "nomic-bert-moe") || strings.Contains(t.v.Arch, "jina-bert-v3"):
		set("<mask>", attrLStrip, true)
	case strings.Contains(name, "phi-3") || strings.Contains(name, "phi3"):
		for _, id := range t.special {
			t.attrs[id] |= attrRStrip
		}
		set("</s>", attrRStrip, true)
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			set(s, attrRStrip, false)
		}
	case strings.Contains(name, "modern-bert"):
		set("[MASK]", attrLStrip, true)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// Vocab returns the vocabulary the tokenizer was built from.
func (t *Tokenizer) Vocab() *Vocab { return t.v }

// fragment is either raw text or a token id.
type fragment struct {
	text  string
	token int32 // -1 for text
}

// partition splits text at special tokens, longest first: control and unknown
// tokens only when parseSpecial is set, user-defined ones always.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{text: text, token: -1}}
	for _, id := range t.special {
		a := t.attrs[id]
		if !parseSpecial && a&(attrControl|attrUnknown) != 0 {
			continue
		}
		tok := t.v.Tokens[id]
		if tok == "" {
			continue
		}
		var next []fragment
		for _, f := range frags {
			if f.token >= 0 || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			rest := f.text
			for {
				k := strings.Index(rest, tok)
				if k < 0 {
					if rest != "" {
						next = append(next, fragment{text: rest, token: -1})
					}
					break
				}
				left := rest[:k]
				if a&attrLStrip != 0 {
					left = strings.TrimRight(left, " \t\n\v\f\r")
				}
				if left != "" {
					next = append(next, fragment{text: left, token: -1})
				}
				next = append(next, fragment{token: id})
				rest = rest[k+len(tok):]
				if a&attrRStrip != 0 {
					rest = strings.TrimLeft(rest, " \t\n\v\f\r")
				}
			}
		}
		frags = next
	}
	return frags
}

// Encode tokenizes text. addSpecial adds BOS/EOS/SEP as the vocabulary asks;
// parseSpecial lets control tokens written in the text ("<|im_end|>") become
// their ids instead of being tokenized as text.
func (t *Tokenizer) Encode(text string, addSpecial, parseSpecial bool) []int32 {
	var frags []fragment
	if text != "" {
		frags = t.partition(text, parseSpecial)
	}
	var out []int32
	switch t.kind {
	case "spm":
		if addSpecial && t.addBOS && t.bos >= 0 {
			out = append(out, t.bos)
		}
		prevSpecial := true
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				prevSpecial = true
				continue
			}
			s := f.text
			if t.addSpacePrefix && prevSpecial {
				s = " " + s
			}
			out = t.spm(strings.ReplaceAll(s, " ", "▁"), out)
			prevSpecial = false
		}
		if addSpecial && t.addEOS && t.eos >= 0 {
			out = append(out, t.eos)
		}
	case "bpe":
		if addSpecial && t.addBOS && t.bos >= 0 {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			s := f.text
			if t.escapeSpaces {
				s = strings.ReplaceAll(s, " ", "▁")
			}
			out = t.bpe(s, out)
		}
		if addSpecial && t.addEOS && t.eos >= 0 {
			out = append(out, t.eos)
		}
	case "wpm":
		if addSpecial && t.bos >= 0 {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			out = t.wpm(f.text, out)
		}
		if addSpecial && t.sep >= 0 {
			out = append(out, t.sep)
		}
	case "ugm":
		if addSpecial && t.addBOS && t.bos >= 0 {
			out = append(out, t.bos)
		}
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			out = t.ugm.encode(f.text, out)
		}
		if addSpecial && t.addEOS && t.eos >= 0 {
			out = append(out, t.eos)
		}
	case "rwkv":
		for _, f := range frags {
			if f.token >= 0 {
				out = append(out, f.token)
				continue
			}
			out = t.rwkvEncode(f.text, out)
		}
	}
	return out
}

// --- SentencePiece BPE (llm_tokenizer_spm) ---

type symbol struct {
	prev, next int
	start, n   int // byte range in the text
}

type spmBigram struct {
	left, right int
	score       float32
	size        int
}

type spmQueue []spmBigram

func (q spmQueue) Len() int { return len(q) }
func (q spmQueue) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q spmQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *spmQueue) Push(x any)   { *q = append(*q, x.(spmBigram)) }
func (q *spmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func splitChars(text string) []symbol {
	var syms []symbol
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		syms = append(syms, symbol{prev: len(syms) - 1, next: len(syms) + 1, start: off, n: n})
		off += n
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

// utf8Len is the sequence length a lead byte announces (1 for invalid bytes).
func utf8Len(b byte) int {
	switch {
	case b < 0x80:
		return 1
	case b>>5 == 0x6:
		return 2
	case b>>4 == 0xE:
		return 3
	case b>>3 == 0x1E:
		return 4
	}
	return 1
}

func (t *Tokenizer) spm(text string, out []int32) []int32 {
	syms := splitChars(text)
	q := &spmQueue{}
	revMerge := map[string][2]int{}
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].start : syms[r].start+syms[r].n]
		id, ok := t.ids[s]
		if !ok {
			return
		}
		var score float32
		if t.v.Scores != nil {
			score = t.v.Scores[id]
		}
		heap.Push(q, spmBigram{left: l, right: r, score: score, size: len(s)})
		revMerge[s] = [2]int{l, r}
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(spmBigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	var reseg func(start, n int)
	reseg = func(start, n int) {
		s := text[start : start+n]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			return
		}
		if p, ok := revMerge[s]; ok {
			reseg(syms[p[0]].start, syms[p[0]].n)
			reseg(syms[p[1]].start, syms[p[1]].n)
			return
		}
		for i := 0; i < len(s); i++ {
			if id, ok := t.byteToken(s[i]); ok {
				out = append(out, id)
			}
		}
	}
	if len(syms) > 0 {
		for i := 0; i != -1; i = syms[i].next {
			reseg(syms[i].start, syms[i].n)
		}
	}
	return out
}

// byteToken is llama.cpp's byte_to_token for SPM/UGM vocabularies.
func (t *Tokenizer) byteToken(b byte) (int32, bool) {
	const hex = "0123456789ABCDEF"
	if id, ok := t.ids[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]; ok {
		return id, true
	}
	id, ok := t.ids[string([]byte{b})]
	return id, ok
}

// --- byte-level BPE (llm_tokenizer_bpe) ---

// words splits text with the pre-tokenizer regexes into words, byte-encoded
// unless the type works on raw UTF-8.
func (t *Tokenizer) words(text string) []string {
	cpts := []rune(text) // invalid bytes become U+FFFD, as in unicode_cpts_from_utf8
	pieces := []int{len(cpts)}
	var collapsed, wide []rune
	for _, re := range t.res {
		var in []rune
		if usesCategory(re.src) {
			if collapsed == nil {
				collapsed = collapse(cpts)
			}
			in = collapsed
		} else {
			if wide == nil {
				wide = wideText(cpts)
			}
			in = wide
		}
		pieces = re.split(in, pieces)
	}
	words := make([]string, 0, len(pieces))
	start := 0
	for _, n := range pieces {
		w := string(cpts[start : start+n])
		start += n
		if !t.raw {
			w = byteEncode(w)
		}
		words = append(words, w)
	}
	return words
}

type bpeBigram struct {
	left, right int
	text        string
	rank        int
}

type bpeQueue []bpeBigram

func (q bpeQueue) Len() int { return len(q) }
func (q bpeQueue) Less(i, j int) bool {
	if q[i].rank != q[j].rank {
		return q[i].rank < q[j].rank
	}
	return q[i].left < q[j].left
}
func (q bpeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bpeQueue) Push(x any)   { *q = append(*q, x.(bpeBigram)) }
func (q *bpeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (t *Tokenizer) bpe(text string, out []int32) []int32 {
	for _, word := range t.words(text) {
		var syms []symbol
		_, whole := t.ids[word]
		if t.pre.ignoreMerges && whole {
			syms = []symbol{{prev: -1, next: -1, start: 0, n: len(word)}}
		} else if t.pre.regexes == "gemma4" && strings.Trim(word, "\n") == "" && whole {
			syms = []symbol{{prev: -1, next: -1, start: 0, n: len(word)}}
		} else {
			syms = splitChars(word)
		}
		q := &bpeQueue{}
		add := func(l, r int) {
			if l < 0 || r < 0 {
				return
			}
			a := word[syms[l].start : syms[l].start+syms[l].n]
			b := word[syms[r].start : syms[r].start+syms[r].n]
			rank, ok := t.ranks[[2]string{a, b}]
			if !ok {
				return
			}
			heap.Push(q, bpeBigram{left: l, right: r, text: a + b, rank: rank})
		}
		for i := 1; i < len(syms); i++ {
			add(i-1, i)
		}
		for q.Len() > 0 {
			b := heap.Pop(q).(bpeBigram)
			l, r := &syms[b.left], &syms[b.right]
			if l.n == 0 || r.n == 0 {
				continue
			}
			if word[l.start:l.start+l.n]+word[r.start:r.start+r.n] != b.text {
				continue
			}
			l.n += r.n
			r.n = 0
			l.next = r.next
			if r.next >= 0 {
				syms[r.next].prev = b.left
			}
			add(l.prev, b.left)
			add(b.left, l.next)
		}
		for _, s := range syms {
			if s.n == 0 {
				continue
			}
			str := word[s.start : s.start+s.n]
			if id, ok := t.ids[str]; ok {
				out = append(out, id)
				continue
			}
			for i := 0; i < len(str); i++ {
				var key string
				if t.raw {
					const hex = "0123456789ABCDEF"
					key = string([]byte{'<', '0', 'x', hex[str[i]>>4], hex[str[i]&15], '>'})
				} else {
					key = str[i : i+1]
				}
				if id, ok := t.ids[key]; ok {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// byteRunes is GPT-2's byte-to-unicode table: printable bytes map to themselves,
// the others to U+0100 onwards.
var byteRunes, runeBytes = func() ([256]rune, map[rune]byte) {
	var tab [256]rune
	inv := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			tab[b] = rune(b)
		} else {
			tab[b] = rune(256 + n)
			n++
		}
		inv[tab[b]] = byte(b)
	}
	return tab, inv
}()

func byteEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteRunes[s[i]])
	}
	return b.String()
}

// --- WordPiece (llm_tokenizer_wpm) ---

func (t *Tokenizer) wpm(text string, out []int32) []int32 {
	for _, word := range t.wpmWords(text) {
		w := "▁" + word
		start := len(out)
		for i := 0; i < len(w); {
			found := false
			for j := min(len(w), i+t.maxLen+1); j > i; j-- {
				if id, ok := t.ids[w[i:j]]; ok {
					out = append(out, id)
					i = j
					found = true
					break
				}
			}
			if !found {
				out = out[:start]
				break
			}
		}
		if len(out) == start {
			out = append(out, t.unk)
		}
	}
	return out
}

func (t *Tokenizer) wpmWords(text string) []string {
	cpts := []rune(text)
	if t.strip {
		for i, r := range cpts {
			cpts[i] = nfd(r)
		}
	}
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range cpts {
		if unicode.Is(unicode.White_Space, r) {
			flush()
			continue
		}
		cat := categoryOf(r)
		if r == 0 || r == 0xFFFD || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs) {
			continue
		}
		if t.strip && cat == catMark {
			continue
		}
		if t.lowercase {
			r = unicode.ToLower(r)
		}
		if cat == catPunct || (r < 0x7F && cat == catSymbol) || isChinese(r) {
			flush()
			words = append(words, string(r))
		} else {
			cur.WriteRune(r)
		}
	}
	flush()
	return words
}

func nfd(r rune) rune {
	i, ok := slices.BinarySearchFunc(nfdBase, r, func(e [3]rune, r rune) int {
		switch {
		case r < e[0]:
			return 1
		case r > e[1]:
			return -1
		}
		return 0
	})
	if ok {
		return nfdBase[i][2]
	}
	return r
}

func isChinese(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// --- RWKV (llm_tokenizer_rwkv) ---

// trie is a byte trie held in one map from (node, byte) to node, which builds far
// faster than a map per node for vocabularies of 250k tokens.
type trie struct {
	next  map[uint64]int32
	has   []bool
	value []int32
}

// trieNode is a position in a trie; nil means no match.
type trieNode struct {
	t  *trie
	id int32
}

func newTrie() *trie { return &trie{next: map[uint64]int32{}, has: []bool{false}, value: []int32{0}} }

func (t *trie) insert(key []byte, v int32) {
	n := int32(0)
	for _, c := range key {
		k := uint64(n)<<8 | uint64(c)
		nx, ok := t.next[k]
		if !ok {
			nx = int32(len(t.has))
			t.next[k] = nx
			t.has = append(t.has, false)
			t.value = append(t.value, 0)
		}
		n = nx
	}
	t.has[n], t.value[n] = true, v
}

func (t *trie) root() *trieNode { return &trieNode{t: t} }

func (n *trieNode) step(c byte) *trieNode {
	if n == nil {
		return nil
	}
	nx, ok := n.t.next[uint64(n.id)<<8|uint64(c)]
	if !ok {
		return nil
	}
	return &trieNode{t: n.t, id: nx}
}

func (n *trieNode) hasValue() bool { return n.t.has[n.id] }
func (n *trieNode) val() int32     { return n.t.value[n.id] }

func unescapeRWKV(s string) []byte {
	var out []byte
	escaping := false
	hexLeft, acc := 0, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if hexLeft > 0 {
			var v byte
			if c >= 'a' {
				v = c - 'a' + 10
			} else {
				v = c - '0'
			}
			acc = acc<<4 + v
			hexLeft--
			if hexLeft == 0 {
				out = append(out, acc)
				acc = 0
			}
			continue
		}
		if escaping {
			switch c {
			case 't':
				out = append(out, '\t')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 'x':
				hexLeft = 2
			default:
				out = append(out, c)
			}
			escaping = false
			continue
		}
		if c == '\\' {
			escaping = true
			continue
		}
		out = append(out, c)
	}
	return out
}

func (t *Tokenizer) rwkvEncode(text string, out []int32) []int32 {
	pos := 0
	for pos < len(text) {
		node := t.rwkv.root().step(text[pos])
		if node == nil {
			out = append(out, t.unk)
			pos++
			continue
		}
		start := pos
		id, end := int32(0), 0
		for node != nil {
			if node.hasValue() {
				id, end = node.val(), pos+1
			}
			if pos+1 >= len(text) {
				break
			}
			pos++
			node = node.step(text[pos])
		}
		if end == 0 {
			// no token along the path: llama.cpp would loop forever here
			out = append(out, t.unk)
			pos = start + 1
			continue
		}
		out = append(out, id)
		pos = end
	}
	return out
}

// --- Unigram (llm_tokenizer_ugm) ---

type unigram struct {
	t           *Tokenizer
	tokens      *trie
	userDefined *trie
	xcda        []uint32
	repl        []byte
	unkScore    float64
}

func newUnigram(t *Tokenizer) (*unigram, error) {
	u := &unigram{t: t, tokens: newTrie(), userDefined: newTrie()}
	if c := t.v.Charsmap; len(c) > 0 {
		if len(c) < 4 {
			return nil, errorf("precompiled_charsmap has %d bytes", len(c))
		}
		size := uint64(c[0]) | uint64(c[1])<<8 | uint64(c[2])<<16 | uint64(c[3])<<24
		if size+4 >= uint64(len(c)) {
			return nil, errorf("precompiled_charsmap: XCDA of %d bytes in %d", size, len(c))
		}
		u.xcda = make([]uint32, size/4)
		for i := range u.xcda {
			o := 4 + 4*i
			u.xcda[i] = uint32(c[o]) | uint32(c[o+1])<<8 | uint32(c[o+2])<<16 | uint32(c[o+3])<<24
		}
		u.repl = c[4+size:]
	}
	minScore, maxScore := float32(math.MaxFloat32), float32(-math.MaxFloat32)
	for i, tok := range t.v.Tokens {
		a := t.attrs[i]
		var score float32
		if t.v.Scores != nil {
			score = t.v.Scores[i]
		}
		if a&attrNormal != 0 {
			minScore, maxScore = min(minScore, score), max(maxScore, score)
		}
		if a&(attrNormal|attrUserDefined|attrUnused) != 0 {
			u.tokens.insert([]byte(tok), int32(i))
		}
		if a&attrUserDefined != 0 {
			u.userDefined.insert([]byte(tok), 0)
		}
	}
	_ = maxScore
	u.unkScore = float64(minScore) - 10
	return u, nil
}

func (u *unigram) xcdaNode(i uint32) (uint32, bool) {
	if int(i) >= len(u.xcda) {
		return 0, false
	}
	return u.xcda[i], true
}

// normalizePrefix returns the normalized text of the input's next piece and the
// bytes consumed.
func (u *unigram) normalizePrefix(in string, off int) (string, int) {
	// longest user-defined token
	n := u.userDefined.root()
	l := 0
	for i := off; i < len(in); i++ {
		n = n.step(in[i])
		if n == nil {
			break
		}
		l = i - off + 1
	}
	if l > 0 {
		return in[off : off+l], l
	}
	longest, replOff := 0, uint32(0)
	if len(u.xcda) > 0 {
		base := func(p uint32) uint32 { return (p >> 10) << ((p & (1 << 9)) >> 6) }
		node, ok := u.xcdaNode(0)
		if !ok {
			return "\uFFFD", 1
		}
		idx := base(node)
		for i := off; i < len(in); i++ {
			c := in[i]
			if c == 0 {
				break
			}
			idx ^= uint32(c)
			p, ok := u.xcdaNode(idx)
			if !ok || p&((1<<31)|0xff) != uint32(c) {
				break
			}
			leaf := (p>>8)&1 != 0
			idx ^= base(p)
			if leaf {
				v, ok := u.xcdaNode(idx)
				if !ok {
					break
				}
				longest = i - off + 1
				replOff = v & ((1 << 31) - 1)
			}
		}
	}
	if longest > 0 {
		if int(replOff) < len(u.repl) {
			r := u.repl[replOff:]
			if k := strings.IndexByte(string(r), 0); k >= 0 {
				return string(r[:k]), longest
			}
		}
		return "\uFFFD", longest
	}
	r, size := utf8.DecodeRuneInString(in[off:])
	if r == utf8.RuneError && size <= 1 {
		return "\uFFFD", 1
	}
	return in[off : off+size], size
}

func (u *unigram) normalize(in string) string {
	t := u.t
	space := " "
	if t.escapeSpacesUGM() {
		space = "▁"
	}
	prepend := t.addSpacePrefix // treat_whitespace_as_suffix is never set from GGUF
	merge := t.removeExtraSpaces
	var b strings.Builder
	prepended, inWord := false, false
	for off := 0; off < len(in); {
		s, used := u.normalizePrefix(in, off)
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c != ' ' {
				if !inWord {
					inWord = true
					if (prepend && !prepended) || merge {
						b.WriteString(space)
						prepended = true
					}
				}
				b.WriteByte(c)
			} else {
				inWord = false
				if !merge {
					b.WriteString(space)
				}
			}
		}
		off += used
	}
	return b.String()
}

// escapeSpacesUGM: llama.cpp's escape_whitespaces defaults to true for non-BPE models.
func (t *Tokenizer) escapeSpacesUGM() bool { return true }

func (u *unigram) encode(text string, out []int32) []int32 {
	norm := u.normalize(text)
	n := len(norm)
	if n == 0 {
		return out
	}
	type best struct {
		id    int32
		start int
		score float64
	}
	unk := u.t.unk
	res := make([]best, n+1)
	for i := range res {
		res[i] = best{unk, 0, -math.MaxFloat64}
	}
	res[0] = best{unk, 0, 0}
	for off := 0; off < n; {
		charLen := min(utf8Len(norm[off]), n-off)
		cur := res[off]
		single := false
		node := u.tokens.root().step(norm[off])
		p := off + 1
		for p <= n && node != nil {
			if node.hasValue() {
				if p-off == charLen {
					single = true
				}
				id := node.val()
				score := 0.0
				if u.t.attrs[id]&attrUserDefined == 0 && u.t.v.Scores != nil {
					score = float64(u.t.v.Scores[id])
				}
				if c := cur.score + score; c > res[p].score {
					res[p] = best{id, off, c}
				}
			}
			if p < n {
				node = node.step(norm[p])
			} else {
				node = nil
			}
			p++
		}
		if !single {
			if c := cur.score + u.unkScore; c > res[off+charLen].score {
				res[off+charLen] = best{unk, off, c}
			}
		}
		off += charLen
	}
	var rev []int32
	prevUnk := false
	for i := n; ; i = res[i].start {
		b := res[i]
		isUnk := b.id == unk
		if !(prevUnk && isUnk) {
			rev = append(rev, b.id)
		}
		if b.start == 0 {
			break
		}
		prevUnk = isUnk
	}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}
