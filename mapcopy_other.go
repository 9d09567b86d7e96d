//go:build !linux

package refit

import "os"

// preallocate does nothing where fallocate is missing; see mapcopy_linux.go.
func preallocate(f *os.File, off, n int64) {}
