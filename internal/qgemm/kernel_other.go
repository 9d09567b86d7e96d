//go:build !amd64 || purego

package qgemm

// cpuKernels lists the assembly kernels this CPU runs: none on this build.
func cpuKernels() []microKernel { return nil }
