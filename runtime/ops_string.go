package runtime

import (
	"fmt"
	"slices"
	"strings"
)

// String operators over KindString tensors.

func init() {
	Register(Op{Type: "StringNormalizer", Since: 10, Kernel: stringNormalizerKernel})
}

func stringNormalizerKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.Kind != KindString {
		return nil, fmt.Errorf("input %v must be a string tensor", x)
	}
	var a attrs
	action := a.str(c.Node, "case_change_action", "NONE")
	caseSensitive := a.int(c.Node, "is_case_sensitive", 0) != 0
	var stop []string
	if c.Node.Has("stopwords") {
		s, err := c.Node.Strings("stopwords", nil)
		a.keep(err)
		stop = s
	}
	if a.err != nil {
		return nil, a.err
	}
	var change func(string) string
	switch action {
	case "NONE":
	case "LOWER":
		change = strings.ToLower
	case "UPPER":
		change = strings.ToUpper
	default:
		return nil, fmt.Errorf("case_change_action %q: want NONE, LOWER or UPPER", action)
	}
	// Input is [C] or [1, C].
	switch {
	case x.Rank() == 1:
	case x.Rank() == 2 && x.Shape[0] == 1:
	default:
		return nil, fmt.Errorf("input %v must have shape [C] or [1, C]", x)
	}
	stopSet := map[string]bool{}
	for _, w := range stop {
		if !caseSensitive {
			w = strings.ToLower(w)
		}
		stopSet[w] = true
	}
	var out []string
	for _, s := range x.Strings() {
		key := s
		if !caseSensitive {
			key = strings.ToLower(s)
		}
		if stopSet[key] {
			continue
		}
		if change != nil {
			s = change(s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		out = []string{""} // the spec keeps one empty string when everything is removed
	}
	shape := slices.Clone(x.Shape)
	shape[len(shape)-1] = int64(len(out))
	v, err := NewStrings(out, shape...)
	if err != nil {
		return nil, err
	}
	return []*Value{v}, nil
}
