//go:build !linux

package runtime

// availableMemory is unknown off Linux; DefaultMaxMemory then assumes 16 GiB.
func availableMemory() int64 { return 0 }
