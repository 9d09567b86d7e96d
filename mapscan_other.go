//go:build !linux

package refit

func populate(m []byte, off, n int64) {}

func release(m []byte, off, n int64) {}
