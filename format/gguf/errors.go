package gguf

import (
	"errors"
	"fmt"

	"github.com/refit-ml/refit"
)

// withContext prefixes a FormatError's message with where it happened.
func withContext(err error, where string) error {
	var fe *refit.FormatError
	if errors.As(err, &fe) {
		c := *fe
		c.Msg = where + ": " + c.Msg
		return &c
	}
	var be *budgetError
	if errors.As(err, &be) {
		c := *be
		c.where = where + ": " + c.where
		return &c
	}
	return fmt.Errorf("gguf: %s: %w", where, err)
}

func unsupportedf(msg string, args ...any) error { return refit.Unsupportedf("gguf", msg, args...) }

// budgetError is a refit.BudgetError at a byte offset, which withContext can prefix.
type budgetError struct {
	where string // "" or context ending in ": "
	off   int64
	err   error
}

func (e *budgetError) Error() string {
	return fmt.Sprintf("gguf: %sat byte %d: %v", e.where, e.off, e.err)
}

func (e *budgetError) Unwrap() error { return e.err }
