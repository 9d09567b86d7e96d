package ggml

import (
	"encoding/binary"
	"math"
)

// Block layouts (bytes): Q4_0 d|qs[16]; Q4_1 d|m|qs[16]; Q5_0 d|qh[4]|qs[16];
// Q5_1 d|m|qh[4]|qs[16]; Q8_0 d|qs[32]; IQ4_NL d|qs[16]; MXFP4 e|qs[16].

// absMaxSigned is the value of largest magnitude in x (the first one on ties).
func absMaxSigned(x []float32) float32 {
	var amax, max float32
	for _, v := range x {
		if amax < fabsf(v) {
			amax, max = fabsf(v), v
		}
	}
	return max
}

// minMax32 is minMax for a block of 32, on the kernel when there is one.
func minMax32(x []float32) (min, max float32) {
	if useSIMD {
		// The kernel may keep the other zero than the fold; redo zero results.
		if min, max = minMax32AVX2(&x[0]); min != 0 && max != 0 {
			return min, max
		}
	}
	return minMax(x[:32])
}

func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func inverse(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func quantizeQ4_0(y []byte, x []float32, qw []float32) {
	if qw != nil {
		quantizeQ4_0Weighted(y, x, qw)
		return
	}
	if useRows && useSIMD && len(x) >= 32 {
		q40RowAVX2(&x[0], &y[0], len(x)/32)
		return
	}
	for ; len(x) >= 32; x, y = x[32:], y[18:] {
		var max float32
		if useSIMD {
			// absMaxSigned skips NaNs and keeps the first of equal magnitudes.
			if amax, first, _ := absMax32AVX2(&x[0]); amax != 0 {
				max = x[first]
			}
		} else {
			max = absMaxSigned(x[:32])
		}
		d := max / -8
		id := inverse(d)
		putF16(y, d)
		if useSIMD {
			q40AVX2(&x[0], id, &y[2])
			continue
		}
		for j := range 16 {
			xi0 := cmin(15, int(int8(cvtt(float32(x[j]*id)+8.5))))
			xi1 := cmin(15, int(int8(cvtt(float32(x[j+16]*id)+8.5))))
			y[2+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

// rowSigma2 is the mean square of a row, as the weighted legacy quantizers compute it.
func rowSigma2(x []float32) float32 {
	var sum float32
	for _, v := range x {
		sum += float32(v * v)
	}
	return sum / float32(len(x))
}

// importanceWeights fills w with qw[j] * sqrt(sigma2 + x[j]²).
func importanceWeights(w, x, qw []float32, sigma2 float32) {
	for j, v := range x {
		w[j] = qw[j] * sqrtf(sigma2+float32(v*v))
	}
}

func quantizeQ4_0Weighted(y []byte, x, qw []float32) {
	var weight [32]float32
	var L [32]int8
	sigma2 := rowSigma2(x)
	for ; len(x) >= 32; x, y, qw = x[32:], y[18:], qw[32:] {
		importanceWeights(weight[:], x[:32], qw, sigma2)
		d := makeQXQuants(8, x[:32], L[:], weight[:])
		putF16(y, d)
		for j := range 16 {
			y[2+j] = uint8(L[j]) | uint8(L[j+16])<<4
		}
	}
}

func quantizeQ4_1(y []byte, x []float32, qw []float32) {
	if qw != nil {
		quantizeQx1Weighted(y, x, qw, 15)
		return
	}
	var L [32]uint8
	for ; len(x) >= 32; x, y = x[32:], y[20:] {
		min, max := minMax32(x)
		d := (max - min) / 15
		id := inverse(d)
		putF16(y, d)
		putF16(y[2:], min)
		if useSIMD {
			qLevelsAVX2(&x[0], min, id, 0.5, 15, &L[0])
			for j := range 16 {
				y[4+j] = L[j] | L[j+16]<<4
			}
			continue
		}
		for j := range 16 {
			xi0 := cmin(15, int(int8(cvtt(float32((x[j]-min)*id)+0.5))))
			xi1 := cmin(15, int(int8(cvtt(float32((x[j+16]-min)*id)+0.5))))
			y[4+j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

// quantizeQx1Weighted is quantize_row_q4_1_impl (nmax 15) and quantize_row_q5_1_impl (31).
func quantizeQx1Weighted(y []byte, x, qw []float32, nmax int) {
	var weight [32]float32
	var L, Laux [32]uint8
	sigma2 := rowSigma2(x)
	size := 20
	if nmax == 31 {
		size = 24
	}
	for ; len(x) >= 32; x, y, qw = x[32:], y[size:], qw[32:] {
		importanceWeights(weight[:], x[:32], qw, sigma2)
		d, min := makeQKXQuants(nmax, x[:32], weight[:], L[:], Laux[:], -0.9, 0.05, 36, false)
		putF16(y, d)
		putF16(y[2:], -min)
		if nmax == 15 {
			for j := range 16 {
				y[4+j] = L[j] | L[j+16]<<4
			}
			continue
		}
		packQ5(y[4:8], y[8:24], &L)
	}
}

// packQ5 stores 32 5-bit levels: low nibbles in qs, the fifth bits in qh.
func packQ5(qh, qs []byte, L *[32]uint8) {
	var h uint32
	for j := range 16 {
		xi0, xi1 := L[j], L[j+16]
		qs[j] = xi0&0x0f | (xi1&0x0f)<<4
		h |= uint32(xi0&0x10) >> 4 << j
		h |= uint32(xi1&0x10) >> 4 << (j + 16)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

func quantizeQ5_0(y []byte, x []float32, qw []float32) {
	var L [32]uint8
	if qw != nil {
		var weight [32]float32
		var Ls [32]int8
		sigma2 := rowSigma2(x)
		for ; len(x) >= 32; x, y, qw = x[32:], y[22:], qw[32:] {
			importanceWeights(weight[:], x[:32], qw, sigma2)
			d := makeQXQuants(16, x[:32], Ls[:], weight[:])
			putF16(y, d)
			for j, l := range Ls {
				L[j] = uint8(l)
			}
			packQ5(y[2:6], y[6:22], &L)
		}
		return
	}
	for ; len(x) >= 32; x, y = x[32:], y[22:] {
		var max float32
		if useSIMD {
			if amax, first, _ := absMax32AVX2(&x[0]); amax != 0 {
				max = x[first]
			}
		} else {
			max = absMaxSigned(x[:32])
		}
		d := max / -16
		id := inverse(d)
		putF16(y, d)
		if useSIMD {
			qLevelsAVX2(&x[0], 0, id, 16.5, 31, &L[0])
			packQ5(y[2:6], y[6:22], &L)
			continue
		}
		for j := range 32 {
			L[j] = uint8(cmin(31, int(int8(cvtt(float32(x[j]*id)+16.5)))))
		}
		packQ5(y[2:6], y[6:22], &L)
	}
}

func quantizeQ5_1(y []byte, x []float32, qw []float32) {
	if qw != nil {
		quantizeQx1Weighted(y, x, qw, 31)
		return
	}
	var L [32]uint8
	for ; len(x) >= 32; x, y = x[32:], y[24:] {
		min, max := minMax32(x)
		d := (max - min) / 31
		id := inverse(d)
		putF16(y, d)
		putF16(y[2:], min)
		if useSIMD {
			qLevelsAVX2(&x[0], min, id, 0.5, math.MaxInt32, &L[0])
			packQ5(y[4:8], y[8:24], &L)
			continue
		}
		for j := range 32 {
			L[j] = uint8(cvtt(float32((x[j]-min)*id) + 0.5))
		}
		packQ5(y[4:8], y[8:24], &L)
	}
}

// quantizeQ8_0 ignores the importance matrix, as ggml does.
func quantizeQ8_0(y []byte, x []float32, _ []float32) {
	if useRows && useSIMD {
		for len(x) >= 32 {
			n := q80RowAVX2(&x[0], &y[0], len(x)/32)
			x, y = x[32*n:], y[34*n:]
			if len(x) >= 32 { // a block holding a NaN
				quantizeQ8_0Blocks(y[:34], x[:32])
				x, y = x[32:], y[34:]
			}
		}
		return
	}
	quantizeQ8_0Blocks(y, x)
}

// quantizeQ8_0Blocks is Q8_0 one block at a time.
func quantizeQ8_0Blocks(y []byte, x []float32) {
	for ; len(x) >= 32; x, y = x[32:], y[34:] {
		var amax float32
		nan := true
		if useSIMD {
			// Without NaNs the C MAX fold is the plain maximum.
			amax, _, nan = absMax32AVX2(&x[0])
		}
		if nan {
			amax = 0
			for _, v := range x[:32] {
				amax = cmax(amax, fabsf(v))
			}
		}
		d := amax / 127
		id := inverse(d)
		putF16(y, d)
		if useSIMD {
			q8RoundAVX2(&x[0], id, &y[2])
			continue
		}
		for j, v := range x[:32] {
			y[2+j] = uint8(int8(cvtt(roundf(v * id))))
		}
	}
}

// kvaluesMXFP4 are the E2M1 values doubled (ggml's kvalues_mxfp4).
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// e8m0Half is GGML_E8M0_TO_FP32_HALF: 2^(e-128).
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// quantizeMXFP4 ignores the importance matrix, as ggml does.
func quantizeMXFP4(y []byte, x []float32, _ []float32) {
	for ; len(x) >= 32; x, y = x[32:], y[17:] {
		var amax float32
		if useSIMD {
			amax, _, _ = absMax32AVX2(&x[0])
		} else {
			for _, v := range x[:32] {
				if amax < fabsf(v) {
					amax = fabsf(v)
				}
			}
		}
		var e uint8
		if amax > 0 {
			// floorf(log2f(amax)) - 2 + 127 in float32, then a C cast to uint8_t.
			lg := float32(math.Log2(float64(amax)))
			e = uint8(cvtt(float32(math.Floor(float64(lg))) - 2 + 127))
		}
		d := e8m0Half(e)
		y[0] = e
		var levels mxfp4Levels
		newMXFP4Levels(&levels, d)
		if useSIMD {
			mxfp4IdxAVX2(&x[0], &levels.level, &y[1])
			continue
		}
		for j := range 16 {
			y[1+j] = bestIndexMXFP4(&levels, x[j]) | bestIndexMXFP4(&levels, x[j+16])<<4
		}
	}
}

// mxfp4Levels holds one block's candidate values kvalues_mxfp4[i]*e (exact: small
// integers times a power of two) and the float64 midpoints between the magnitudes
// 0, 1, 2, 3, 4, 6, 8, 12 (times e), which are exact too.
type mxfp4Levels struct {
	level [16]float32
	mid   [7]float64
}

func newMXFP4Levels(l *mxfp4Levels, e float32) {
	for i, k := range kvaluesMXFP4 {
		l.level[i] = float32(k) * e
	}
	for i := range l.mid {
		l.mid[i] = (float64(l.level[i]) + float64(l.level[i+1])) / 2
	}
}

// bestIndexMXFP4 is best_index_mxfp4: the first index i of least float32 |level[i] - x|
// over all 16 levels. Levels of the other sign than x (and index 8, -0) are never
// strictly nearer than level 0, whose error |x| is exact, so only the magnitudes
// 0..12 on x's side count. Rounding is monotonic, so the float errors along them fall
// then rise, and the set of least errors is a run containing the exactly nearest level:
// start there (found by exact midpoints) and walk down while the error stays equal.
func bestIndexMXFP4(l *mxfp4Levels, x float32) uint8 {
	if x != x {
		return 0
	}
	a := float64(fabsf(x))
	n := b2i(a > l.mid[0]) + b2i(a > l.mid[1]) + b2i(a > l.mid[2]) + b2i(a > l.mid[3]) +
		b2i(a > l.mid[4]) + b2i(a > l.mid[5]) + b2i(a > l.mid[6])
	off := 8 * b2i(x < 0)
	at := func(i int) int { return i + off*b2i(i > 0) }
	e := fabsf(l.level[at(n)] - x)
	for n > 0 && fabsf(l.level[at(n-1)]-x) == e {
		n--
	}
	return uint8(at(n))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
