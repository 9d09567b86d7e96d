package ggml

import "unsafe"

// Super-block layouts (bytes, 256 elements each):
// Q2_K scales[16]|qs[64]|d|dmin; Q3_K hmask[32]|qs[64]|scales[12]|d;
// Q4_K d|dmin|scales[12]|qs[128]; Q5_K d|dmin|scales[12]|qh[32]|qs[128];
// Q6_K ql[128]|qh[64]|scales[16]|d.

const qkK = 256

// packQ2 stores 256 2-bit levels as ggml does: four 32-element quarters of each half
// share a byte.
func packQ2(qs []byte, L *[qkK]uint8) {
	for j := 0; j < qkK; j += 128 {
		for l := range 32 {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

func quantizeQ2K(y []byte, x []float32, qw []float32) {
	var L [qkK]uint8
	var Laux [16]uint8
	var weights [16]float32
	var mins, scales [16]float32
	for ; len(x) >= qkK; x, y = x[qkK:], y[84:] {
		sc := y[0:16]
		if qw != nil {
			q2KWeightedScales(y, x, qw, &L, &Laux, &weights, &mins, &scales)
			qw = qw[qkK:]
		} else {
			var maxScale, maxMin float32
			for j := range 16 {
				xs := x[16*j : 16*j+16]
				for l, v := range xs {
					weights[l] = fabsf(v)
				}
				scales[j], mins[j] = makeQKXQuants(3, xs, weights[:], L[16*j:16*j+16], Laux[:], -0.5, 0.1, 15, true)
				if scales[j] > maxScale {
					maxScale = scales[j]
				}
				if mins[j] > maxMin {
					maxMin = mins[j]
				}
			}
			const q4scale = 15
			if maxScale > 0 {
				iscale := q4scale / maxScale
				for j := range 16 {
					sc[j] = uint8(nearestInt(iscale * scales[j]))
				}
				putF16(y[80:], maxScale/q4scale)
			} else {
				clear(sc)
				putF16(y[80:], 0)
			}
			if maxMin > 0 {
				iscale := q4scale / maxMin
				for j := range 16 {
					sc[j] |= uint8(nearestInt(iscale*mins[j]) << 4)
				}
				putF16(y[82:], maxMin/q4scale)
			} else {
				putF16(y[82:], 0)
			}
		}
		dAll, mAll := f16At(y, 80), f16At(y, 82)
		for j := range 16 {
			d := dAll * float32(sc[j]&0xf)
			if d == 0 {
				continue
			}
			dm := mAll * float32(sc[j]>>4)
			for ii, v := range x[16*j : 16*j+16] {
				L[16*j+ii] = uint8(cmax(0, cmin(3, nearestInt((v+dm)/d))))
			}
		}
		packQ2(y[16:80], &L)
	}
}

// q2KWeightedScales is the scale search of quantize_row_q2_K_impl; it writes scales, d and dmin.
func q2KWeightedScales(y []byte, x, qw []float32, L *[qkK]uint8, Laux *[16]uint8, weight, mins, scales *[16]float32) {
	var sw [16]float32
	var Ls, Lm [16]uint8
	var sumx2 float32
	for _, v := range x[:qkK] {
		sumx2 += float32(v * v)
	}
	sigma2 := sumx2 / qkK
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		importanceWeights(weight[:], xs, qw[16*j:16*j+16], sigma2)
		for _, w := range weight {
			sw[j] += w
		}
		scales[j], mins[j] = makeQKXQuants(3, xs, weight[:], L[16*j:16*j+16], Laux[:], -0.9, 0.05, 36, false)
	}
	dm := makeQPQuants(15, scales[:], Ls[:], sw[:])
	mm := makeQPQuants(15, mins[:], Lm[:], sw[:])
	putF16(y[80:], dm)
	putF16(y[82:], mm)
	for j := range 16 {
		y[j] = Ls[j] | Lm[j]<<4
	}
}

// packQ3KScales stores sixteen 6-bit scales (already offset by 32) in Q3_K's 12 bytes.
func packQ3KScales(s []byte, l func(j int) int) {
	clear(s[:12])
	for j := range 16 {
		v := l(j)
		if j < 8 {
			s[j] = uint8(v & 0xf)
		} else {
			s[j-8] |= uint8((v & 0xf) << 4)
		}
		v >>= 4
		s[j%4+8] |= uint8(v << (2 * (j / 4)))
	}
}

func quantizeQ3K(y []byte, x []float32, qw []float32) {
	var L [qkK]int8
	var scales [16]float32
	for ; len(x) >= qkK; x, y = x[qkK:], y[110:] {
		s := y[96:108]
		if qw != nil {
			q3KWeightedScales(y, x, qw, &L, &scales)
			qw = qw[qkK:]
		} else {
			var maxScale, amax float32
			for j := range 16 {
				scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
				if sc := fabsf(scales[j]); sc > amax {
					amax, maxScale = sc, scales[j]
				}
			}
			if maxScale != 0 {
				iscale := -32 / maxScale
				packQ3KScales(s, func(j int) int {
					l := int8(nearestInt(iscale * scales[j]))
					return int(cmax(-32, cmin(31, l))) + 32
				})
				putF16(y[108:], 1/iscale)
			} else {
				clear(s)
				putF16(y[108:], 0)
			}
		}
		dAll := f16At(y, 108)
		for j := range 16 {
			var sc int8
			if j < 8 {
				sc = int8(s[j] & 0xf)
			} else {
				sc = int8(s[j-8] >> 4)
			}
			sc = int8(int(sc)|int(s[8+j%4]>>(2*(j/4))&3)<<4) - 32
			d := dAll * float32(sc)
			if d == 0 {
				continue
			}
			for ii, v := range x[16*j : 16*j+16] {
				L[16*j+ii] = int8(cmax(-4, cmin(3, nearestInt(v/d))) + 4)
			}
		}
		// Levels are 0..7: bit 2 goes to hmask (bit j/32 of byte j%32), bits 0-1 to qs.
		hmask := (*[32]uint8)(y[0:32])
		clear(hmask[:])
		var U [qkK]uint8
		for j := range qkK {
			l := uint8(L[j])
			hmask[j%32] |= l >> 2 << (j / 32)
			U[j] = l & 3
		}
		packQ2(y[32:96], &U)
	}
}

// q3KWeightedScales is the scale search of quantize_row_q3_K_impl; it writes scales and d.
func q3KWeightedScales(y []byte, x, qw []float32, L *[qkK]int8, scales *[16]float32) {
	var weight, sw [16]float32
	var Ls [16]int8
	var sumx2 float32
	for _, v := range x[:qkK] {
		sumx2 += float32(v * v)
	}
	sigma2 := 2 * sumx2 / qkK
	for j := range 16 {
		xs := x[16*j : 16*j+16]
		importanceWeights(weight[:], xs, qw[16*j:16*j+16], sigma2)
		var sumw float32
		for _, w := range weight {
			sumw += w
		}
		sw[j] = sumw
		scales[j] = makeQXQuants(4, xs, L[16*j:16*j+16], weight[:])
	}
	d := makeQXQuants(32, scales[:], Ls[:], sw[:])
	packQ3KScales(y[96:108], func(j int) int { return int(Ls[j]) })
	putF16(y[108:], d)
}

// packScaleMinK4 stores eight 6-bit scales and mins in Q4_K/Q5_K's 12 bytes.
func packScaleMinK4(s []byte, ls, lm *[8]uint8) {
	for j := range 8 {
		if j < 4 {
			s[j] = ls[j]
			s[j+4] = lm[j]
		} else {
			s[j+4] = ls[j]&0xf | (lm[j]&0xf)<<4
			s[j-4] |= ls[j] >> 4 << 6
			s[j] |= lm[j] >> 4 << 6
		}
	}
}

// scaleMinK4 is get_scale_min_k4.
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// quantizeQxK is quantize_row_q4_K (nmax 15) and quantize_row_q5_K (nmax 31), with their
// _impl variants when an importance matrix is given. It fills L with the final levels.
func quantizeQxK(y []byte, x []float32, qw []float32, nmax int, L *[qkK]uint8) {
	var Laux [32]uint8
	var weights [32]float32
	var mins, scales [8]float32
	var ls, lm [8]uint8
	s := y[4:16]
	// With the row kernels the searches keep no levels: the final levels are computed
	// from the block scales below, and a sub-block whose scale rounds to 0 (which keeps
	// its search's levels) is searched again there with the same weights.
	lazy := useRows && useSIMD
	levels := func(j int) []uint8 {
		if lazy {
			return nil
		}
		return L[32*j : 32*j+32]
	}
	var sigma2 float32 // of the importance weights
	if qw == nil {
		var maxScale, maxMin float32
		rdelta, nstep := float32(0.1), 20
		rmin := float32(-1)
		if nmax == 31 {
			rmin, nstep = -0.5, 15
		}
		for j := range 8 {
			xs := x[32*j : 32*j+32]
			var sumX2 float32
			for _, v := range xs {
				sumX2 += float32(v * v)
			}
			avX := sqrtf(sumX2 / 32)
			for l, v := range xs {
				weights[l] = avX + fabsf(v)
			}
			scales[j], mins[j] = makeQKXQuants(nmax, xs, weights[:], levels(j), Laux[:], rmin, rdelta, nstep, false)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		var invScale, invMin float32
		if maxScale > 0 {
			invScale = 63 / maxScale
		}
		if maxMin > 0 {
			invMin = 63 / maxMin
		}
		for j := range 8 {
			ls[j] = cmin(63, uint8(nearestInt(invScale*scales[j])))
			lm[j] = cmin(63, uint8(nearestInt(invMin*mins[j])))
		}
		packScaleMinK4(s, &ls, &lm)
		putF16(y[0:], maxScale/63)
		putF16(y[2:], maxMin/63)
	} else {
		var sw [8]float32
		var sumX2 float32
		for _, v := range x[:qkK] {
			sumX2 += float32(v * v)
		}
		sigma2 = 2 * sumX2 / qkK
		for j := range 8 {
			xs := x[32*j : 32*j+32]
			importanceWeights(weights[:], xs, qw[32*j:32*j+32], sigma2)
			var sumw float32
			for _, w := range weights {
				sumw += w
			}
			sw[j] = sumw
			scales[j], mins[j] = makeQKXQuants(nmax, xs, weights[:], levels(j), Laux[:], -0.9, 0.05, 36, false)
		}
		dBlock := makeQPQuants(63, scales[:], ls[:], sw[:])
		mBlock := makeQPQuants(63, mins[:], lm[:], sw[:])
		if nmax == 31 { // quantize_row_q5_K_impl clamps; q4_K's does not
			for j := range 8 {
				ls[j], lm[j] = cmin(63, ls[j]), cmin(63, lm[j])
			}
		}
		packScaleMinK4(s, &ls, &lm)
		putF16(y[0:], dBlock)
		putF16(y[2:], mBlock)
	}
	dAll, mAll := f16At(y, 0), f16At(y, 2)
	if useRows && useSIMD {
		// All eight sub-blocks in one kernel call.
		var ds, dms [8]float32
		for j := range 8 {
			sc, m := scaleMinK4(j, s)
			ds[j], dms[j] = dAll*float32(sc), mAll*float32(m)
			if ds[j] == 0 {
				searchQxKGroup(x[32*j:32*j+32], qw, j, sigma2, nmax, L[32*j:32*j+32])
			}
		}
		kLevelsAVX2(&x[0], &ds[0], &dms[0], &L[0], 8, 32, 0, int32(nmax), 0)
		return
	}
	for j := range 8 {
		sc, m := scaleMinK4(j, s)
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := mAll * float32(m)
		for ii, v := range x[32*j : 32*j+32] {
			L[32*j+ii] = uint8(cmax(0, cmin(nmax, nearestInt((v+dm)/d))))
		}
	}
}

func quantizeQ4K(y []byte, x []float32, qw []float32) {
	var L [qkK]uint8
	for ; len(x) >= qkK; x, y = x[qkK:], y[144:] {
		quantizeQxK(y, x, qw, 15, &L)
		if qw != nil {
			qw = qw[qkK:]
		}
		q := y[16:144]
		for j := 0; j < qkK; j += 64 {
			for l := range 32 {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	}
}

func quantizeQ5K(y []byte, x []float32, qw []float32) {
	var L [qkK]uint8
	for ; len(x) >= qkK; x, y = x[qkK:], y[176:] {
		quantizeQxK(y, x, qw, 31, &L)
		if qw != nil {
			qw = qw[qkK:]
		}
		qh, ql := y[16:48], y[48:176]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < qkK; n += 64 {
			for j := range 32 {
				l1, l2 := L[n+j], L[n+j+32]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
			ql = ql[32:]
		}
	}
}

func quantizeQ6K(y []byte, x []float32, qw []float32) {
	var L [qkK]int8
	var scales [16]float32
	for ; len(x) >= qkK; x, y = x[qkK:], y[210:] {
		var maxScale, maxAbsScale float32
		// With the row kernels the search's levels are dropped: the final levels are
		// recomputed from the block scale below, except in groups whose scale rounds
		// to 0, whose levels are searched again there.
		lazy := useRows && useSIMD
		qwBlock := qw
		for ib := range 16 {
			var w []float32
			if qw != nil {
				w = qw[16*ib : 16*ib+16]
			}
			var lg []int8
			if !lazy {
				lg = L[16*ib : 16*ib+16]
			}
			scales[ib] = makeQXQuants(32, x[16*ib:16*ib+16], lg, w)
			if a := fabsf(scales[ib]); a > maxAbsScale {
				maxAbsScale, maxScale = a, scales[ib]
			}
		}
		if qw != nil {
			qw = qw[qkK:]
		}
		if maxAbsScale < groupMaxEps {
			clear(y[:210])
			putF16(y[208:], 0)
			continue
		}
		iscale := -128 / maxScale
		putF16(y[208:], 1/iscale)
		sc := y[192:208]
		for ib := range 16 {
			sc[ib] = uint8(int8(cmin(127, nearestInt(iscale*scales[ib]))))
		}
		dAll := f16At(y, 208)
		if useRows && useSIMD {
			// All sixteen groups in one kernel call ((v+0)/d rounds as v/d does).
			var ds, zero [16]float32
			for j := range 16 {
				ds[j] = dAll * float32(int8(sc[j]))
				if ds[j] == 0 { // the search's levels stay
					var w []float32
					if qwBlock != nil {
						w = qwBlock[16*j : 16*j+16]
					}
					makeQXQuants(32, x[16*j:16*j+16], L[16*j:16*j+16], w)
				}
			}
			kLevelsAVX2(&x[0], &ds[0], &zero[0], (*byte)(unsafe.Pointer(&L[0])), 16, 16, -32, 31, 32)
		} else {
			quantizeQ6KLevels(&L, x, dAll, sc)
		}
		ql, qh := y[0:128], y[128:192]
		for j := 0; j < qkK; j += 128 {
			for l := range 32 {
				q1, q2 := uint8(L[j+l])&0xf, uint8(L[j+l+32])&0xf
				q3, q4 := uint8(L[j+l+64])&0xf, uint8(L[j+l+96])&0xf
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | uint8(L[j+l+32])>>4<<2 | uint8(L[j+l+64])>>4<<4 | uint8(L[j+l+96])>>4<<6
			}
			ql, qh = ql[64:], qh[32:]
		}
	}
}

// quantizeQ6KLevels is Q6_K's final levels: each group's values divided by its scale.
func quantizeQ6KLevels(L *[qkK]int8, x []float32, dAll float32, sc []byte) {
	for j := range 16 {
		d := dAll * float32(int8(sc[j]))
		if d == 0 {
			continue
		}
		for ii, v := range x[16*j : 16*j+16] {
			L[16*j+ii] = int8(cmax(-32, cmin(31, nearestInt(v/d))) + 32)
		}
	}
}

// searchQxKGroup repeats quantizeQxK's search of sub-block j for its levels, with the
// same weights (avX + |x| without an importance matrix, else importanceWeights).
func searchQxKGroup(xs, qw []float32, j int, sigma2 float32, nmax int, L []uint8) {
	var weights [32]float32
	var Laux [32]uint8
	if qw == nil {
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrtf(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + fabsf(v)
		}
		rdelta, nstep, rmin := float32(0.1), 20, float32(-1)
		if nmax == 31 {
			rmin, nstep = -0.5, 15
		}
		makeQKXQuants(nmax, xs, weights[:], L, Laux[:], rmin, rdelta, nstep, false)
		return
	}
	importanceWeights(weights[:], xs, qw[32*j:32*j+32], sigma2)
	makeQKXQuants(nmax, xs, weights[:], L, Laux[:], -0.9, 0.05, 36, false)
}
