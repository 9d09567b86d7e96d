package plan

import (
	"bytes"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func FuzzParseImatrix(f *testing.F) {
	f.Add(legacyImatrix(map[string][]float32{"a.weight": {2, 4, 6}, "b.weight": {1}}, 2))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	sums, _ := tensor.NewF32("x.weight.in_sum2", tensor.Shape{2, 2}, []float32{3, 6, 5, 5})
	counts, _ := tensor.NewF32("x.weight.counts", tensor.Shape{2, 1}, []float32{3, 0})
	f.Add(ggufBytes(f, sums, counts))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseImatrix(bytes.NewReader(b), int64(len(b)))
		if err == nil && len(m) == 0 && !bytes.HasPrefix(b, []byte("GGUF")) {
			t.Errorf("legacy file parsed with no entries")
		}
	})
}
