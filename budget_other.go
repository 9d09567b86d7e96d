//go:build !linux

package refit

// availableMemory is unknown outside Linux; DefaultMaxMemory falls back to 4 GiB.
func availableMemory() int64 { return 0 }
