package tensor

import (
	"math"

	"github.com/x448/float16"
)

// F16ToF32 widens an IEEE 754 binary16 value exactly.
func F16ToF32(h uint16) float32 { return float16.Frombits(h).Float32() }

// F32ToF16 rounds to the nearest binary16 value, ties to even; NaN stays NaN.
func F32ToF16(f float32) uint16 { return float16.Fromfloat32(f).Bits() }

// BF16ToF32 widens a bfloat16 value exactly.
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds to the nearest bfloat16 value, ties to even; NaN stays a quiet NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// F8E4M3ToF32 widens a float8 e4m3fn value (bias 7, no infinities, S.1111.111 is NaN).
func F8E4M3ToF32(v uint8) float32 {
	sign := float32(1)
	if v&0x80 != 0 {
		sign = -1
	}
	e := int(v>>3) & 0xf
	m := int(v & 7)
	if e == 0xf && m == 7 {
		return float32(math.NaN())
	}
	if e == 0 {
		return sign * float32(m) / 8 * float32(math.Ldexp(1, -6))
	}
	return sign * float32(math.Ldexp(1+float64(m)/8, e-7))
}

// F8E5M2ToF32 widens a float8 e5m2 value (IEEE-like, bias 15, with infinities).
func F8E5M2ToF32(v uint8) float32 { return F16ToF32(uint16(v) << 8) }

// F32ToF8E4M3 rounds to nearest even; magnitudes beyond the largest finite value after
// rounding, infinities and NaN become NaN, as torch's float8_e4m3fn does.
func F32ToF8E4M3(f float32) uint8 { return f32ToMini(f, 4, 3, 7, false) }

// F32ToF8E5M2 rounds to nearest even; overflow becomes infinity, NaN stays NaN.
func F32ToF8E5M2(f float32) uint8 { return f32ToMini(f, 5, 2, 15, true) }

// f32ToMini rounds f to a 1+ebits+mbits float with the given bias, ties to even.
func f32ToMini(f float32, ebits, mbits, bias int, ieee bool) uint8 {
	b := math.Float32bits(f)
	sign := uint8(b>>31) << 7
	a := b & 0x7fffffff
	nan := sign | 0x7f
	if ieee {
		nan = sign | uint8((1<<ebits-1)<<mbits) | 1<<(mbits-1)
	}
	if a > 0x7f800000 {
		return nan
	}
	maxExp := 1<<ebits - 1 // biased exponent of inf/nan (ieee) or top binade (e4m3fn)
	if a == 0x7f800000 {
		if ieee {
			return sign | uint8(maxExp<<mbits)
		}
		return nan
	}
	// Work in units of the smallest subnormal: value = q * 2^(1-bias-mbits).
	x := float64(math.Float32frombits(a))
	q := math.Ldexp(x, bias-1+mbits)
	r := math.RoundToEven(q)
	// Normal numbers have more precision than the subnormal step; rescale per binade.
	if q >= float64(int(1)<<mbits) {
		e := math.Floor(math.Log2(x))
		fr, ex := math.Frexp(x) // x = fr * 2^ex, fr in [0.5,1)
		_ = e
		mant := math.RoundToEven(fr * float64(int(1)<<(mbits+1))) // in [2^mbits, 2^(mbits+1)]
		exp := ex - 1 + bias
		if mant == float64(int(1)<<(mbits+1)) {
			mant /= 2
			exp++
		}
		code := exp<<mbits | (int(mant) - 1<<mbits)
		limit := maxExp<<mbits - 1 // largest finite code for ieee
		if !ieee {
			limit = maxExp<<mbits | (1<<mbits - 2)
		}
		if code > limit {
			if ieee {
				return sign | uint8(maxExp<<mbits)
			}
			return nan
		}
		return sign | uint8(code)
	}
	return sign | uint8(r)
}
