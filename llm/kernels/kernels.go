// Package kernels has the dot products of one quantized GGUF weight row with one
// activation row, computed on the quantized blocks as ggml's CPU backend computes
// them: the activation is first quantized to ggml's vec_dot_type for the weight type
// (Q8_0 for the 32-blocks, Q8_K for k-quants and IQ4_XS), each block's products are
// summed exactly in integers with the block's integer scales, and only those sums are
// scaled and accumulated in float32. So a product differs from llama.cpp's only by the
// float32 rounding of its accumulation order: per block in order for Q8_0, Q4_0 and
// IQ4_XS (as ggml's scalar reference), and for the k-quants in eight float lanes per
// 256-block, lane i holding values 4i..4i+3 of every 32 (the layout of an AVX2
// register), the minimum terms per block in a scalar, the lanes added last in order.
//
// On amd64 with AVX2 and F16C, every kernel runs in assembly that computes the
// same sums in the same order as the Go code, so both give identical bits. Dequant
// decodes Q8_0, Q4_K and Q6_K rows to float32 there too, bit for bit as
// tensor.Dequantize, for products over a batch of tokens.
//
// Rows are ggml's block layouts, little-endian; callers pass whole rows (a multiple
// of the block size) and an activation quantized from a row of the same length.
package kernels

import (
	"math"

	"github.com/refit-ml/refit/tensor"
)

// Block geometry of the activation forms.
const (
	QK8_0 = 32
	QKK   = 256
)

// Q8_0 is an activation row in ggml's block_q8_0 form: 32-blocks of int8 with a
// float16 scale (kept here as the float32 it converts to).
type Q8_0 struct {
	Q []int8
	D []float32 // one per block, float16-rounded
}

// Q8K is an activation row in ggml's block_q8_K form: 256-blocks of int8 with a
// float32 scale and the sums of each 16 values (the k-quants' minimum terms use them).
type Q8K struct {
	Q    []int8
	D    []float32 // one per block
	Sums []int16   // 16 per block
}

// QuantizeQ8_0 quantizes x (a multiple of 32 long) into a, as ggml's x86 quantize_row_q8_0
// does: scale max|x|/127 rounded to float16, values x*127/max|x| rounded half to even.
func QuantizeQ8_0(a *Q8_0, x []float32) {
	nb := len(x) / QK8_0
	a.Q = grow(a.Q, len(x))
	a.D = grow(a.D, nb)
	for b := 0; b < nb; b++ {
		blk := x[b*QK8_0 : (b+1)*QK8_0]
		var amax float32
		for _, v := range blk {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		a.D[b] = tensor.F16ToF32(tensor.F32ToF16(amax / 127))
		q := a.Q[b*QK8_0 : (b+1)*QK8_0]
		for i, v := range blk {
			q[i] = int8(math.RoundToEven(float64(v * id)))
		}
	}
}

// QuantizeQ8K quantizes x (a multiple of 256 long) into a, as ggml's quantize_row_q8_K:
// the scale is set by the value of largest magnitude (which maps to -127), values
// rounded half to even and capped at 127.
func QuantizeQ8K(a *Q8K, x []float32) {
	nb := len(x) / QKK
	a.Q = grow(a.Q, len(x))
	a.D = grow(a.D, nb)
	a.Sums = grow(a.Sums, nb*16)
	for b := 0; b < nb; b++ {
		blk := x[b*QKK : (b+1)*QKK]
		q := a.Q[b*QKK : (b+1)*QKK]
		var amax, maxv float32
		for _, v := range blk {
			if av := float32(math.Abs(float64(v))); av > amax {
				amax, maxv = av, v
			}
		}
		if amax == 0 {
			a.D[b] = 0
			clear(q)
			clear(a.Sums[b*16 : (b+1)*16])
			continue
		}
		iscale := -127 / maxv
		for i, v := range blk {
			q[i] = int8(min(127, int32(math.RoundToEven(float64(iscale*v)))))
		}
		for j := 0; j < 16; j++ {
			var s int16
			for _, v := range q[j*16 : (j+1)*16] {
				s += int16(v)
			}
			a.Sums[b*16+j] = s
		}
		a.D[b] = 1 / iscale
	}
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func f16(b []byte) float32 { return tensor.F16ToF32(uint16(b[0]) | uint16(b[1])<<8) }

// Block sizes in bytes of the weight types.
const (
	sizeQ8_0   = 34
	sizeQ4_0   = 18
	sizeQ4K    = 144
	sizeQ5K    = 176
	sizeQ6K    = 210
	sizeIQ4_XS = 136
)

// DotQ8_0 is the dot product of a Q8_0 row with a.
func DotQ8_0(row []byte, a *Q8_0) float32 {
	if haveAVX2 && len(a.D) > 0 {
		_ = row[len(a.D)*sizeQ8_0-1]
		_ = a.Q[len(a.D)*32-1]
		return dotQ8_0AVX2(&row[0], &a.Q[0], &a.D[0], len(a.D))
	}
	return dotQ8_0Go(row, a)
}

func dotQ8_0Go(row []byte, a *Q8_0) float32 {
	var sum float32
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeQ8_0 : (b+1)*sizeQ8_0]
		q, y := blk[2:34], a.Q[b*32:b*32+32]
		var s int32
		for i := range 32 {
			s += int32(int8(q[i])) * int32(y[i])
		}
		sum += float32(float32(s) * (f16(blk) * a.D[b]))
	}
	return sum
}

// DotQ4_0 is the dot product of a Q4_0 row with a: element j of a block is the low
// nibble of byte j, element j+16 its high nibble, both offset by 8.
func DotQ4_0(row []byte, a *Q8_0) float32 {
	if haveAVX2 && len(a.D) > 0 {
		_ = row[len(a.D)*sizeQ4_0-1]
		_ = a.Q[len(a.D)*32-1]
		return dotQ4_0AVX2(&row[0], &a.Q[0], &a.D[0], len(a.D))
	}
	return dotQ4_0Go(row, a)
}

func dotQ4_0Go(row []byte, a *Q8_0) float32 {
	var sum float32
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeQ4_0 : (b+1)*sizeQ4_0]
		q, y := blk[2:18], a.Q[b*32:b*32+32]
		var s0, s1 int32
		for j := range 16 {
			s0 += (int32(q[j]&15) - 8) * int32(y[j])
			s1 += (int32(q[j]>>4) - 8) * int32(y[j+16])
		}
		sum += float32(float32(s0+s1) * (f16(blk) * a.D[b]))
	}
	return sum
}

// scaleMinK4 decodes the 6-bit scale and minimum of sub-block j from a k-quant's 12
// packed bytes (ggml's get_scale_min_k4).
func scaleMinK4(j int, s []byte) (int32, int32) {
	if j < 4 {
		return int32(s[j] & 63), int32(s[j+4] & 63)
	}
	return int32(s[j+4]&15 | (s[j-4]>>6)<<4), int32(s[j+4]>>4 | (s[j]>>6)<<4)
}

// lanes adds the products of 32 values times their scale into eight integer lanes:
// lane i gets values 4i..4i+3, scaled by lo for lanes 0-3 and hi for lanes 4-7 (Q6_K
// has a scale per 16 values, the others one per 32).
func lanes(acc *[8]int32, w []int8, y []int8, lo, hi int32) {
	w, y = w[:32], y[:32]
	for i := range 8 {
		s := int32(w[4*i])*int32(y[4*i]) + int32(w[4*i+1])*int32(y[4*i+1]) +
			int32(w[4*i+2])*int32(y[4*i+2]) + int32(w[4*i+3])*int32(y[4*i+3])
		if i < 4 {
			acc[i] += lo * s
		} else {
			acc[i] += hi * s
		}
	}
}

// addLanes adds d times the integer lanes to the float lanes.
func addLanes(sums *[8]float32, acc *[8]int32, d float32) {
	for l := range 8 {
		sums[l] += float32(d * float32(acc[l]))
	}
}

// asmChunk is how many 256-blocks the Go side of an assembly k-quant kernel prepares
// (scales, float factors) per call.
const asmChunk = 16

// DotQ4K is the dot product of a Q4_K row with a.
func DotQ4K(row []byte, a *Q8K) float32 {
	if haveAVX2 && len(a.D) > 0 {
		return dotQ4KAsm(row, a)
	}
	return dotQ4KGo(row, a)
}

// dotQ4KAsm prepares each block's scales, float factor and minimum term in Go and runs
// the integer products in assembly.
func dotQ4KAsm(row []byte, a *Q8K) float32 {
	return dotKMinAsm(row, a, sizeQ4K, dotQ4KLanesAVX2)
}

// dotKMinAsm is dotQ4KAsm for Q4_K and Q5_K (blocks of size bytes, the same scale
// and minimum layout), lanes being the assembly kernel of the type.
func dotKMinAsm(row []byte, a *Q8K, size int, lanes func(*byte, *int8, *int16, *float32, int, *[8]float32)) float32 {
	var sums [8]float32
	var sumf float32
	var scales [8 * asmChunk]int16
	var dd [asmChunk]float32
	nb := len(a.D)
	_ = row[nb*size-1]
	_ = a.Q[nb*QKK-1]
	_ = a.Sums[nb*16-1]
	for b0 := 0; b0 < nb; b0 += asmChunk {
		n := min(asmChunk, nb-b0)
		for b := b0; b < b0+n; b++ {
			blk := row[b*size : (b+1)*size]
			var mins int32
			for j := range 8 {
				s, m := scaleMinK4(j, blk[4:16])
				scales[(b-b0)*8+j] = int16(s)
				mins += m * (int32(a.Sums[b*16+2*j]) + int32(a.Sums[b*16+2*j+1]))
			}
			dd[b-b0] = f16(blk) * a.D[b]
			sumf -= float32(f16(blk[2:]) * a.D[b] * float32(mins))
		}
		lanes(&row[b0*size], &a.Q[b0*QKK], &scales[0], &dd[0], n, &sums)
	}
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

func dotQ4KGo(row []byte, a *Q8K) float32 {
	var sums [8]float32
	var vals [256]int8
	var sumf float32
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeQ4K : (b+1)*sizeQ4K]
		sc, qs := blk[4:16], blk[16:144]
		for c := range 4 {
			q := qs[c*32 : c*32+32]
			for l := range 32 {
				vals[c*64+l] = int8(q[l] & 15)
				vals[c*64+32+l] = int8(q[l] >> 4)
			}
		}
		var acc [8]int32
		var mins int32
		y := a.Q[b*256 : b*256+256]
		for j := range 8 {
			s, m := scaleMinK4(j, sc)
			mins += m * (int32(a.Sums[b*16+2*j]) + int32(a.Sums[b*16+2*j+1]))
			lanes(&acc, vals[j*32:j*32+32], y[j*32:j*32+32], s, s)
		}
		addLanes(&sums, &acc, f16(blk)*a.D[b])
		sumf -= float32(f16(blk[2:]) * a.D[b] * float32(mins))
	}
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

// DotQ5K is the dot product of a Q5_K row with a: Q4_K's layout plus a fifth bit
// per value from qh.
func DotQ5K(row []byte, a *Q8K) float32 {
	if haveAVX2 && len(a.D) > 0 {
		return dotKMinAsm(row, a, sizeQ5K, dotQ5KLanesAVX2)
	}
	return dotQ5KGo(row, a)
}

func dotQ5KGo(row []byte, a *Q8K) float32 {
	var sums [8]float32
	var vals [256]int8
	var sumf float32
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeQ5K : (b+1)*sizeQ5K]
		sc, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		for c := range 4 {
			q := qs[c*32 : c*32+32]
			for l := range 32 {
				vals[c*64+l] = int8(q[l]&15 | (qh[l]>>(2*c)&1)<<4)
				vals[c*64+32+l] = int8(q[l]>>4 | (qh[l]>>(2*c+1)&1)<<4)
			}
		}
		var acc [8]int32
		var mins int32
		y := a.Q[b*256 : b*256+256]
		for j := range 8 {
			s, m := scaleMinK4(j, sc)
			mins += m * (int32(a.Sums[b*16+2*j]) + int32(a.Sums[b*16+2*j+1]))
			lanes(&acc, vals[j*32:j*32+32], y[j*32:j*32+32], s, s)
		}
		addLanes(&sums, &acc, f16(blk)*a.D[b])
		sumf -= float32(f16(blk[2:]) * a.D[b] * float32(mins))
	}
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

// DotQ6K is the dot product of a Q6_K row with a: 16 sub-blocks of 16 values with
// signed 8-bit scales, values 6-bit offset by 32.
func DotQ6K(row []byte, a *Q8K) float32 {
	if haveAVX2 && len(a.D) > 0 {
		return dotQ6KAsm(row, a)
	}
	return dotQ6KGo(row, a)
}

func dotQ6KAsm(row []byte, a *Q8K) float32 {
	var sums [8]float32
	var dd [asmChunk]float32
	nb := len(a.D)
	_ = row[nb*sizeQ6K-1]
	_ = a.Q[nb*QKK-1]
	for b0 := 0; b0 < nb; b0 += asmChunk {
		n := min(asmChunk, nb-b0)
		for b := b0; b < b0+n; b++ {
			dd[b-b0] = f16(row[b*sizeQ6K+208:]) * a.D[b]
		}
		dotQ6KLanesAVX2(&row[b0*sizeQ6K], &a.Q[b0*QKK], &dd[0], n, &sums)
	}
	var sumf float32
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

func dotQ6KGo(row []byte, a *Q8K) float32 {
	var sums [8]float32
	var vals [256]int8
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeQ6K : (b+1)*sizeQ6K]
		ql, qh, sc := blk[0:128], blk[128:192], blk[192:208]
		for h := range 2 {
			l4, h4, v := ql[h*64:], qh[h*32:], vals[h*128:]
			for l := range 32 {
				v[l] = int8(l4[l]&15|(h4[l]&3)<<4) - 32
				v[l+32] = int8(l4[l+32]&15|(h4[l]>>2&3)<<4) - 32
				v[l+64] = int8(l4[l]>>4|(h4[l]>>4&3)<<4) - 32
				v[l+96] = int8(l4[l+32]>>4|(h4[l]>>6&3)<<4) - 32
			}
		}
		var acc [8]int32
		y := a.Q[b*256 : b*256+256]
		for j := range 8 {
			lanes(&acc, vals[j*32:j*32+32], y[j*32:j*32+32], int32(int8(sc[2*j])), int32(int8(sc[2*j+1])))
		}
		addLanes(&sums, &acc, f16(blk[208:])*a.D[b])
	}
	var sumf float32
	for _, s := range sums {
		sumf += s
	}
	return sumf
}

// iq4nl holds the IQ4_NL/IQ4_XS codebook: the value each 4-bit index stands for.
var iq4nl = [16]int32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4nl8 is iq4nl as bytes, the assembly's lookup table.
var iq4nl8 = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// DotIQ4XS is the dot product of an IQ4_XS row with a: 8 sub-blocks of 32 codebook
// indices with 6-bit scales offset by 32.
func DotIQ4XS(row []byte, a *Q8K) float32 {
	if haveAVX2 && len(a.D) > 0 {
		return dotIQ4XSAsm(row, a)
	}
	return dotIQ4XSGo(row, a)
}

// dotIQ4XSAsm computes each sub-block's float factor in Go, the integer sums and
// their accumulation in assembly, one block per call.
func dotIQ4XSAsm(row []byte, a *Q8K) float32 {
	var sumf float32
	var fac [8]float32
	nb := len(a.D)
	_ = row[nb*sizeIQ4_XS-1]
	_ = a.Q[nb*QKK-1]
	for b := 0; b < nb; b++ {
		blk := row[b*sizeIQ4_XS : (b+1)*sizeIQ4_XS]
		h := uint32(blk[2]) | uint32(blk[3])<<8
		d4d8 := f16(blk) * a.D[b]
		for ib := range 8 {
			ls := int32(blk[4+ib/2]>>(4*(ib%2))&15) | int32(h>>(2*ib)&3)<<4
			fac[ib] = d4d8 * float32(ls-32)
		}
		dotIQ4XSAVX2(&blk[8], &a.Q[b*QKK], &fac[0], 8, &iq4nl8, &sumf)
	}
	return sumf
}

func dotIQ4XSGo(row []byte, a *Q8K) float32 {
	var sumf float32
	for b := 0; b < len(a.D); b++ {
		blk := row[b*sizeIQ4_XS : (b+1)*sizeIQ4_XS]
		h := uint32(blk[2]) | uint32(blk[3])<<8
		sl, qs := blk[4:8], blk[8:136]
		d4d8 := f16(blk) * a.D[b]
		y := a.Q[b*256 : b*256+256]
		for ib := range 8 {
			ls := int32(sl[ib/2]>>(4*(ib%2))&15) | int32(h>>(2*ib)&3)<<4
			q, yb := qs[ib*16:ib*16+16], y[ib*32:ib*32+32]
			var s1, s2 int32
			for j := range 16 {
				s1 += int32(yb[j]) * iq4nl[q[j]&15]
				s2 += int32(yb[j+16]) * iq4nl[q[j]>>4]
			}
			sumf += float32(d4d8 * float32(ls-32) * float32(s1+s2))
		}
	}
	return sumf
}
