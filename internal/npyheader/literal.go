package npyheader

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// This file parses the Python literal subset that .npy headers use: dicts, tuples,
// lists, strings (every escape, prefix and quoting Python allows, adjacent literals
// joined), bytes, integers, True, False and None. It interprets text and never
// evaluates it, like numpy's own safe_eval (ast.literal_eval).

// maxLiteralDepth caps nesting so hostile headers cannot exhaust the stack.
const maxLiteralDepth = 16

// Tuple and List keep tuples and lists apart: a shape must be a tuple.
type (
	Tuple []any
	List  []any
	None  struct{}
	// Bytes is a b'' literal.
	Bytes string
)

// Dict keeps keys in file order; a repeated key keeps its first place and its last
// value, as in Python.
type Dict struct {
	Keys []string
	Vals map[string]any
}

type literalParser struct {
	s   string
	pos int
}

// Parse parses s as one Python literal followed only by whitespace.
func Parse(s string) (any, error) {
	p := &literalParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, p.errorf("unexpected %q after the literal", p.s[p.pos])
	}
	return v, nil
}

func (p *literalParser) errorf(format string, args ...any) error {
	return fmt.Errorf("character %d of the header: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *literalParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\n\r\f\v", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *literalParser) value(depth int) (any, error) {
	if depth > maxLiteralDepth {
		return nil, p.errorf("literal nested deeper than %d", maxLiteralDepth)
	}
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.dict(depth)
	case c == '(':
		return p.sequence(depth, ')')
	case c == '[':
		return p.sequence(depth, ']')
	case c == '\'' || c == '"' || p.stringPrefix() >= 0:
		return p.strings()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.integer()
	default:
		for _, w := range []struct {
			word string
			val  any
		}{{"True", true}, {"False", false}, {"None", None{}}} {
			if strings.HasPrefix(p.s[p.pos:], w.word) && !p.identAt(p.pos+len(w.word)) {
				p.pos += len(w.word)
				return w.val, nil
			}
		}
		return nil, p.errorf("unexpected %q", c)
	}
}

// identAt reports whether an identifier character sits at i (so "Truex" is not True).
func (p *literalParser) identAt(i int) bool {
	if i >= len(p.s) {
		return false
	}
	c := p.s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func (p *literalParser) dict(depth int) (any, error) {
	p.pos++ // '{'
	d := &Dict{Vals: map[string]any{}}
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return d, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dict key %v is not a string", k)
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if _, dup := d.Vals[key]; !dup {
			d.Keys = append(d.Keys, key)
		}
		d.Vals[key] = v
		if !p.separator('}') {
			return nil, p.errorf("expected ',' or '}' in dict")
		}
	}
}

// separator consumes a ',' or peeks at the closing bracket; it reports false otherwise.
func (p *literalParser) separator(end byte) bool {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return false
	}
	switch p.s[p.pos] {
	case ',':
		p.pos++
		return true
	case end:
		return true
	}
	return false
}

// sequence parses a tuple or list. "(x)" is x itself, as in Python.
func (p *literalParser) sequence(depth int, end byte) (any, error) {
	p.pos++ // '(' or '['
	var items []any
	commas := 0
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == end {
			p.pos++
			break
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		if !p.separator(end) {
			return nil, p.errorf("expected ',' or %q", end)
		}
		if p.s[p.pos-1] == ',' {
			commas++
		}
	}
	if end == ']' {
		return List(items), nil
	}
	if len(items) == 1 && commas == 0 {
		return items[0], nil
	}
	return Tuple(items), nil
}

var errIntRange = errors.New("integer out of range")

func (p *literalParser) integer() (any, error) {
	neg := false
	if c := p.s[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
	}
	start := p.pos
	var n uint64
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		d := uint64(p.s[p.pos] - '0')
		if n > (math.MaxInt64-d)/10 {
			return nil, p.errorf("%v", errIntRange)
		}
		n = n*10 + d
		p.pos++
	}
	if p.pos == start {
		return nil, p.errorf("expected digits")
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++ // Python 2 long suffix, as numpy's header filter accepts
	}
	if p.identAt(p.pos) || p.pos < len(p.s) && p.s[p.pos] == '.' {
		return nil, p.errorf("not an integer")
	}
	v := int64(n)
	if neg {
		v = -v
	}
	return v, nil
}
