package refit

import (
	"fmt"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-99/100", 0, 99, 100, true},
		{"bytes 5-5/*", 5, 5, -1, true},
		{"bytes 10-9/100", 0, 0, 0, false},
		{"bytes -1-9/100", 0, 0, 0, false},
		{"bytes 0-9/abc", 0, 0, 0, false},
		{"bytes 0-99999999999999999999/1", 0, 0, 0, false},
		{"items 0-9/10", 0, 0, 0, false},
		{"bytes 0-9", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, c := range cases {
		f, l, tot, ok := parseContentRange(c.in)
		if ok != c.ok || (ok && (f != c.first || l != c.last || tot != c.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", c.in, f, l, tot, ok, c.first, c.last, c.total, c.ok)
		}
	}
}

// FuzzParseContentRange: whatever a server sends, the parser does not panic, and what
// it accepts is a well-formed range that prints back to the same numbers.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-5/*", "bytes 1-0/0", "bytes 9223372036854775807-9223372036854775807/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, last, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		if first < 0 || last < first || total < -1 {
			t.Fatalf("parseContentRange(%q) = %d, %d, %d: not a range", s, first, last, total)
		}
		tot := "*"
		if total >= 0 {
			tot = fmt.Sprint(total)
		}
		f2, l2, t2, ok2 := parseContentRange(fmt.Sprintf("bytes %d-%d/%s", first, last, tot))
		if !ok2 || f2 != first || l2 != last || t2 != total {
			t.Fatalf("round trip of %q failed", s)
		}
	})
}
