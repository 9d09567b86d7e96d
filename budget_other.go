//go:build !linux

package refit

// memoryBudget is unknown outside Linux; DefaultMaxMemory falls back to 4 GiB.
func memoryBudget() int64 { return 0 }
