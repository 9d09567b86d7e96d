//go:build amd64 && !purego

package plan

import (
	"golang.org/x/sys/cpu"

	"github.com/refit-ml/refit/tensor"
)

var haveF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C

//go:noescape
func f16ToF32F16C(dst *float32, src *byte, n int) int

// convertF16 is tensor.ConvertF16ToF32 (bit for bit, NaN payloads included), with the
// hardware conversion for runs of 8 values without a NaN.
func convertF16(dst []float32, src []byte) {
	if !haveF16C || len(src) != 2*len(dst) {
		tensor.ConvertF16ToF32(dst, src)
		return
	}
	for len(dst) >= 8 {
		k := f16ToF32F16C(&dst[0], &src[0], len(dst)&^7)
		dst, src = dst[k:], src[2*k:]
		if len(dst) >= 8 { // a group with a NaN
			tensor.ConvertF16ToF32(dst[:8], src[:16])
			dst, src = dst[8:], src[16:]
		}
	}
	tensor.ConvertF16ToF32(dst, src)
}

// haveDiffAVX2 selects diffAVX2; tests turn it off to compare with diffLanes.
var haveDiffAVX2 = cpu.X86.HasAVX2

//go:noescape
func diffAVX2(a, b *float32, n int, out *[4]float64)

// haveFusedDiff selects q80DiffAVX2 and q40DiffAVX2 (VCVTPH2PS is F16C).
var haveFusedDiff = haveDiffAVX2 && cpu.X86.HasF16C

//go:noescape
func q80DiffAVX2(a *float32, y *byte, nb int, out *[4]float64)

//go:noescape
func q40DiffAVX2(a *float32, y *byte, nb int, out *[4]float64)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *byte, n int)

// convertBF16 widens bfloat16 values: the float32 with the same upper 16 bits.
func convertBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	if n := len(dst) &^ 7; haveDiffAVX2 && n > 0 {
		bf16ToF32AVX2(&dst[0], &src[0], n)
		dst, src = dst[n:], src[2*n:]
	}
	convertBF16Go(dst, src)
}

//go:noescape
func q6kDiffAVX2(a *float32, y *byte, nb int, out *[4]float64)
