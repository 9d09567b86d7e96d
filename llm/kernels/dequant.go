package kernels

import "github.com/refit-ml/refit/tensor"

// Dequant decodes a row of weight type d into dst (len a whole number of blocks) and
// reports whether it has a fast decoder for d; without one it leaves dst alone. The
// values are bit for bit those of tensor.Dequantize (ggml's reference decoders):
// Q8_0, Q4_K and Q6_K decode in AVX2 assembly where the CPU has it.
func Dequant(dst []float32, row []byte, d tensor.DType) bool {
	if !haveAVX2 || len(dst) == 0 {
		return false
	}
	switch d {
	case tensor.Q8_0:
		nb := len(dst) / QK8_0
		_ = row[nb*sizeQ8_0-1]
		dequantQ8_0AVX2(&dst[0], &row[0], nb)
	case tensor.Q4_K:
		var fac, mins [8]float32
		for b := 0; b < len(dst)/QKK; b++ {
			blk := row[b*sizeQ4K : (b+1)*sizeQ4K]
			d, dmin := f16(blk), f16(blk[2:])
			for j := range 8 {
				s, m := scaleMinK4(j, blk[4:16])
				fac[j], mins[j] = d*float32(s), dmin*float32(m)
			}
			y := dst[b*QKK : (b+1)*QKK]
			dequantQ4KAVX2(&y[0], &blk[16], &fac[0], &mins[0])
		}
	case tensor.Q6_K:
		var fac [16]float32
		for b := 0; b < len(dst)/QKK; b++ {
			blk := row[b*sizeQ6K : (b+1)*sizeQ6K]
			d := f16(blk[208:])
			for j := range 16 {
				fac[j] = d * float32(int8(blk[192+j]))
			}
			y := dst[b*QKK : (b+1)*QKK]
			dequantQ6KAVX2(&y[0], &blk[0], &fac[0])
		}
	default:
		return false
	}
	return true
}
