//go:build !purego

package tensor

import "golang.org/x/sys/cpu"

var haveF16C = cpu.X86.HasAVX2 && cpu.X86.HasF16C

// f32ToF16F16C converts 8 floats at a time with VCVTPS2PH (round to nearest even),
// stopping before the first group of 8 that holds a NaN (the instruction quiets a
// NaN's payload; ConvertF32ToF16 keeps it, as numpy does). n is a multiple of 8; it
// returns the count converted.
//
//go:noescape
func f32ToF16F16C(dst *byte, src *float32, n int) int

// convertF32ToF16 is ConvertF32ToF16, bit for bit, with the hardware conversion for
// runs of 8 values without a NaN.
func convertF32ToF16(dst []byte, src []float32) {
	if !haveF16C || len(dst) != 2*len(src) {
		ConvertF32ToF16(dst, src)
		return
	}
	for len(src) >= 8 {
		k := f32ToF16F16C(&dst[0], &src[0], len(src)&^7)
		dst, src = dst[2*k:], src[k:]
		if len(src) >= 8 { // a group with a NaN
			ConvertF32ToF16(dst[:16], src[:8])
			dst, src = dst[16:], src[8:]
		}
	}
	ConvertF32ToF16(dst, src)
}

// f32ToBF16AVX2 rounds 8 floats at a time to bfloat16 (to nearest even), stopping
// before the first group of 8 that holds a NaN. n is a multiple of 8; it returns the
// count converted.
//
//go:noescape
func f32ToBF16AVX2(dst *byte, src *float32, n int) int

var haveAVX2 = cpu.X86.HasAVX2

// convertF32ToBF16 is ConvertF32ToBF16, bit for bit, with AVX2 for runs of 8 values
// without a NaN.
func convertF32ToBF16(dst []byte, src []float32) {
	if !haveAVX2 || len(dst) != 2*len(src) {
		ConvertF32ToBF16(dst, src)
		return
	}
	for len(src) >= 8 {
		k := f32ToBF16AVX2(&dst[0], &src[0], len(src)&^7)
		dst, src = dst[2*k:], src[k:]
		if len(src) >= 8 { // a group with a NaN
			ConvertF32ToBF16(dst[:16], src[:8])
			dst, src = dst[16:], src[8:]
		}
	}
	ConvertF32ToBF16(dst, src)
}
