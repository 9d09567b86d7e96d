//go:build !unix

package pathtest

import "errors"

// Mkfifo reports errors.ErrUnsupported where FIFOs cannot be made; callers skip.
func Mkfifo(name string) error { return errors.ErrUnsupported }
