package blas

// Row statistics and the affine normalization of LayerNormalization and its kin, in
// float64 where the statistics are accumulated, vectorized on amd64 with the same
// operations in the same order as the scalar code here, so both give the same bits.

// Sum64 returns the sum of s in float64: eight running sums over the first
// len(s)&^7 values (value i into sum i%8), combined as
// ((s0+s4)+(s1+s5)) + ((s2+s6)+(s3+s7)), then the remaining values added in order.
func Sum64(s []float32) float64 {
	n8 := len(s) &^ 7
	var total float64
	if v, ok := sum64Vec(s[:n8]); ok {
		total = v
	} else {
		var a [8]float64
		for i := 0; i < n8; i += 8 {
			for j := range a {
				a[j] += float64(s[i+j])
			}
		}
		total = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
	}
	for _, v := range s[n8:] {
		total += float64(v)
	}
	return total
}

// SqDev64 returns the sum of (float64(v) - mean)^2 over s, in Sum64's order.
func SqDev64(s []float32, mean float64) float64 {
	n8 := len(s) &^ 7
	var total float64
	if v, ok := sqDev64Vec(s[:n8], mean); ok {
		total = v
	} else {
		var a [8]float64
		for i := 0; i < n8; i += 8 {
			for j := range a {
				x := float64(s[i+j]) - mean
				a[j] += float64(x * x) // the conversion keeps the product rounded (no FMA)
			}
		}
		total = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]))
	}
	for _, v := range s[n8:] {
		x := float64(v) - mean
		total += float64(x * x)
	}
	return total
}

// NormAffine sets dst[i] = float32(float32((float64(src[i])-mean)*inv)*scale[i]) +
// bias[i], each operation rounded on its own. src, scale and bias hold at least
// len(dst) values; dst may be src.
func NormAffine(dst, src, scale, bias []float32, mean, inv float64) {
	src, scale, bias = src[:len(dst)], scale[:len(dst)], bias[:len(dst)]
	done := normAffineVec(dst, src, scale, bias, mean, inv)
	for i := done; i < len(dst); i++ {
		t := float32((float64(src[i]) - mean) * inv)
		dst[i] = float32(t*scale[i]) + bias[i]
	}
}
