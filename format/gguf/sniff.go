package gguf

import (
	"io"

	"github.com/refit-ml/refit"
)

// Sniff reports whether r starts with the GGUF magic.
func Sniff(r io.ReaderAt, size int64) bool { return refit.HasPrefix(r, size, magic) }
