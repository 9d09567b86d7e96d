//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// sgemmKernel6x16AVX2 is the kernelFunc contract for a 6x16 tile with AVX2 and FMA.
//
//go:noescape
func sgemmKernel6x16AVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// sgemmKernel6x8AVX2 fills the left 6x8 of a tile from a 16-wide B panel, for edge
// panels with at most 8 columns left.
//
//go:noescape
func sgemmKernel6x8AVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)

var avx2Kernel = microKernel{name: "avx2-6x16", mr: 6, nr: 16, fn: sgemmKernel6x16AVX2, half: sgemmKernel6x8AVX2}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		kernel = avx2Kernel
	}
}
