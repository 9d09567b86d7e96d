package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

func splitWith(t *testing.T, key, text string) []string {
	t.Helper()
	cpts := []rune(text)
	pieces := []int{len(cpts)}
	for _, src := range preRegexes[key] {
		re, err := compileRegex(src, usesCategory(src))
		if err != nil {
			t.Fatal(err)
		}
		in := wideText(cpts)
		if usesCategory(src) {
			in = collapse(cpts)
		}
		pieces = re.split(in, pieces)
	}
	var out []string
	start := 0
	for _, n := range pieces {
		out = append(out, string(cpts[start:start+n]))
		start += n
	}
	return out
}

// TestRegexSplits checks pre-tokenizers without a llama.cpp test vocabulary on
// splits worked out by hand from their patterns.
func TestRegexSplits(t *testing.T) {
	tests := []struct {
		key, text string
		want      []string
	}{
		{"gpt4o", "Hello WORLDs isn't 12345", []string{"Hello", " WORLDs", " isn't", " ", "123", "45"}},
		{"tekken", "HelloWORLD foo/\nbar 12", []string{"Hello", "WORLD", " foo", "/\n", "bar", " ", "1", "2"}},
		{"superbpe", "x 1234567 y", []string{"x ", "1", "", "234", "", "567", " y"}},
		{"poro", "Hello, world! ok", []string{"Hello", ",", " world", "!", " ok"}},
		// each regex splits the pieces the previous ones made, matches included
		{"chameleon", "<sentinel:12>ab  c", []string{"<", "sentinel", ":", "1", "2", ">", "ab", "  ", "c"}},
		{"gemma4", "a b\n\nc", []string{"a b", "\n\n", "c"}},
		// digits in threes from the right; the text before a run joins its first group
		// and the later regexes split it off again
		{"afmoe", "ab1234 x12", []string{"ab", "1", "234", " x", "12"}},
		{"tiny_aya", "ab1234 x12", []string{"ab", "1", "234", " x", "12"}},
	}
	for _, tt := range tests {
		if got := splitWith(t, tt.key, tt.text); !slices.Equal(got, tt.want) {
			t.Errorf("%s %q: got %q, want %q", tt.key, tt.text, got, tt.want)
		}
	}
}

// TestRegexLongInput: a repeated lookahead group over a long word runs in a loop,
// not one stack frame per character.
func TestRegexLongInput(t *testing.T) {
	text := strings.Repeat("a", 1<<20)
	got := splitWith(t, "tekken", text)
	if len(got) != 1 || len(got[0]) != 1<<20 {
		t.Errorf("got %d pieces", len(got))
	}
}

// TestEveryPreTokenizerCompiles: every regex of every pre-tokenizer name compiles
// (but the two llama.cpp splits by hand).
func TestEveryPreTokenizerCompiles(t *testing.T) {
	for _, name := range PreTokenizers() {
		pt := preTypes[name]
		res, ok := preRegexes[pt.regexes]
		if !ok {
			t.Errorf("%s: no regexes %q", name, pt.regexes)
		}
		for _, src := range res {
			if _, err := compileRegex(src, usesCategory(src)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}
