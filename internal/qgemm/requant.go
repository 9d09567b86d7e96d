package qgemm

// requantParams are Requantize's constants as its kernel reads them.
type requantParams struct {
	off       int32
	k, b, s   float32
	lo, hi, z float32 // lo-z, hi-z and z (blas.Quantize8's clamp and offset)
	signed    uint32
	div       uint32 // s != 1: y/s (a division by 1 is exact and skipped)
}

// Requantize converts rows of int32 sums into 8-bit outputs in one pass: for each of
// rows rows of rowLen sums (row r at src[r*stride:]), written contiguously into dst
// (rows*rowLen bytes), y = float32(v+off)*k + b, then QuantizeLinear's
// round_half_even(clamp(y/s, lo-z, hi-z)) + z (int8 bit patterns when signed). These
// are the float32 operations, in order, of Scale followed by blas.Quantize8 (b = 0
// adds nothing that survives the rounding: only the sign of a zero can change), so
// the bytes equal theirs. lo <= z <= hi lie in the 8-bit type's range.
func Requantize(dst []byte, src []int32, rows, rowLen, stride int, off int32, k, b, s float32, lo, hi, z int32, signed bool) {
	if rows <= 0 || rowLen <= 0 {
		return
	}
	dst = dst[:rows*rowLen]
	_ = src[(rows-1)*stride+rowLen-1]
	p := requantParams{off: off, k: k, b: b, s: s, lo: float32(lo - z), hi: float32(hi - z), z: float32(z)}
	if signed {
		p.signed = 1
	}
	if s != 1 {
		p.div = 1
	}
	chunks := (rowLen + 7) / 8
	done := 0
	// Every row but the last in whole chunks of 8: a chunk past a row's end is
	// written over by the next row, and reads sums past it that src holds.
	if rows > 1 && (rows-2)*stride+8*chunks <= len(src) && (rows-2)*rowLen+8*chunks <= len(dst) &&
		requantVec(dst, src, rows-1, chunks, rowLen, stride, &p) {
		done = rows - 1
	}
	for r := done; r < rows; r++ {
		d, s := dst[r*rowLen:(r+1)*rowLen], src[r*stride:r*stride+rowLen]
		n := 0
		if rowLen >= 8 && requantVec(d, s, 1, rowLen/8, rowLen, stride, &p) {
			n = rowLen &^ 7
		}
		requantGo(d[n:], s[n:], &p)
	}
}

func requantGo(dst []byte, src []int32, p *requantParams) {
	const magic = 12582912 // 1.5 * 2^23: adding and subtracting it rounds half to even
	for i, v := range src[:len(dst)] {
		y := float32(float32(v+p.off)*p.k) + p.b
		r := y / p.s
		if r != r {
			r = 0
		}
		r = min(max(r, p.lo), p.hi)
		dst[i] = byte(int32((r + magic) - magic + p.z))
	}
}
