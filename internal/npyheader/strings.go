package npyheader

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// stringPrefix returns the length of a string prefix (u, r, b, br, rb in any case)
// followed by a quote at the parser's position, or -1.
func (p *literalParser) stringPrefix() int {
	for n := 1; n <= 2; n++ {
		if p.pos+n >= len(p.s) {
			return -1
		}
		pre := strings.ToLower(p.s[p.pos : p.pos+n])
		switch pre {
		case "u", "r", "b", "br", "rb":
		default:
			return -1
		}
		if q := p.s[p.pos+n]; q == '\'' || q == '"' {
			return n
		}
	}
	return -1
}

// strings parses one or more adjacent string literals, joined as Python joins them;
// mixing bytes and str is an error, as in Python.
func (p *literalParser) strings() (any, error) {
	var b strings.Builder
	kind := -1 // 0 str, 1 bytes
	for {
		p.skipSpace()
		if p.pos >= len(p.s) {
			break
		}
		n := 0
		if c := p.s[p.pos]; c != '\'' && c != '"' {
			if n = p.stringPrefix(); n < 0 {
				break
			}
		}
		pre := strings.ToLower(p.s[p.pos : p.pos+n])
		isBytes := strings.Contains(pre, "b")
		k := 0
		if isBytes {
			k = 1
		}
		if kind >= 0 && kind != k {
			return nil, p.errorf("cannot mix bytes and str literals")
		}
		kind = k
		p.pos += n
		if err := p.oneString(&b, strings.Contains(pre, "r"), isBytes); err != nil {
			return nil, err
		}
	}
	if kind == 1 {
		return Bytes(b.String()), nil
	}
	return b.String(), nil
}

// oneString parses a quoted literal (single, double or triple quotes) into b.
func (p *literalParser) oneString(b *strings.Builder, raw, isBytes bool) error {
	quote := p.s[p.pos : p.pos+1]
	if strings.HasPrefix(p.s[p.pos:], strings.Repeat(quote, 3)) {
		quote = strings.Repeat(quote, 3)
	}
	p.pos += len(quote)
	for p.pos < len(p.s) {
		if strings.HasPrefix(p.s[p.pos:], quote) {
			p.pos += len(quote)
			return nil
		}
		c := p.s[p.pos]
		if c == '\n' && len(quote) == 1 {
			return p.errorf("newline in string")
		}
		if isBytes && c >= 0x80 {
			return p.errorf("non-ASCII character in a bytes literal")
		}
		if c != '\\' {
			_, size := utf8.DecodeRuneInString(p.s[p.pos:])
			b.WriteString(p.s[p.pos : p.pos+size])
			p.pos += size
			continue
		}
		if p.pos+1 >= len(p.s) {
			return p.errorf("unterminated escape")
		}
		if raw {
			// A raw string keeps the backslash; it only stops the quote from ending it.
			b.WriteString(p.s[p.pos : p.pos+2])
			p.pos += 2
			continue
		}
		if err := p.escape(b, isBytes); err != nil {
			return err
		}
	}
	return p.errorf("unterminated string")
}

// escape decodes one backslash escape at the parser's position.
func (p *literalParser) escape(b *strings.Builder, isBytes bool) error {
	p.pos++ // '\\'
	e := p.s[p.pos]
	p.pos++
	put := func(r rune) {
		if isBytes {
			b.WriteByte(byte(r))
		} else {
			b.WriteRune(r)
		}
	}
	hex := func(n int) (rune, error) {
		if p.pos+n > len(p.s) {
			return 0, p.errorf("truncated \\%c escape", e)
		}
		v, err := strconv.ParseUint(p.s[p.pos:p.pos+n], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return 0, p.errorf("bad \\%c escape", e)
		}
		p.pos += n
		return rune(v), nil
	}
	switch e {
	case '\n':
	case '\\', '\'', '"':
		b.WriteByte(e)
	case 'a':
		b.WriteByte(7)
	case 'b':
		b.WriteByte(8)
	case 'f':
		b.WriteByte(12)
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'v':
		b.WriteByte(11)
	case 'x':
		r, err := hex(2)
		if err != nil {
			return err
		}
		put(r)
	case 'u', 'U':
		if isBytes {
			b.WriteByte('\\')
			b.WriteByte(e)
			return nil
		}
		n := 4
		if e == 'U' {
			n = 8
		}
		r, err := hex(n)
		if err != nil {
			return err
		}
		b.WriteRune(r)
	case 'N':
		// Named characters need Unicode's name table; refuse rather than guess.
		return p.errorf("\\N{...} escapes are not supported")
	default:
		if e >= '0' && e <= '7' {
			v := rune(e - '0')
			for i := 0; i < 2 && p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '7'; i++ {
				v = v*8 + rune(p.s[p.pos]-'0')
				p.pos++
			}
			put(v)
			return nil
		}
		// Python keeps unknown escapes as they are.
		b.WriteByte('\\')
		b.WriteByte(e)
	}
	return nil
}
