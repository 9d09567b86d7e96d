package pickle

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/refit-ml/refit/internal/testtool"
)

// escapeInputs covers every escape of both codecs, the malformed ones and the
// backslash runs where the two codecs differ.
var escapeInputs = []string{
	``, `plain`, `\\`, `\'`, `\"`, `\a\b\f\n\r\t\v`, "a\\\nb", `\x41\x7e\xff\xFf`,
	`\x4`, `\x`, `\xzz`, `\x4g`, `a\`, `a\\\`, `\0`, `\07`, `\101`, `\1011`, `\377`, `\400`,
	`\777`, `\8`, `\q`, `\u0041`, `\U0001F600`, `\u00e9`, `\u12`, `\uzzzz`, `\U00110000`,
	`\UFFFFFFFF`, `\\u0041`, `\\\u0041`, `\\\\u0041`, `\ud800`, `\udfff\u0041`, `caf` + "\xe9",
	"\x80\xff", `\N{DIGIT ONE}`, `x\U0010FFFF`, `\u004`, `\U0000004`, `os\nsystem`,
}

// TestEscapesMatchPython compares EscapeDecode with codecs.escape_decode and
// DecodeRawUnicode with the raw_unicode_escape codec, input by input.
func TestEscapesMatchPython(t *testing.T) {
	testtool.RequirePython(t, "codecs")
	const script = `
import codecs, json, sys
def fix(s):  # Go strings cannot hold lone surrogates; they become U+FFFD
    return "".join("\ufffd" if 0xd800 <= ord(c) <= 0xdfff else c for c in s)
for h in sys.argv[1:]:
    b = bytes.fromhex(h)
    out = {}
    try:
        out["s"] = codecs.escape_decode(b)[0].hex()
    except ValueError:
        out["s"] = None
    try:
        out["u"] = fix(b.decode("raw_unicode_escape")).encode().hex()
    except UnicodeDecodeError:
        out["u"] = None
    print(json.dumps(out))
`
	args := make([]string, len(escapeInputs))
	for i, in := range escapeInputs {
		args[i] = hex.EncodeToString([]byte(in))
	}
	lines := strings.Split(strings.TrimSpace(string(testtool.RunPython(t, script, args...))), "\n")
	if len(lines) != len(escapeInputs) {
		t.Fatalf("python answered %d lines for %d inputs", len(lines), len(escapeInputs))
	}
	for i, in := range escapeInputs {
		var want struct{ S, U *string }
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatal(err)
		}
		check := func(codec string, got string, err error, want *string) {
			t.Helper()
			var esc *EscapeError
			if err != nil && !errors.As(err, &esc) {
				t.Errorf("%s(%q): error %v is not an *EscapeError", codec, in, err)
			}
			switch {
			case want == nil && err == nil:
				t.Errorf("%s(%q) = %q, Python rejects it", codec, in, got)
			case want != nil && err != nil:
				t.Errorf("%s(%q): %v, Python accepts it", codec, in, err)
			case want != nil && hex.EncodeToString([]byte(got)) != *want:
				t.Errorf("%s(%q) = %x, Python gives %s", codec, in, got, *want)
			}
		}
		got, err := EscapeDecode(in)
		check("EscapeDecode", got, err, want.S)
		got, err = DecodeRawUnicode(in)
		check("DecodeRawUnicode", got, err, want.U)
	}
}

// TestEscapesLenientText checks the text returned with an error: the bad escape is
// kept as written and everything around it is decoded.
func TestEscapesLenientText(t *testing.T) {
	for _, c := range []struct {
		decode   func(string) (string, error)
		in, want string
		trailing bool
	}{
		{EscapeDecode, `os\n\`, "os\n\\", true},
		{EscapeDecode, `\x4\n`, "\\x4\n", false},
		{EscapeDecode, `\xzz\x41`, `\xzzA`, false},
		{DecodeRawUnicode, `\u12\u0041`, `\u12A`, false},
		{DecodeRawUnicode, `\U00110000!`, `\U00110000!`, false},
	} {
		got, err := c.decode(c.in)
		var esc *EscapeError
		if !errors.As(err, &esc) {
			t.Errorf("%q: error %v, want an *EscapeError", c.in, err)
			continue
		}
		if got != c.want || esc.Trailing() != c.trailing {
			t.Errorf("%q: text %q trailing %v, want %q %v", c.in, got, esc.Trailing(), c.want, c.trailing)
		}
	}
	if _, err := UnquoteString(`abc`); err == nil {
		t.Error("UnquoteString accepted an unquoted argument")
	}
	if got, err := UnquoteString(`'a\'b'`); err != nil || got != `a'b` {
		t.Errorf("UnquoteString: %q, %v", got, err)
	}
}

// FuzzEscapes checks the decoders on any input: no panic, valid UTF-8 from
// DecodeRawUnicode, only *EscapeError errors, and text without escapes unchanged.
func FuzzEscapes(f *testing.F) {
	for _, in := range escapeInputs {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := EscapeDecode(in)
		var esc *EscapeError
		if err != nil && !errors.As(err, &esc) {
			t.Fatalf("EscapeDecode(%q): %v", in, err)
		}
		if !strings.Contains(in, `\`) && (s != in || err != nil) {
			t.Fatalf("EscapeDecode(%q) = %q, %v", in, s, err)
		}
		if len(s) > len(in) {
			t.Fatalf("EscapeDecode(%q) grew to %q", in, s)
		}
		if q, err2 := UnquoteString(`"` + in + `"`); q != s || (err == nil) != (err2 == nil) {
			t.Fatalf("UnquoteString disagrees with EscapeDecode on %q", in)
		}
		u, err := DecodeRawUnicode(in)
		if err != nil && !errors.As(err, &esc) {
			t.Fatalf("DecodeRawUnicode(%q): %v", in, err)
		}
		if !utf8.ValidString(u) {
			t.Fatalf("DecodeRawUnicode(%q) = %q is not UTF-8", in, u)
		}
	})
}
