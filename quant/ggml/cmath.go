package ggml

import (
	"encoding/binary"
	"math"

	"github.com/refit-ml/refit/tensor"
)

// This file holds the scalar building blocks whose float32 semantics must match ggml's C
// exactly. Go may fuse x*y+z into one FMA (the spec allows it, across statements too); C
// built for plain x86-64 rounds the product first. An explicit float32() conversion forces
// that rounding, so every product that feeds an add or subtract is wrapped.

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is below it is zero.
const groupMaxEps = 1e-15

// nearestInt is ggml's nearest_int: adding 1.5*2^23 rounds to an integer (ties to even) in
// the low mantissa bits. Out of range (|f| > 2^22) it returns the same garbage as the C code.
func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// cvtt is a C float-to-int conversion as x86-64 performs it (cvttss2si): truncation toward
// zero, and 0x80000000 for NaN and out-of-range values, where C leaves the result undefined.
func cvtt(f float32) int32 {
	if f >= -2147483648 && f < 2147483648 {
		return int32(f)
	}
	return math.MinInt32
}

// roundf is C's roundf: halves round away from zero.
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// lroundf is C's lroundf narrowed to int as ggml's callers do: 64-bit cvttsd2si semantics
// for NaN and huge values (the low 32 bits of 0x8000000000000000 are 0).
func lroundf(f float32) int {
	r := math.Round(float64(f))
	if r >= -9223372036854775808 && r < 9223372036854775808 {
		return int(int32(int64(r)))
	}
	return 0
}

func fabsf(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

func sqrtf(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// cmin and cmax are C's MIN and MAX macros, including their NaN behaviour
// (the comparison is false, so the second operand wins).
func cmin[T int | int8 | uint8 | float32](a, b T) T {
	if a < b {
		return a
	}
	return b
}

func cmax[T int | int8 | uint8 | float32](a, b T) T {
	if a > b {
		return a
	}
	return b
}

// fp16 is GGML_FP32_TO_FP16: round to nearest even; every NaN becomes 0x7e00 with its sign.
func fp16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16)&0x8000 | 0x7e00
	}
	return tensor.F32ToF16(f)
}

func putF16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, fp16(f)) }

// weightOrSquare is ggml's per-element weight: the importance value if there is one, else x².
func weightOrSquare(qw []float32, x []float32, i int) float32 {
	if qw != nil {
		return qw[i]
	}
	return x[i] * x[i]
}

// makeQXQuants is make_qx_quants with rmse_type 1: a symmetric scale for levels
// [-nmax, nmax) minimising the weighted squared error over 19 candidate scales.
// L receives the levels offset by nmax; a nil L asks for the scale only, which the
// vector search gives without computing levels.
func makeQXQuants(nmax int, x []float32, L []int8, qw []float32) float32 {
	var max, amax float32
	switch {
	case useSIMD && len(x) == 16:
		// The first value of largest magnitude, NaNs skipped, as the loop below.
		var first int
		if amax, first, _ = absMax16AVX2(&x[0]); amax != 0 {
			max = x[first]
		}
	case useSIMD && len(x) == 32:
		var first int
		if amax, first, _ = absMax32AVX2(&x[0]); amax != 0 {
			max = x[first]
		}
	default:
		for _, v := range x {
			if ax := fabsf(v); ax > amax {
				amax, max = ax, v
			}
		}
	}
	if amax < groupMaxEps {
		if L != nil {
			clear(L[:len(x)])
		}
		return 0
	}
	if useSIMD && len(x) <= 32 && nmax <= 32 {
		return qxSearchSIMD(nmax, x, L, qw, max)
	}
	if L == nil {
		L = make([]int8, len(x))
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := cmax(-nmax, cmin(nmax-1, nearestInt(iscale*v)))
		L[i] = int8(l + nmax)
		w, fl := weightOrSquare(qw, x, i), float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := cmax(-nmax, cmin(nmax-1, nearestInt(iscale*v)))
			w, fl := weightOrSquare(qw, x, i), float32(l)
			sumlx += float32(w * v * fl)
			suml2 += float32(w * fl * fl)
		}
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			for i, v := range x {
				L[i] = int8(nmax + cmax(-nmax, cmin(nmax-1, nearestInt(iscale*v))))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// qxNumerators holds make_qx_quants' 19 candidate numerators (the first guess -nmax,
// then -(nmax + 0.1*is) for is = -9..9 without 0) for nmax 1..32, padded to 24.
var qxNumerators = func() (t [33][24]float32) {
	for nmax := 1; nmax <= 32; nmax++ {
		t[nmax][0] = float32(-nmax)
		k := 1
		for is := -9; is <= 9; is++ {
			if is != 0 {
				t[nmax][k] = -(float32(nmax) + float32(0.1*float32(is)))
				k++
			}
		}
	}
	return t
}()

// qxSearchSIMD is makeQXQuants' search on the vector kernel: all 19 candidates are
// independent until the choice. max is the group's value of largest magnitude.
func qxSearchSIMD(nmax int, x []float32, L []int8, qw []float32, max float32) float32 {
	n := len(x)
	var wbuf [32]float32
	w := qw
	if w == nil {
		for i, v := range x {
			wbuf[i] = v * v
		}
		w = wbuf[:n]
	}
	var sums [48]float32
	qxSumsAVX2(&x[0], &w[0], n, &qxNumerators[nmax], max, int32(nmax), &sums)
	sumlx, suml2 := sums[0], sums[24]
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best, win := scale*sumlx, 0
	for k := 1; k < 19; k++ {
		sumlx, suml2 = sums[k], sums[24+k]
		if suml2 > 0 && sumlx*sumlx > best*suml2 {
			scale = sumlx / suml2
			best, win = scale*sumlx, k
		}
	}
	if L == nil {
		return scale
	}
	iscale := qxNumerators[nmax][win] / max
	for i, v := range x {
		L[i] = int8(nmax + cmax(-nmax, cmin(nmax-1, nearestInt(iscale*v))))
	}
	return scale
}

// makeQ3Quants is make_q3_quants with do_rmse: Q3_K's per-group scale, refined by
// moving one level at a time while the x²-weighted error falls.
func makeQ3Quants(nmax int, x []float32, L []int8) float32 {
	var max, amax float32
	if useSIMD && len(x) == 16 {
		var first int
		if amax, first, _ = absMax16AVX2(&x[0]); amax != 0 {
			max = x[first]
		}
	} else {
		for _, v := range x {
			if ax := fabsf(v); ax > amax {
				amax, max = ax, v
			}
		}
	}
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := cmax(-nmax, cmin(nmax-1, nearestInt(iscale*v)))
		L[i] = int8(l)
		w, fl := v*v, float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w, li := v*v, float32(L[i])
			slx := sumlx - float32(w*v*li)
			if slx > 0 {
				sl2 := suml2 - float32(w*li*li)
				newL := cmax(-nmax, cmin(nmax-1, nearestInt(v*sl2/slx)))
				if newL != int(L[i]) {
					fl := float32(newL)
					slx += float32(w * v * fl)
					sl2 += float32(w * fl * fl)
					if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i], sumlx, suml2 = int8(newL), slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// qkxStep is one candidate scale of makeQKXQuants: its level sums, least-squares fit,
// weighted error, and levels.
type qkxStep struct {
	iscale, sumL, sumL2, sumXL float32
	scale, min, err            float32
	ok                         bool
	L                          [32]uint8
}

// makeQKXQuants is make_qkx2_quants / make_qkx3_quants (identical for non-NaN input when
// weights are given): an asymmetric scale and min for levels [0, nmax], searched over
// nstep+1 candidate scales by weighted least squares. It returns the scale and -min.
// len(x) is at most 32 and nstep at most 36.
//
// The candidates are independent until the final choice, so they are evaluated side by
// side (element-outer, candidate-inner): every sum still accumulates its terms in ggml's
// order with the same float32 operations, but consecutive additions no longer wait on
// each other. The choice then scans the candidates in ggml's order.
//
// A nil L asks for the scale and min only: the vector search then keeps no levels.
func makeQKXQuants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, negMin float32) {
	n := len(x)
	weights = weights[:n]
	vector := useSIMD && n <= 32
	if L == nil && !vector {
		L = make([]uint8, n)
	}
	if L != nil {
		L = L[:n]
	}
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		clear(L)
		return 0, -min
	}
	iscale := float32(nmax) / (max - min)
	scale = 1 / iscale
	var bestErr float32
	for i, v := range x {
		l := uint8(cmax(0, cmin(nmax, nearestInt(iscale*(v-min)))))
		if L != nil {
			L[i] = l
		}
		diff := float32(scale*float32(l)) + min - v
		if useMAD {
			diff = fabsf(diff)
		} else {
			diff *= diff
		}
		bestErr += float32(weights[i] * diff)
	}
	if vector {
		return qkxSearchSIMD(nmax, x, weights, L, rmin, rdelta, nstep, useMAD, min, max, sumW, sumX, scale, bestErr)
	}
	// ggml's loop moves min to each winner's, which later candidates use: evaluate a
	// batch with the current min, and after a win that changes min re-evaluate the rest.
	for next := 0; next <= nstep; {
		var batch [qkxBatch]qkxStep
		cnt := nstep + 1 - next
		if cnt > qkxBatch {
			cnt = qkxBatch
		}
		steps := batch[:cnt]
		for k := range steps {
			is := next + k
			steps[k].iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (max - min)
		}
		qkxSums(steps, x, weights, nmax, min)
		qkxFit(steps, sumW, sumX)
		qkxErrors(steps, x, weights, useMAD)
		done := len(steps)
		for k := range steps {
			s := &steps[k]
			if s.ok && s.err < bestErr {
				moved := math.Float32bits(s.min) != math.Float32bits(min)
				bestErr, scale, min = s.err, s.scale, s.min
				copy(L, s.L[:n])
				if moved {
					done = k + 1
					break
				}
			}
		}
		next += done
	}
	return scale, -min
}

// useSIMD selects the vector kernels; tests turn it off to compare with the scalar code.
var useSIMD = haveSIMD

// qkxSearchSIMD is makeQKXQuants' candidate loop on the sixteen-lane kernels.
func qkxSearchSIMD(nmax int, x, weights []float32, L []uint8, rmin, rdelta float32, nstep int, useMAD bool,
	min, max, sumW, sumX, scale, bestErr float32) (float32, float32) {
	n := len(x)
	var lv [32][16]float32
	var num [37 + 16]float32 // candidate numerators, padded for the last batch
	for is := 0; is <= nstep; is++ {
		num[is] = rmin + float32(rdelta*float32(is)) + float32(nmax)
	}
	for next := 0; next <= nstep; {
		cnt := nstep + 1 - next
		if cnt > 16 {
			cnt = 16
		}
		var sc, mn, errs [16]float32
		var sums [48]float32
		qkxSumsAVX2(&x[0], &weights[0], n, (*[16]float32)(num[next:]), max-min, min, int32(nmax), &lv, &sums)
		ok := qkxFitAVX2(&sums, sumW, sumX, &sc, &mn)
		qkxErrAVX2(&x[0], &weights[0], n, &lv, &sc, &mn, useMAD, &errs)
		done := cnt
		for k := range cnt {
			if ok>>k&1 != 0 && errs[k] < bestErr {
				moved := math.Float32bits(mn[k]) != math.Float32bits(min)
				bestErr, scale, min = errs[k], sc[k], mn[k]
				for i := range L {
					L[i] = uint8(lv[i][k])
				}
				if moved {
					done = k + 1
					break
				}
			}
		}
		next += done
	}
	return scale, -min
}

// qkxBatch is how many candidate scales makeQKXQuants evaluates side by side.
const qkxBatch = 4

// qkxSums fills each candidate's levels and level sums, in ggml's per-sum order.
func qkxSums(steps []qkxStep, x, weights []float32, nmax int, min float32) {
	weights = weights[:len(x)]
	for i, v := range x {
		w, xm := weights[i], v-min
		for k := range steps {
			s := &steps[k]
			l := cmax(0, cmin(nmax, nearestInt(s.iscale*xm)))
			s.L[i&31] = uint8(l)
			fl := float32(l)
			wl := float32(w * fl)
			s.sumL += wl
			s.sumL2 += float32(wl * fl)
			s.sumXL += float32(wl * v)
		}
	}
}

// qkxFit is the weighted least-squares scale and min of each candidate's levels.
func qkxFit(steps []qkxStep, sumW, sumX float32) {
	for k := range steps {
		s := &steps[k]
		D := float32(sumW*s.sumL2) - float32(s.sumL*s.sumL)
		if D > 0 {
			s.ok = true
			s.scale = (float32(sumW*s.sumXL) - float32(sumX*s.sumL)) / D
			s.min = (float32(s.sumL2*sumX) - float32(s.sumL*s.sumXL)) / D
			if s.min > 0 {
				s.min = 0
				s.scale = s.sumXL / s.sumL2
			}
		}
	}
}

// qkxErrors is each candidate's weighted absolute (useMAD) or squared error.
func qkxErrors(steps []qkxStep, x, weights []float32, useMAD bool) {
	weights = weights[:len(x)]
	if useMAD {
		for i, v := range x {
			w := weights[i]
			for k := range steps {
				s := &steps[k]
				diff := float32(s.scale*float32(s.L[i&31])) + s.min - v
				s.err += float32(w * fabsf(diff))
			}
		}
		return
	}
	for i, v := range x {
		w := weights[i]
		for k := range steps {
			s := &steps[k]
			diff := float32(s.scale*float32(s.L[i&31])) + s.min - v
			s.err += float32(w * float32(diff*diff))
		}
	}
}

// makeQPQuants is make_qp_quants: a positive-only scale for levels [0, nmax], used to
// quantize the sub-block scales and mins of the K types under an importance matrix.
func makeQPQuants(nmax int, x []float32, L []uint8, qw []float32) float32 {
	var max float32
	for _, v := range x {
		max = cmax(max, v)
	}
	if max < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	iscale := float32(nmax) / max
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(qw[i] * diff * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := cmin(nmax, nearestInt(iscaleIs*v))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(qw[i] * diff * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := cmin(nmax, nearestInt(iscale*v))
		L[i] = uint8(l)
		w, fl := qw[i], float32(l)
		sumlx += float32(w * v * fl)
		suml2 += float32(w * fl * fl)
	}
	for range 5 {
		changed := false
		for i, v := range x {
			w, li := qw[i], float32(L[i])
			slx := sumlx - float32(w*v*li)
			sl2 := suml2 - float32(w*li*li)
			if slx > 0 && sl2 > 0 {
				newL := cmin(nmax, nearestInt(v*sl2/slx))
				if newL != int(L[i]) {
					fl := float32(newL)
					slx += float32(w * v * fl)
					sl2 += float32(w * fl * fl)
					if slx*slx*suml2 > sumlx*sumlx*sl2 {
						L[i], sumlx, suml2 = uint8(newL), slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// bestIndexInt8 is best_index_int8: the index of the codebook value nearest x
// (val sorted ascending, held as float32 — the int8 values convert exactly), ties to
// the upper one.
func bestIndexInt8(val *[16]float32, x float32) int {
	if x <= val[0] {
		return 0
	}
	if x >= val[15] {
		return 15
	}
	// A branch-free form of ggml's binary search: ml ends as the last index in [0, 14]
	// with !(x < val[ml]) (14 for NaN, as there), mu = ml+1.
	ml := 0
	if !(x < val[8]) {
		ml = 8
	}
	if !(x < val[(ml+4)&15]) {
		ml += 4
	}
	if !(x < val[(ml+2)&15]) {
		ml += 2
	}
	if !(x < val[(ml+1)&15]) {
		ml++
	}
	ml = min(ml, 14)
	return ml + 1 - b2i(x-val[ml] < val[(ml+1)&15]-x)
}

func f16At(b []byte, off int) float32 {
	return tensor.F16ToF32(binary.LittleEndian.Uint16(b[off:]))
}
