package refit

import (
	"errors"
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

var (
	// ErrFormat reports malformed input: bad magic, truncation, inconsistent lengths.
	ErrFormat = errors.New("refit: malformed input")
	// ErrUnsupported reports valid input that Refit does not handle. It is the same
	// value as tensor.ErrUnsupported, so errors from either package match both.
	ErrUnsupported = tensor.ErrUnsupported
	// ErrUnknownFormat reports input that no registered format recognizes.
	ErrUnknownFormat = errors.New("refit: unknown format")
	// ErrInsecurePath reports a path inside a file that escapes its folder, a symlink
	// that leads out of a model's folder, or a file that is not a regular file (a
	// FIFO, device or socket), which Refit refuses to read.
	ErrInsecurePath = errors.New("refit: insecure path")
)

// FormatError describes malformed input at a byte offset (-1 when unknown).
// errors.Is(err, ErrFormat) holds for every FormatError.
type FormatError struct {
	Format string // package name, e.g. "gguf"
	Offset int64
	Msg    string
	Err    error // optional cause, e.g. io.ErrUnexpectedEOF
}

func (e *FormatError) Error() string {
	s := e.Format + ": " + e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" (at byte %d)", e.Offset)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrFormat, e.Err}
	}
	return []error{ErrFormat}
}

// Errorf returns a *FormatError for format at offset (-1 when unknown).
func Errorf(format string, offset int64, msg string, args ...any) error {
	return &FormatError{Format: format, Offset: offset, Msg: fmt.Sprintf(msg, args...)}
}

// WrapErrorf is Errorf with a cause (such as io.ErrUnexpectedEOF) that the error
// unwraps to besides ErrFormat; a nil cause gives the same error as Errorf.
func WrapErrorf(format string, offset int64, cause error, msg string, args ...any) error {
	return &FormatError{Format: format, Offset: offset, Msg: fmt.Sprintf(msg, args...), Err: cause}
}

// Unsupportedf returns an error wrapping ErrUnsupported.
func Unsupportedf(format, msg string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", format, fmt.Sprintf(msg, args...), ErrUnsupported)
}
