package onnxexport

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
)

// FuzzExport exports GGUF files made from the tiny llama by mutation: Export and
// the encoder pulling every lazy weight must return errors, never panic.
func FuzzExport(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := gguf.Decode(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			return
		}
		defer m.Close()
		om, err := Export(context.Background(), m, &Options{MaxPositions: 64})
		if err != nil {
			return
		}
		_ = onnx.Encode(io.Discard, om, nil)
	})
}
