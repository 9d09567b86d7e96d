package pickle

import "fmt"

// Builtins returns allowlist entries for the harmless value constructors protocols 0-3
// use for built-in types: set, frozenset, bytearray, bytes (via _codecs.encode), slice
// and collections.OrderedDict, under both Python 3 and Python 2 module names.
func Builtins() map[string]any {
	g := map[string]any{}
	for _, mod := range []string{"builtins", "__builtin__"} {
		g[mod+".set"] = Func(makeSet(false))
		g[mod+".frozenset"] = Func(makeSet(true))
		g[mod+".bytearray"] = Func(makeBytes)
		g[mod+".bytes"] = Func(makeBytes)
		g[mod+".slice"] = Func(func(args []any) (any, error) { return Tuple(args), nil })
	}
	g["_codecs.encode"] = Func(codecsEncode)
	g["collections.OrderedDict"] = Func(orderedDict)
	return g
}

func items(v any) ([]any, bool) {
	switch x := v.(type) {
	case *List:
		return x.Items, true
	case Tuple:
		return x, true
	case *Set:
		return x.Items, true
	}
	return nil, false
}

func makeSet(frozen bool) func([]any) (any, error) {
	return func(args []any) (any, error) {
		s := &Set{Frozen: frozen}
		if len(args) > 0 {
			it, ok := items(args[0])
			if !ok {
				return nil, fmt.Errorf("%w: set of %T", ErrMalformed, args[0])
			}
			s.Items = append(s.Items, it...)
		}
		return s, nil
	}
}

// makeBytes implements bytearray()/bytes() of nothing, bytes, a latin-1 string with an
// encoding, or a list of ints.
func makeBytes(args []any) (any, error) {
	if len(args) == 0 {
		return []byte{}, nil
	}
	switch x := args[0].(type) {
	case []byte:
		return x, nil
	case string:
		return codecsEncode(args)
	}
	it, ok := items(args[0])
	if !ok {
		return nil, fmt.Errorf("%w: bytearray of %T", ErrMalformed, args[0])
	}
	out := make([]byte, len(it))
	for i, e := range it {
		n, ok := Int(e)
		if !ok || n < 0 || n > 255 {
			return nil, fmt.Errorf("%w: bytearray item %v", ErrMalformed, e)
		}
		out[i] = byte(n)
	}
	return out, nil
}

// codecsEncode implements _codecs.encode(str, encoding), which protocols 0-2 use for bytes.
func codecsEncode(args []any) (any, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%w: _codecs.encode without arguments", ErrMalformed)
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("%w: _codecs.encode of %T", ErrMalformed, args[0])
	}
	enc := "utf-8"
	if len(args) > 1 {
		enc, _ = args[1].(string)
	}
	switch enc {
	case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, fmt.Errorf("%w: _codecs.encode: %U is not latin-1", ErrMalformed, r)
			}
			out = append(out, byte(r))
		}
		return out, nil
	case "utf-8", "utf8":
		return []byte(s), nil
	}
	return nil, fmt.Errorf("%w: _codecs.encode to %q", ErrUnsupported, enc)
}

func orderedDict(args []any) (any, error) {
	d := NewDict()
	if len(args) == 0 {
		return d, nil
	}
	it, ok := items(args[0])
	if !ok {
		return nil, fmt.Errorf("%w: OrderedDict of %T", ErrMalformed, args[0])
	}
	for _, e := range it {
		kv, ok := e.(Tuple)
		if !ok || len(kv) != 2 {
			if l, isList := e.(*List); isList && len(l.Items) == 2 {
				kv = Tuple(l.Items)
			} else {
				return nil, fmt.Errorf("%w: OrderedDict item %T", ErrMalformed, e)
			}
		}
		d.Set(kv[0], kv[1])
	}
	return d, nil
}
