package qgemm

// Scale converts int32 sums to float32: dst[i] = float32(src[i] + off) * k, plus b
// when bias (a separate float32 addition, not a fused multiply-add, so the result is
// that of the unfused operators). dst and src have the same length.
func Scale(dst []float32, src []int32, off int32, k, b float32, bias bool) {
	src = src[:len(dst)]
	n := scaleVec(dst, src, off, k, b, bias)
	dst, src = dst[n:], src[n:]
	if bias {
		for i, v := range src {
			dst[i] = float32(float32(v+off)*k) + b
		}
		return
	}
	for i, v := range src {
		dst[i] = float32(v+off) * k
	}
}

// Dequantize sets dst[i] = (float32(src[i]) - z) * s, the bytes read as int8 when
// signed (else uint8): DequantizeLinear's float32 operations, in order.
func Dequantize(dst []float32, src []byte, signed bool, z, s float32) {
	src = src[:len(dst)]
	n := dequantizeVec(dst, src, signed, z, s)
	dst, src = dst[n:], src[n:]
	if signed {
		for i, v := range src {
			dst[i] = (float32(int8(v)) - z) * s
		}
		return
	}
	for i, v := range src {
		dst[i] = (float32(v) - z) * s
	}
}
