package tflite

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzDecode: Decode never panics, fails only with documented errors, and every
// tensor it accepts reads fully.
func FuzzDecode(f *testing.F) {
	for _, n := range []string{"testdata/model.tflite", "testdata/external.tflite"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Fatalf("Decode = %v: not a documented error", err)
			}
			return
		}
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
		}
	})
}
