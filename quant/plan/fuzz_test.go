package plan

import (
	"bytes"
	"testing"
)

func FuzzParseImatrix(f *testing.F) {
	f.Add(legacyImatrix(map[string][]float32{"a.weight": {2, 4, 6}, "b.weight": {1}}, 2))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseImatrix(bytes.NewReader(b), int64(len(b)))
		if err == nil && len(m) == 0 && !bytes.HasPrefix(b, []byte("GGUF")) {
			t.Errorf("legacy file parsed with no entries")
		}
	})
}
