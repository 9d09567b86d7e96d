package pickle

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The protocol-0 text arguments are decoded here once, for the unpickler and for the
// scanner (scan), which must agree on what a string says.

// An EscapeError reports the first escape that Python's codec rejects. The decoders
// return it together with the whole argument decoded anyway, each rejected escape kept
// as written, so that a reader that must keep going (the scanner) can.
type EscapeError struct {
	Offset int    // byte offset of the backslash in the decoded text
	Escape string // the escape as written; a lone "\" is a trailing backslash
	Reason string
}

func (e *EscapeError) Error() string {
	return fmt.Sprintf("%s %q at offset %d", e.Reason, e.Escape, e.Offset)
}

// Trailing reports whether the error is a backslash at the very end of the text.
func (e *EscapeError) Trailing() bool { return e.Escape == `\` }

// UnquoteString decodes the argument of STRING as Python's unpickler does: the line
// must sit between matching single or double quotes, and the text between them is
// decoded with codecs.escape_decode. An unquoted line returns "" and an error; a bad
// escape returns the leniently decoded text and an *EscapeError.
func UnquoteString(line string) (string, error) {
	if len(line) < 2 || (line[0] != '\'' && line[0] != '"') || line[len(line)-1] != line[0] {
		return "", fmt.Errorf("the STRING opcode argument %q is not quoted", line)
	}
	return EscapeDecode(line[1 : len(line)-1])
}

// EscapeDecode decodes Python bytes-literal escapes as codecs.escape_decode does: \\ \'
// \" \a \b \f \n \r \t \v, backslash-newline (dropped), \xHH and up to three octal
// digits (kept modulo 256); any other escape stays as written. A trailing backslash
// or a \x without two hex digits is an error (an *EscapeError, with the text decoded
// anyway, the bad escape kept as written).
func EscapeDecode(s string) (string, error) {
	var b strings.Builder
	var first *EscapeError
	fail := func(at int, esc, reason string) {
		if first == nil {
			first = &EscapeError{Offset: at, Escape: esc, Reason: reason}
		}
		b.WriteString(esc)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			fail(i, `\`, "trailing backslash")
			break
		}
		i++
		switch e := s[i]; e {
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
			if i+2 < len(s) {
				hi, ok1 := hexDigit(s[i+1])
				lo, ok2 := hexDigit(s[i+2])
				if ok1 && ok2 {
					b.WriteByte(byte(hi<<4 | lo))
					i += 2
					continue
				}
			}
			// Python's message says "invalid"; the hex digits after it stay literal.
			fail(i-1, `\x`, "invalid \\x escape")
		default:
			if e >= '0' && e <= '7' {
				v, j := 0, i
				for ; j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7'; j++ {
					v = v*8 + int(s[j]-'0')
				}
				b.WriteByte(byte(v)) // Python keeps the low 8 bits of \400..\777
				i = j - 1
				continue
			}
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	if first != nil {
		return b.String(), first
	}
	return b.String(), nil
}

// DecodeRawUnicode decodes Python's raw-unicode-escape codec, the argument of UNICODE:
// every byte is a Latin-1 code point except that a backslash followed by u or U starts
// \uXXXX or \UXXXXXXXX. As in Python, a backslash followed by anything else is kept
// with that character, so of "\\u0041" only the backslashes and "u0041" remain. A short
// or non-hex escape or a code point past U+10FFFF is an error (an *EscapeError, with
// the text decoded anyway, the bad escape's backslash and letter kept as written).
// Go strings cannot hold lone surrogates: \uD800 decodes to U+FFFD.
func DecodeRawUnicode(s string) (string, error) {
	var b strings.Builder
	var first *EscapeError
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteRune(rune(c))
			continue
		}
		e := s[i+1]
		if e != 'u' && e != 'U' {
			b.WriteByte('\\')
			b.WriteRune(rune(e))
			i++
			continue
		}
		n := 4
		if e == 'U' {
			n = 8
		}
		v, ok := uint32(0), i+2+n <= len(s)
		for k := i + 2; ok && k < i+2+n; k++ {
			d, isHex := hexDigit(s[k])
			v, ok = v<<4|uint32(d), isHex
		}
		switch {
		case !ok:
			if first == nil {
				first = &EscapeError{Offset: i, Escape: s[i : i+2], Reason: "truncated \\" + string(e) + " escape"}
			}
		case v > utf8.MaxRune:
			if first == nil {
				first = &EscapeError{Offset: i, Escape: s[i : i+2+n], Reason: "out-of-range \\U escape"}
			}
			ok = false
		}
		if !ok {
			b.WriteByte('\\')
			b.WriteByte(e)
			i++
			continue
		}
		b.WriteRune(rune(v))
		i += 1 + n
	}
	if first != nil {
		return b.String(), first
	}
	return b.String(), nil
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}
