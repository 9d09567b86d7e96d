//go:build !amd64 || purego

package blas

// cpuKernels lists the assembly kernels this CPU runs: none on this build.
func cpuKernels() []microKernel { return nil }
