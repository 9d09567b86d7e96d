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

// sgemmKernel16x16AVX512 is the kernelFunc contract for a 16x16 tile with AVX-512F:
// sixteen ZMM accumulators, one B load and sixteen FMAs with an embedded broadcast
// of A per k step, so loads and instructions per flop are a third of the AVX2 tile's.
//
//go:noescape
func sgemmKernel16x16AVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// sgemmKernel16x8AVX512 fills the left 16x8 of a tile from a 16-wide B panel with
// 256-bit FMAs (half the work of the full tile), for edge panels with 5 to 8 columns
// left. It uses Y16 and up, so it needs AVX-512VL.
//
//go:noescape
func sgemmKernel16x8AVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// sgemmKernel16x4ColAVX512 computes the left 16x4 of a tile, a quarter of the full
// tile's FMAs, for edge panels with at most 4 columns left; it stores column j at
// c[16*j:] (see microKernel.cols).
//
//go:noescape
func sgemmKernel16x4ColAVX512(kc int, a, b, c *float32, ldc int, alpha, beta float32)

var (
	avx2Kernel   = microKernel{name: "avx2-6x16", mr: 6, nr: 16, fn: sgemmKernel6x16AVX2, half: sgemmKernel6x8AVX2}
	avx512Kernel = microKernel{name: "avx512-16x16", mr: 16, nr: 16, fn: sgemmKernel16x16AVX512}
)

// cpuKernels lists the assembly kernels this CPU runs, best first.
func cpuKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		k := avx512Kernel
		k.cols = sgemmKernel16x4ColAVX512
		if cpu.X86.HasAVX512VL {
			k.half = sgemmKernel16x8AVX512
		}
		ks = append(ks, k)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return ks
}

func init() {
	if ks := cpuKernels(); len(ks) > 0 {
		kernel = ks[0]
	}
}
