//go:build !linux

package refit

func release(m []byte, off, n int64) {}
