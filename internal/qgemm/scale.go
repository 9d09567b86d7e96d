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
