package tokenizer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// A small backtracking regular-expression engine with the ECMAScript semantics
// llama.cpp's pre-tokenizers rely on (std::regex): leftmost alternative first,
// greedy quantifiers, lookahead (?= ) and (?! ), which Go's regexp lacks.
//
// In "collapsed" mode (the regex names a Unicode category, \p{..}), the input is
// llama.cpp's collapsed text: ASCII kept, other whitespace as '\v', other code points
// as one byte per category (see collapse), and \p{X} matches that byte or the ASCII
// members of X. Otherwise the input is the code points themselves.

type reKind int

const (
	reSet reKind = iota
	reConcat
	reAlt
	reRepeat
	reLook
	reBegin
	reEnd
	reWordB
)

type reNode struct {
	kind     reKind
	set      func(rune) bool
	subs     []*reNode
	min, max int // reRepeat; max < 0 is unbounded
	lazy     bool
	neg      bool // reLook: (?! )
}

// regex is a compiled pattern.
type regex struct {
	root   *reNode
	src    string
	digits bool // llama.cpp's hand-written digit grouping (AFMoE, tiny_aya) instead of root
	kimi   bool // llama.cpp's hand-written Kimi-K2 splitter instead of root
}

// Patterns llama.cpp replaces by its digit-grouping splitter.
const (
	reAFMoEDigits   = `\p{AFMoE_digits}`
	reTinyAyaDigits = `\d{1,3}(?=(?:\d{3})*\b)`
	reKimiK2        = `\p{Han}+`
)

type reParser struct {
	s         []rune
	i         int
	collapsed bool
}

func compileRegex(src string, collapsed bool) (*regex, error) {
	if src == reAFMoEDigits || src == reTinyAyaDigits {
		return &regex{src: src, digits: true}, nil
	}
	if src == reKimiK2 {
		return &regex{src: src, kimi: true}, nil
	}
	p := &reParser{s: []rune(src), collapsed: collapsed}
	n, err := p.alt()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, fmt.Errorf("tokenizer: regex %q: unexpected %q at %d", src, p.s[p.i], p.i)
	}
	return &regex{root: n, src: src}, nil
}

func (p *reParser) more() bool { return p.i < len(p.s) }

func (p *reParser) alt() (*reNode, error) {
	var alts []*reNode
	for {
		c, err := p.concat()
		if err != nil {
			return nil, err
		}
		alts = append(alts, c)
		if p.more() && p.s[p.i] == '|' {
			p.i++
			continue
		}
		break
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return &reNode{kind: reAlt, subs: alts}, nil
}

func (p *reParser) concat() (*reNode, error) {
	var items []*reNode
	for p.more() && p.s[p.i] != '|' && p.s[p.i] != ')' {
		atom, err := p.atom()
		if err != nil {
			return nil, err
		}
		atom, err = p.quantifier(atom)
		if err != nil {
			return nil, err
		}
		items = append(items, atom)
	}
	if len(items) == 1 {
		return items[0], nil
	}
	return &reNode{kind: reConcat, subs: items}, nil
}

func (p *reParser) quantifier(atom *reNode) (*reNode, error) {
	for p.more() {
		min, max := -1, -1
		switch p.s[p.i] {
		case '*':
			min, max = 0, -1
			p.i++
		case '+':
			min, max = 1, -1
			p.i++
		case '?':
			min, max = 0, 1
			p.i++
		case '{':
			end := p.i + 1
			for end < len(p.s) && p.s[end] != '}' {
				end++
			}
			if end == len(p.s) {
				return nil, fmt.Errorf("tokenizer: regex: unterminated {")
			}
			body := string(p.s[p.i+1 : end])
			lo, hi, comma := strings.Cut(body, ",")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("tokenizer: regex: bad repeat {%s}", body)
			}
			min, max = a, a
			if comma {
				max = -1
				if hi != "" {
					if max, err = strconv.Atoi(hi); err != nil {
						return nil, fmt.Errorf("tokenizer: regex: bad repeat {%s}", body)
					}
				}
			}
			p.i = end + 1
		default:
			return atom, nil
		}
		lazy := false
		if p.more() && p.s[p.i] == '?' {
			lazy = true
			p.i++
		}
		atom = &reNode{kind: reRepeat, subs: []*reNode{foldChar(atom)}, min: min, max: max, lazy: lazy}
	}
	return atom, nil
}

func (p *reParser) atom() (*reNode, error) {
	c := p.s[p.i]
	switch c {
	case '(':
		p.i++
		look, neg := false, false
		if p.i+1 < len(p.s) && p.s[p.i] == '?' {
			switch p.s[p.i+1] {
			case ':':
				p.i += 2
			case '=':
				look = true
				p.i += 2
			case '!':
				look, neg = true, true
				p.i += 2
			default:
				return nil, fmt.Errorf("tokenizer: regex: unsupported group (?%c", p.s[p.i+1])
			}
		}
		n, err := p.alt()
		if err != nil {
			return nil, err
		}
		if !p.more() || p.s[p.i] != ')' {
			return nil, fmt.Errorf("tokenizer: regex: missing )")
		}
		p.i++
		if look {
			return &reNode{kind: reLook, subs: []*reNode{n}, neg: neg}, nil
		}
		return n, nil
	case '[':
		return p.class()
	case '.':
		p.i++
		return &reNode{kind: reSet, set: func(r rune) bool { return r != '\n' && r != '\r' }}, nil
	case '^':
		p.i++
		return &reNode{kind: reBegin}, nil
	case '$':
		p.i++
		return &reNode{kind: reEnd}, nil
	case '\\':
		if p.i+1 < len(p.s) && p.s[p.i+1] == 'b' {
			p.i += 2
			return &reNode{kind: reWordB}, nil
		}
		f, err := p.escape()
		if err != nil {
			return nil, err
		}
		return &reNode{kind: reSet, set: f}, nil
	}
	p.i++
	return &reNode{kind: reSet, set: func(r rune) bool { return r == c }}, nil
}

// foldChar turns a node that always consumes exactly one character after
// lookaheads about that same character, like ((?=[\p{L}])([^a-z])), into one
// character set, so that repeating it takes the loop path instead of recursing
// once per character.
func foldChar(n *reNode) *reNode {
	if n.kind != reConcat || len(n.subs) == 0 {
		return n
	}
	last := n.subs[len(n.subs)-1]
	if last.kind != reSet {
		return n
	}
	preds := []func(rune) bool{last.set}
	for _, s := range n.subs[:len(n.subs)-1] {
		if s.kind != reLook || s.subs[0].kind != reSet {
			return n
		}
		f, neg := s.subs[0].set, s.neg
		preds = append(preds, func(r rune) bool { return f(r) != neg })
	}
	return &reNode{kind: reSet, set: func(r rune) bool {
		for _, f := range preds {
			if !f(r) {
				return false
			}
		}
		return true
	}}
}

// escape parses \x at p.i into a predicate.
func (p *reParser) escape() (func(rune) bool, error) {
	p.i++ // backslash
	if !p.more() {
		return nil, fmt.Errorf("tokenizer: regex: trailing backslash")
	}
	c := p.s[p.i]
	p.i++
	switch c {
	case 's':
		return isRegexSpace, nil
	case 'S':
		return func(r rune) bool { return !isRegexSpace(r) }, nil
	case 'd':
		return isDigit, nil
	case 'D':
		return func(r rune) bool { return !isDigit(r) }, nil
	case 'w':
		return isWord, nil
	case 'W':
		return func(r rune) bool { return !isWord(r) }, nil
	case 'n':
		return eq('\n'), nil
	case 'r':
		return eq('\r'), nil
	case 't':
		return eq('\t'), nil
	case 'f':
		return eq('\f'), nil
	case 'v':
		return eq('\v'), nil
	case 'p', 'P':
		if !p.more() || p.s[p.i] != '{' {
			return nil, fmt.Errorf("tokenizer: regex: \\p without {")
		}
		end := p.i
		for end < len(p.s) && p.s[end] != '}' {
			end++
		}
		if end == len(p.s) {
			return nil, fmt.Errorf("tokenizer: regex: unterminated \\p{")
		}
		name := string(p.s[p.i+1 : end])
		p.i = end + 1
		f, err := p.category(name)
		if err != nil {
			return nil, err
		}
		if c == 'P' {
			return func(r rune) bool { return !f(r) }, nil
		}
		return f, nil
	}
	return eq(c), nil
}

func eq(c rune) func(rune) bool { return func(r rune) bool { return r == c } }

// isRegexSpace is ECMAScript \s as std::regex sees it in the C locale: ASCII
// whitespace only (llama.cpp maps other whitespace to '\v' beforehand).
func isRegexSpace(r rune) bool { return r == ' ' || (r >= '\t' && r <= '\r') }

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isWord(r rune) bool {
	return r == '_' || isDigit(r) || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

// category returns the predicate of \p{name}. In collapsed mode the collapsed
// category byte stands for every non-ASCII member.
func (p *reParser) category(name string) (func(rune) bool, error) {
	var cat byte
	switch name {
	case "L", "Lu", "Ll", "Lt", "Lm", "Lo":
		cat = catLetter
	case "N":
		cat = catNumber
	case "P":
		cat = catPunct
	case "M":
		cat = catMark
	case "S":
		cat = catSymbol
	default:
		return nil, fmt.Errorf("tokenizer: regex: unsupported category \\p{%s}", name)
	}
	if p.collapsed {
		return func(r rune) bool {
			if r < 0x80 {
				return categoryOf(r) == cat
			}
			return r == collapsedCat[cat]
		}, nil
	}
	return func(r rune) bool { return categoryOf(r) == cat }, nil
}

func (p *reParser) class() (*reNode, error) {
	p.i++ // [
	neg := false
	if p.more() && p.s[p.i] == '^' {
		neg = true
		p.i++
	}
	var preds []func(rune) bool
	var ranges [][2]rune
	first := true
	for {
		if !p.more() {
			return nil, fmt.Errorf("tokenizer: regex: unterminated [")
		}
		c := p.s[p.i]
		if c == ']' && !first {
			p.i++
			break
		}
		first = false
		var lo rune
		if c == '\\' {
			// a class escape (\s, \p{..}) or an escaped literal
			if p.i+1 < len(p.s) && strings.ContainsRune("sSdDwWpP", p.s[p.i+1]) {
				f, err := p.escape()
				if err != nil {
					return nil, err
				}
				preds = append(preds, f)
				continue
			}
			f, err := p.escape()
			if err != nil {
				return nil, err
			}
			lo = literalOf(f, p.s[p.i-1])
		} else {
			lo = c
			p.i++
		}
		hi := lo
		if p.i+1 < len(p.s) && p.s[p.i] == '-' && p.s[p.i+1] != ']' {
			p.i++
			h := p.s[p.i]
			if h == '\\' {
				f, err := p.escape()
				if err != nil {
					return nil, err
				}
				hi = literalOf(f, p.s[p.i-1])
			} else {
				hi = h
				p.i++
			}
		}
		ranges = append(ranges, [2]rune{lo, hi})
	}
	in := func(r rune) bool {
		for _, rg := range ranges {
			if r >= rg[0] && r <= rg[1] {
				return true
			}
		}
		for _, f := range preds {
			if f(r) {
				return true
			}
		}
		return false
	}
	if neg {
		return &reNode{kind: reSet, set: func(r rune) bool { return !in(r) }}, nil
	}
	return &reNode{kind: reSet, set: in}, nil
}

// literalOf recovers the character an escape stands for (\n -> '\n', \- -> '-').
func literalOf(f func(rune) bool, escaped rune) rune {
	for _, c := range []rune{'\n', '\r', '\t', '\f', '\v'} {
		if f(c) {
			return c
		}
	}
	return escaped
}

// matchAt reports the end of the match starting at pos, or -1.
func (re *regex) matchAt(in []rune, pos int) int {
	end := -1
	m := &matcher{in: in}
	m.match(re.root, pos, func(e int) bool { end = e; return true })
	return end
}

type matcher struct {
	in    []rune
	depth int // nested iterations of general repeats
}

// maxRepeatDepth caps the iterations one general (non-single-character) repeat
// nests before it stops taking more: a longer run is split there instead of
// overflowing the stack. Real words are far shorter.
const maxRepeatDepth = 1 << 14

func (m *matcher) match(n *reNode, pos int, k func(int) bool) bool {
	switch n.kind {
	case reSet:
		if pos < len(m.in) && n.set(m.in[pos]) {
			return k(pos + 1)
		}
		return false
	case reConcat:
		return m.seq(n.subs, pos, k)
	case reAlt:
		for _, s := range n.subs {
			if m.match(s, pos, k) {
				return true
			}
		}
		return false
	case reRepeat:
		return m.repeat(n, 0, pos, k)
	case reLook:
		ok := m.match(n.subs[0], pos, func(int) bool { return true })
		if ok != n.neg {
			return k(pos)
		}
		return false
	case reBegin:
		return pos == 0 && k(pos)
	case reEnd:
		return pos == len(m.in) && k(pos)
	case reWordB:
		a := pos > 0 && isWord(m.in[pos-1])
		b := pos < len(m.in) && isWord(m.in[pos])
		return a != b && k(pos)
	}
	return false
}

func (m *matcher) seq(subs []*reNode, pos int, k func(int) bool) bool {
	if len(subs) == 0 {
		return k(pos)
	}
	return m.match(subs[0], pos, func(p int) bool { return m.seq(subs[1:], p, k) })
}

func (m *matcher) repeat(n *reNode, count, pos int, k func(int) bool) bool {
	// a fast path for a greedy repeat of a single character set
	if sub := n.subs[0]; sub.kind == reSet && !n.lazy {
		end := pos
		for end < len(m.in) && (n.max < 0 || end-pos < n.max) && sub.set(m.in[end]) {
			end++
		}
		for e := end; e >= pos+n.min; e-- {
			if k(e) {
				return true
			}
		}
		return false
	}
	more := func() bool {
		if n.max >= 0 && count >= n.max || m.depth >= maxRepeatDepth {
			return false
		}
		m.depth++
		defer func() { m.depth-- }()
		return m.match(n.subs[0], pos, func(p int) bool {
			if p == pos {
				return false // an empty iteration ends the loop
			}
			return m.repeat(n, count+1, p, k)
		})
	}
	if n.lazy {
		if count >= n.min && k(pos) {
			return true
		}
		return more()
	}
	if more() {
		return true
	}
	return count >= n.min && k(pos)
}

// split cuts each piece of text (lengths in code points, summing to len(in)) at
// the regex's matches, keeping the text between matches: llama.cpp's
// unicode_regex_split_stl.
func (re *regex) split(in []rune, pieces []int) []int {
	if re.digits {
		return splitDigits(in, pieces)
	}
	if re.kimi {
		return splitKimi(in, pieces)
	}
	var out []int
	start := 0
	for _, n := range pieces {
		seg := in[start : start+n]
		last := 0
		pos := 0
		for pos <= len(seg) {
			end := -1
			at := pos
			for ; at <= len(seg); at++ {
				if end = re.matchAt(seg, at); end >= 0 {
					break
				}
			}
			if end < 0 {
				break
			}
			if at > last {
				out = append(out, at-last)
			}
			out = append(out, end-at)
			last = end
			if end == at {
				pos = at + 1
			} else {
				pos = end
			}
		}
		if last < len(seg) {
			out = append(out, len(seg)-last)
		}
		start += n
	}
	return out
}

// Collapsed category bytes (llama.cpp's unicode_regex_split).
const (
	catOther byte = iota
	catNumber
	catLetter
	catPunct
	catMark
	catSymbol
	catSpace
)

var collapsedCat = [...]rune{catOther: 0xD0, catNumber: 0xD1, catLetter: 0xD2, catPunct: 0xD3, catMark: 0xD4, catSymbol: 0xD5, catSpace: 0x0B}

// categoryOf is the category llama.cpp's Unicode tables give a code point.
func categoryOf(r rune) byte {
	switch {
	case unicode.Is(unicode.White_Space, r):
		return catSpace
	case unicode.IsLetter(r):
		return catLetter
	case unicode.IsNumber(r):
		return catNumber
	case unicode.IsPunct(r):
		return catPunct
	case unicode.IsMark(r):
		return catMark
	case unicode.IsSymbol(r):
		return catSymbol
	}
	return catOther
}

// collapse maps text to llama.cpp's collapsed form: one rune per code point.
func collapse(cpts []rune) []rune {
	out := make([]rune, len(cpts))
	for i, r := range cpts {
		if r < 0x80 {
			out[i] = r
			continue
		}
		out[i] = collapsedCat[categoryOf(r)]
	}
	return out
}

// wideText is the input of a regex without categories: code points, with
// non-ASCII whitespace as '\v'.
func wideText(cpts []rune) []rune {
	out := make([]rune, len(cpts))
	for i, r := range cpts {
		if r > 0x7F && unicode.Is(unicode.White_Space, r) {
			r = 0x0B
		}
		out[i] = r
	}
	return out
}

// splitDigits is llama.cpp's AFMoE digit splitter: each run of numbers is cut into
// groups of three from the right; a piece ends at each group's end, so the text
// before a run joins its first group (later regexes split it further).
func splitDigits(in []rune, pieces []int) []int {
	var out []int
	start := 0
	for _, n := range pieces {
		end := start + n
		prev := start
		add := func(e int) {
			if e > prev {
				out = append(out, e-prev)
			}
			prev = e
		}
		for pos := start; pos < end; {
			if categoryOf(in[pos]) != catNumber {
				pos++
				continue
			}
			run := pos
			for pos < end && categoryOf(in[pos]) == catNumber {
				pos++
			}
			cur := run
			if r := (pos - run) % 3; r > 0 {
				cur += r
				add(cur)
			}
			for cur < pos {
				cur += 3
				add(cur)
			}
		}
		add(end)
		start = end
	}
	return out
}

// isHan is llama.cpp's unicode_cpt_is_han: the CJK ideograph blocks.
func isHan(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0x2CEB0 && r <= 0x2EBEF) || (r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}

// splitKimi is llama.cpp's hand-written Kimi-K2 splitter (unicode_regex_split_custom_kimi_k2):
// Han runs; non-Han letter words with an optional leading non-letter and English
// contractions; numbers in threes; punctuation runs with trailing newlines; whitespace.
func splitKimi(in []rune, pieces []int) []int {
	var out []int
	start := 0
	for _, n := range pieces {
		lo, hi := start, start+n
		start = hi
		inRange := func(p int) bool { return p >= lo && p < hi }
		cat := func(p int) (byte, bool) { // category, and whether p is inside the piece
			if !inRange(p) {
				return 0, false
			}
			return categoryOf(in[p]), true
		}
		letter := func(p int) bool { c, ok := cat(p); return ok && c == catLetter && !isHan(in[p]) }
		number := func(p int) bool { c, ok := cat(p); return ok && c == catNumber }
		space := func(p int) bool { c, ok := cat(p); return ok && c == catSpace }
		cpt := func(p int) rune {
			if !inRange(p) {
				return -1
			}
			return in[p]
		}
		prev := lo
		add := func(e int) {
			if e > prev {
				out = append(out, e-prev)
			}
			prev = e
		}
		for pos := lo; pos < hi; {
			c := in[pos]
			if isHan(c) {
				for inRange(pos) && isHan(in[pos]) {
					pos++
				}
				add(pos)
				continue
			}
			isL, isN := categoryOf(c) == catLetter, categoryOf(c) == catNumber
			leading := !(c == '\r' || c == '\n' || isL || isN)
			if (isL && !isHan(c)) || (leading && letter(pos+1)) {
				hasLeading := false
				if leading {
					hasLeading = true
					pos++
				}
				hasLetters := false
				for letter(pos) {
					hasLetters = true
					pos++
				}
				if hasLetters || (!hasLeading && letter(pos)) {
					if !hasLetters {
						pos++
					}
					for letter(pos) {
						pos++
					}
					if cpt(pos) == '\'' && pos+1 < hi {
						n1 := unicode.ToLower(cpt(pos + 1))
						if n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd' {
							pos += 2
						} else if pos+2 < hi {
							n2 := unicode.ToLower(cpt(pos + 2))
							if (n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l') {
								pos += 3
							}
						}
					}
					add(pos)
					continue
				} else if hasLeading {
					pos--
				}
			}
			if isN {
				ini := pos
				for number(pos) {
					pos++
					if pos-ini >= 3 {
						add(pos)
						ini = pos
					}
				}
				add(pos)
				continue
			}
			p2 := pos
			if c == ' ' {
				p2 = pos + 1
			}
			word := func(p int) bool { // in range and not whitespace, letter or number
				k, ok := cat(p)
				return ok && k != catSpace && k != catLetter && k != catNumber
			}
			if word(p2) {
				if c == ' ' {
					pos++
				}
				for word(pos) {
					pos++
				}
				for cpt(pos) == '\r' || cpt(pos) == '\n' {
					pos++
				}
				add(pos)
				continue
			}
			nws, lastNL := 0, 0
			for space(pos + nws) {
				if r := cpt(pos + nws); r == '\r' || r == '\n' {
					lastNL = pos + nws + 1
				}
				nws++
			}
			if lastNL > 0 {
				pos = lastNL
				add(pos)
				continue
			}
			if nws > 1 && inRange(pos+nws) {
				pos += nws - 1
				add(pos)
				continue
			}
			if nws > 0 {
				pos += nws
				add(pos)
				continue
			}
			pos++
			add(pos)
		}
	}
	return out
}
