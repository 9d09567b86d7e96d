//go:build amd64 && !purego

package runtime

import "golang.org/x/sys/cpu"

// kernel6x16AVX2 is the AVX2/FMA micro-kernel in gemm_amd64.s: 12 ymm accumulators
// hold a 6 x 16 tile; per k it loads two 8-wide B vectors and broadcasts 6 A values.
//
//go:noescape
func kernel6x16AVX2(kc int, a, b, c *float32, ldc int, alpha float32)

var avx2Kernel = microKernel{6, 16, func(kc int, a, b, c []float32, ldc int, alpha float32) {
	// The assembly does no bounds checks: check here, once per tile.
	if kc <= 0 || len(a) < 6*kc || len(b) < 16*kc || len(c) < 5*ldc+16 {
		panic("runtime: gemm micro-kernel slices too short")
	}
	kernel6x16AVX2(kc, &a[0], &b[0], &c[0], ldc, alpha)
}}

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		activeKernel = avx2Kernel
	}
}
