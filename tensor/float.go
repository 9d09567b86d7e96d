package tensor

import (
	"encoding/binary"
	"math"
)

// Scalar float conversions. All narrowing rounds to nearest, ties to even, with gradual
// underflow (subnormals) and overflow to infinity, as IEEE 754 and numpy do; the fp8
// variants follow the OCP FP8 rules as torch 2.x implements them. NaN handling:
//
//   - Widening (F16ToF32, F8E5M2ToF32) keeps sign and payload bits and does not quiet
//     signaling NaNs, as numpy does (torch quiets them); so F32ToF16(F16ToF32(h)) == h for
//     every h, NaNs included.
//   - F32ToF16/F64ToF16 keep sign and the top payload bits, forcing a non-zero mantissa,
//     as numpy does.
//   - F32ToBF16 keeps sign and the top payload bits and sets the quiet bit.
//     (torch 1.13's vectorized CPU cast writes 0xFFFF for every NaN.)
//   - F32ToF8E4M3 returns S.1111.111 (0x7f|sign) for NaN and for anything beyond the
//     largest finite value after rounding (|x| > 464), infinities included: e4m3fn has no
//     infinity, and torch 2.x does the same. F32ToF8E5M2 overflows to infinity and returns
//     0x7f|sign for NaN, as torch 2.x does.
//
// The code is branch-light bit arithmetic, no tables: the normal range rounds with an
// integer add on the float32 bits, the subnormal range lets the FPU round by adding a
// power of two whose ulp is the target's subnormal quantum.

// F16ToF32 widens an IEEE 754 binary16 value exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	a := uint32(h & 0x7fff)
	switch {
	case a >= 0x7c00: // Inf, NaN: keep the payload
		return math.Float32frombits(sign | 0x7f800000 | (a&0x3ff)<<13)
	case a >= 0x0400: // normal: rebias the exponent 15 -> 127
		return math.Float32frombits(sign | (a<<13 + (127-15)<<23))
	default: // zero, subnormal: a * 2^-24 is exact in float32
		return math.Float32frombits(sign | math.Float32bits(float32(a)*0x1p-24))
	}
}

// F32ToF16 rounds to the nearest binary16 value, ties to even; NaN stays NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	switch {
	case a >= 0x47800000: // |f| >= 65536, Inf, NaN
		if a > 0x7f800000 {
			m := uint16(a>>13) & 0x3ff
			if m == 0 {
				m = 1
			}
			return sign | 0x7c00 | m
		}
		return sign | 0x7c00
	case a >= 0x38800000: // result is normal (or rounds up to Inf from >= 65520)
		return sign | uint16((a-(127-15)<<23+0xfff+(a>>13)&1)>>13)
	default: // subnormal or zero: 0.5 has ulp 2^-24, the binary16 subnormal quantum
		return sign | uint16(math.Float32bits(math.Float32frombits(a)+0.5)-0x3f000000)
	}
}

// BF16ToF32 widens a bfloat16 value exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds to the nearest bfloat16 value, ties to even; NaN stays a quiet NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// F8E4M3ToF32 widens a float8 e4m3fn value (bias 7, no infinities, S.1111.111 is NaN).
// NaN widens to sign|0x7ff00000, the mantissa bits shifted into place, as torch does.
func F8E4M3ToF32(v uint8) float32 {
	sign := uint32(v&0x80) << 24
	a := uint32(v & 0x7f)
	switch {
	case a == 0x7f:
		return math.Float32frombits(sign | 0x7ff00000)
	case a >= 0x08:
		return math.Float32frombits(sign | (a<<20 + (127-7)<<23))
	default:
		return math.Float32frombits(sign | math.Float32bits(float32(a)*0x1p-9))
	}
}

// F8E5M2ToF32 widens a float8 e5m2 value (IEEE-like, bias 15, with infinities):
// it is the top byte of a binary16.
func F8E5M2ToF32(v uint8) float32 { return F16ToF32(uint16(v) << 8) }

// F32ToF8E4M3 rounds to nearest even; magnitudes beyond the largest finite value after
// rounding (> 464), infinities and NaN become NaN, as torch's float8_e4m3fn does.
func F32ToF8E4M3(f float32) uint8 {
	b := math.Float32bits(f)
	sign := uint8(b>>24) & 0x80
	a := b & 0x7fffffff
	switch {
	case a > 0x43e80000: // > 464 rounds past 448; Inf, NaN
		return sign | 0x7f
	case a >= 0x3c800000: // >= 2^-6, normal
		return sign | uint8((a-(127-7)<<23+0x7ffff+(a>>20)&1)>>20)
	default: // 16384 has ulp 2^-9, the e4m3 subnormal quantum
		return sign | uint8(math.Float32bits(math.Float32frombits(a)+16384)-0x46800000)
	}
}

// F32ToF8E5M2 rounds to nearest even; overflow becomes infinity, NaN becomes 0x7f|sign.
func F32ToF8E5M2(f float32) uint8 {
	b := math.Float32bits(f)
	sign := uint8(b>>24) & 0x80
	a := b & 0x7fffffff
	switch {
	case a >= 0x47800000: // >= 65536, Inf, NaN
		if a > 0x7f800000 {
			return sign | 0x7f
		}
		return sign | 0x7c
	case a >= 0x38800000: // >= 2^-14, normal (>= 61440 rounds up to Inf)
		return sign | uint8((a-(127-15)<<23+0xfffff+(a>>21)&1)>>21)
	default: // 128 has ulp 2^-16, the e5m2 subnormal quantum
		return sign | uint8(math.Float32bits(math.Float32frombits(a)+128)-0x43000000)
	}
}

// F64ToF32 rounds to the nearest float32, ties to even (Go's conversion).
func F64ToF32(x float64) float32 { return float32(x) }

// F64ToF16 rounds a float64 directly to binary16, as numpy does; rounding through
// float32 first could round twice and differ at ties.
func F64ToF16(x float64) uint16 {
	b := math.Float64bits(x)
	sign := uint16(b>>48) & 0x8000
	a := math.Abs(x)
	switch {
	case a != a: // NaN: top payload bits, never a zero mantissa (numpy)
		m := uint16(b>>42) & 0x3ff
		if m == 0 {
			m = 1
		}
		return sign | 0x7c00 | m
	case a >= 65520: // rounds to Inf
		return sign | 0x7c00
	}
	return sign | uint16(roundF64(a, 10, 15))
}

// F64ToBF16 rounds a float64 directly to bfloat16 (correct rounding; torch 1.13 rounds
// through float32, which differs at some ties).
func F64ToBF16(x float64) uint16 {
	b := math.Float64bits(x)
	sign := uint16(b>>48) & 0x8000
	a := math.Abs(x)
	switch {
	case a != a:
		return sign | 0x7fc0 | uint16(b>>45)&0x7f
	case a >= 0x1.ffp127: // halfway past the largest bfloat16, rounds to Inf
		return sign | 0x7f80
	}
	return sign | uint16(roundF64(a, 7, 127))
}

// f64ToF8E4M3 rounds a float64 directly to float8 e4m3fn (overflow and NaN give NaN).
func f64ToF8E4M3(x float64) uint8 {
	sign := uint8(math.Float64bits(x)>>56) & 0x80
	a := math.Abs(x)
	if !(a <= 464) { // NaN, Inf, overflow
		return sign | 0x7f
	}
	return sign | uint8(roundF64(a, 3, 7))
}

// f64ToF8E5M2 rounds a float64 directly to float8 e5m2.
func f64ToF8E5M2(x float64) uint8 {
	sign := uint8(math.Float64bits(x)>>56) & 0x80
	a := math.Abs(x)
	switch {
	case a != a:
		return sign | 0x7f
	case a >= 61440:
		return sign | 0x7c
	}
	return sign | uint8(roundF64(a, 2, 15))
}

// roundF64 rounds a finite a >= 0, no larger than the format's rounding limit, to the
// magnitude code (biased exponent << mbits | mantissa) of a binary format with mbits
// mantissa bits and the given exponent bias, ties to even. A mantissa that rounds up
// carries into the exponent, which is exactly the next code.
func roundF64(a float64, mbits, bias int) uint32 {
	if a == 0 {
		return 0
	}
	fr, ex := math.Frexp(a) // a = fr * 2^ex, fr in [0.5, 1)
	e := ex - 1 + bias
	if e < 1 { // subnormal: count quanta of 2^(1-bias-mbits)
		return uint32(math.RoundToEven(math.Ldexp(a, bias-1+mbits)))
	}
	q := uint32(math.RoundToEven(math.Ldexp(fr, mbits+1))) // in [2^mbits, 2^(mbits+1)]
	return uint32(e)<<mbits + q - 1<<mbits
}

// Bulk conversions between little-endian bytes and float32 slices. They panic when the
// lengths disagree (a programmer error) and allocate nothing.

// ConvertF16ToF32 widens len(dst) little-endian binary16 values from src.
func ConvertF16ToF32(dst []float32, src []byte) {
	if len(src) != 2*len(dst) {
		panic("tensor: ConvertF16ToF32 length mismatch")
	}
	src = src[:2*len(dst)]
	for i := range dst {
		h := uint32(src[2*i]) | uint32(src[2*i+1])<<8
		a := h & 0x7fff
		if a-0x0400 < 0x7c00-0x0400 { // normal: F16ToF32's middle case
			dst[i] = math.Float32frombits((h&0x8000)<<16 | (a<<13 + (127-15)<<23))
		} else {
			dst[i] = F16ToF32(uint16(h))
		}
	}
}

// ConvertF32ToF16 rounds src to little-endian binary16 values in dst.
func ConvertF32ToF16(dst []byte, src []float32) {
	if len(dst) != 2*len(src) {
		panic("tensor: ConvertF32ToF16 length mismatch")
	}
	dst = dst[:2*len(src)]
	for i, v := range src {
		b := math.Float32bits(v)
		a := b & 0x7fffffff
		var h uint32
		if a-0x38800000 < 0x47800000-0x38800000 { // normal result: F32ToF16's middle case
			h = (a - (127-15)<<23 + 0xfff + (a>>13)&1) >> 13
		} else {
			h = uint32(F32ToF16(math.Float32frombits(a)))
		}
		h |= b >> 16 & 0x8000
		dst[2*i] = byte(h)
		dst[2*i+1] = byte(h >> 8)
	}
}

// ConvertBF16ToF32 widens len(dst) little-endian bfloat16 values from src.
func ConvertBF16ToF32(dst []float32, src []byte) {
	if len(src) != 2*len(dst) {
		panic("tensor: ConvertBF16ToF32 length mismatch")
	}
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
}

// ConvertF32ToBF16 rounds src to little-endian bfloat16 values in dst.
func ConvertF32ToBF16(dst []byte, src []float32) {
	if len(dst) != 2*len(src) {
		panic("tensor: ConvertF32ToBF16 length mismatch")
	}
	dst = dst[:2*len(src)] // one bounds check for the loop
	for i, v := range src {
		b := math.Float32bits(v)
		h := (b + 0x7fff + (b>>16)&1) >> 16
		if b&0x7fffffff > 0x7f800000 { // NaN: keep it quiet, as F32ToBF16 does
			h = b>>16 | 0x40
		}
		dst[2*i] = byte(h)
		dst[2*i+1] = byte(h >> 8)
	}
}

// castF64 converts little-endian float64 values in src to the float type d in dst with
// one rounding; it reports false for a target it does not handle.
func castF64(dst, src []byte, d DType) bool {
	le := binary.LittleEndian
	n := len(src) / 8
	switch d {
	case F32:
		for i := range n {
			le.PutUint32(dst[4*i:], math.Float32bits(float32(math.Float64frombits(le.Uint64(src[8*i:])))))
		}
	case F16:
		for i := range n {
			le.PutUint16(dst[2*i:], F64ToF16(math.Float64frombits(le.Uint64(src[8*i:]))))
		}
	case BF16:
		for i := range n {
			le.PutUint16(dst[2*i:], F64ToBF16(math.Float64frombits(le.Uint64(src[8*i:]))))
		}
	case F8E4M3:
		for i := range n {
			dst[i] = f64ToF8E4M3(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F8E5M2:
		for i := range n {
			dst[i] = f64ToF8E5M2(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	default:
		return false
	}
	return true
}
