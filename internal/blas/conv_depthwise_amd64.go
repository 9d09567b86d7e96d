//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// fmaRowAVX512 does FMARow over n values, 16 at a time with a masked tail.
//
//go:noescape
func fmaRowAVX512(dst, src *float32, n int, v float32)

// fmaRowAVX2 does FMARow over n values, 8 at a time, then one at a time.
//
//go:noescape
func fmaRowAVX2(dst, src *float32, n int, v float32)

var (
	hasFMARowAVX512 = cpu.X86.HasAVX512F
	hasFMARowAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// fmaRowVec does what it can of FMARow in assembly and returns how many values it did.
func fmaRowVec(dst, src []float32, v float32) int {
	if len(dst) == 0 {
		return 0
	}
	switch {
	case hasFMARowAVX512:
		fmaRowAVX512(&dst[0], &src[0], len(dst), v)
	case hasFMARowAVX2:
		fmaRowAVX2(&dst[0], &src[0], len(dst), v)
	default:
		return 0
	}
	return len(dst)
}
