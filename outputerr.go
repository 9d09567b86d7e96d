package refit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckOutputDir reports a missing output folder, or a file where it should be, by the
// folder's own name (not that of a temporary file that would be created in it).
// CreatePending calls it; writers that make their own temporary files call it first.
func CheckOutputDir(dir string) error {
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &outputError{fmt.Sprintf("output folder %s does not exist", dir), fs.ErrNotExist}
	case err != nil:
		return fmt.Errorf("output folder %s: %w", dir, unwrapPath(err))
	case !st.IsDir():
		return &outputError{fmt.Sprintf("output folder %s is a file, not a folder", dir), fs.ErrInvalid}
	}
	return nil
}

// outputError is a message about an output path that matches a fs sentinel.
type outputError struct {
	msg string
	err error
}

func (e *outputError) Error() string { return e.msg }
func (e *outputError) Unwrap() error { return e.err }

// targetError reports err from an operation on an output's temporary file under the
// target's name: users named the target; the temporary name means nothing to them.
func targetError(op, target string, err error) error {
	if st, serr := os.Stat(target); serr == nil && st.IsDir() {
		return &outputError{fmt.Sprintf("output %s is a folder; name an output file", target), fs.ErrExist}
	}
	return &fs.PathError{Op: op, Path: target, Err: unwrapPath(err)}
}

// unwrapPath returns the cause inside an *fs.PathError or *os.LinkError, which would
// otherwise print the temporary path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
