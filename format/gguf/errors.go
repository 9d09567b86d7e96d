package gguf

import (
	"errors"
	"fmt"

	"github.com/refit-ml/refit"
)

// formatErr returns a *refit.FormatError at offset (-1 when unknown) with an optional cause.
func formatErr(offset int64, msg string, cause error) error {
	return &refit.FormatError{Format: "gguf", Offset: offset, Msg: msg, Err: cause}
}

// withContext prefixes a FormatError's message with where it happened.
func withContext(err error, where string) error {
	var fe *refit.FormatError
	if errors.As(err, &fe) {
		c := *fe
		c.Msg = where + ": " + c.Msg
		return &c
	}
	return fmt.Errorf("gguf: %s: %w", where, err)
}

func unsupportedf(msg string, args ...any) error { return refit.Unsupportedf("gguf", msg, args...) }
