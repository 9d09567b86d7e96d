package ggml

// Layouts: TQ1_0 qs[48]|qh[4]|d (base-3 digits, five per qs byte, four per qh byte);
// TQ2_0 qs[64]|d (2 bits per element); IQ4_NL d|qs[16]; IQ4_XS d|scales_h[2]|scales_l[4]|qs[128].

// absMax is the largest magnitude in x, folded with C's MAX macro.
func absMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		amax = cmax(amax, fabsf(v))
	}
	return amax
}

// packTrits packs base-3 digits most significant first and scales the value v < 3^5 to a
// byte as round-up(v * 256 / 243), so that multiplying by 3 shifts out one digit.
func packTrits(q uint8) uint8 { return uint8((uint16(q)*256 + (243 - 1)) / 243) }

// quantizeTQ1_0 ignores the importance matrix, as ggml does.
func quantizeTQ1_0(y []byte, x []float32, _ []float32) {
	for ; len(x) >= qkK; y = y[54:] {
		d := absMax(x[:qkK])
		id := inverse(d)
		putF16(y[52:], d)
		// 32 bytes of 5 digits (160 elements), 16 bytes of 5 (80), 4 bytes of 4 (16).
		for _, part := range [2]struct{ off, n int }{{0, 32}, {32, 16}} {
			for m := range part.n {
				var q uint8
				for n := range 5 {
					q = q*3 + uint8(lroundf(x[m+n*part.n]*id)+1)
				}
				y[part.off+m] = packTrits(q)
			}
			x = x[5*part.n:]
		}
		for j := range 4 {
			var q uint8
			for m := range 4 {
				q = q*3 + uint8(lroundf(x[j+m*4]*id)+1)
			}
			y[48+j] = packTrits(q * 3)
		}
		x = x[16:]
	}
}

// quantizeTQ2_0 ignores the importance matrix, as ggml does.
func quantizeTQ2_0(y []byte, x []float32, _ []float32) {
	for ; len(x) >= qkK; y = y[66:] {
		d := absMax(x[:qkK])
		id := inverse(d)
		putF16(y[64:], d)
		for j := 0; j < 64; j += 32 {
			for m := range 32 {
				var q uint8
				for n := range 4 {
					xi := lroundf(x[m+n*32]*id) + 1
					q += uint8((xi & 3) << (2 * n))
				}
				y[j+m] = q
			}
			x = x[128:]
		}
	}
}

// kvaluesIQ4NL is IQ4_NL's non-linear 4-bit codebook.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// kvaluesIQ4NLf is kvaluesIQ4NL as float32, for the nearest-value search.
var kvaluesIQ4NLf = func() (f [16]float32) {
	for i, v := range kvaluesIQ4NL {
		f[i] = float32(v)
	}
	return f
}()

// iq4Scratch is quantize_row_iq4_nl_impl's working memory for one super-block.
type iq4Scratch struct {
	L      [qkK]uint8
	weight [32]float32
	scales [qkK / 32]float32
}

// quantizeIQ4Block is quantize_row_iq4_nl_impl with ntry 7, as ggml_quantize_chunk calls
// it: one super-block x of 32 (IQ4_NL) or 256 (IQ4_XS) elements in sub-blocks of 32.
// dh is the fp16 scale, q4 the packed nibbles; scalesH/scalesL are IQ4_XS's 6-bit
// sub-block scales (unused for IQ4_NL).
func quantizeIQ4Block(x, qw []float32, dh, q4, scalesH, scalesL []byte, s *iq4Scratch) {
	const ntry = 7
	values := &kvaluesIQ4NLf
	n := len(x)
	var sigma2 float32
	for _, v := range x {
		sigma2 += float32(v * v)
	}
	sigma2 *= 2 / float32(n)
	clear(q4[:n/2])
	putF16(dh, 0)
	var maxScale, amaxScale float32
	for ib := range n / 32 {
		xb := x[32*ib : 32*ib+32]
		Lb := s.L[32*ib : 32*ib+32]
		if qw != nil {
			importanceWeights(s.weight[:], xb, qw[32*ib:32*ib+32], sigma2)
		} else {
			for j, v := range xb {
				s.weight[j] = v * v
			}
		}
		var amax, max float32
		for _, v := range xb {
			if ax := fabsf(v); ax > amax {
				amax, max = ax, v
			}
		}
		if amax < groupMaxEps {
			s.scales[ib] = 0
			continue
		}
		if useSIMD {
			d := iq4SearchSIMD(xb, s.weight[:], max)
			s.scales[ib] = d
			if ad := fabsf(d); ad > amaxScale {
				amaxScale, maxScale = ad, d
			}
			continue
		}
		d := -max / values[0]
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := bestIndexInt8(values, id*v)
			Lb[j] = uint8(l)
			q, w := values[l], s.weight[j]
			sumqx += float32(w * q * v)
			sumq2 += float32(w * q * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := d * sumqx
		for itry := -ntry; itry <= ntry; itry++ {
			id = float32(itry+int(kvaluesIQ4NL[0])) / max
			sumqx, sumq2 = 0, 0
			for j, v := range xb {
				q, w := values[bestIndexInt8(values, id*v)], s.weight[j]
				sumqx += float32(w * q * v)
				sumq2 += float32(w * q * q)
			}
			if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
				d = sumqx / sumq2
				best = d * sumqx
			}
		}
		s.scales[ib] = d
		if ad := fabsf(d); ad > amaxScale {
			amaxScale, maxScale = ad, d
		}
	}
	if n > 32 {
		clear(scalesH[:2])
		d := -maxScale / 32
		putF16(dh, d)
		id := inverse(d)
		var h uint16
		for ib := range n / 32 {
			l := cmax(-32, cmin(31, nearestInt(id*s.scales[ib])))
			dl := d * float32(l)
			idl := inverse(dl)
			for j, v := range x[32*ib : 32*ib+32] {
				s.L[32*ib+j] = uint8(bestIndexInt8(values, idl*v))
			}
			l += 32
			lo, hi := uint8(l&0xf), uint16(l>>4)
			if ib%2 == 0 {
				scalesL[ib/2] = lo
			} else {
				scalesL[ib/2] |= lo << 4
			}
			h |= hi << (2 * (ib % 8))
		}
		scalesH[0], scalesH[1] = uint8(h), uint8(h>>8)
	} else {
		putF16(dh, s.scales[0])
		id := inverse(s.scales[0])
		for j, v := range x {
			s.L[j] = uint8(bestIndexInt8(values, id*v))
		}
	}
	for i := range n / 32 {
		for j := range 16 {
			q4[16*i+j] = s.L[32*i+j] | s.L[32*i+16+j]<<4
		}
	}
}

// kvaluesIQ4NLBcast is kvaluesIQ4NLf with each value repeated for the eight lanes.
var kvaluesIQ4NLBcast = func() (b [16][8]float32) {
	for i, v := range kvaluesIQ4NLf {
		for k := range b[i] {
			b[i][k] = v
		}
	}
	return b
}()

// iq4SearchSIMD is the scale search of quantize_row_iq4_nl_impl for one sub-block of
// 32 (largest magnitude max, non-zero) on the eight-lane kernel: the first guess and the
// 2*ntry+1 tries are independent until the choice. The levels the first guess stores
// are not used afterwards (the caller recomputes them), so they are not stored.
func iq4SearchSIMD(xb, weight []float32, max float32) float32 {
	const ntry = 7
	var ids [16]float32
	ids[0] = 1 / (-max / kvaluesIQ4NLf[0])
	for itry := -ntry; itry <= ntry; itry++ {
		ids[1+itry+ntry] = float32(itry+int(kvaluesIQ4NL[0])) / max
	}
	var sums [2][16]float32
	for b := range sums {
		iq4SumsAVX2(&xb[0], &weight[0], len(xb), (*[8]float32)(ids[8*b:]), &kvaluesIQ4NLf, &kvaluesIQ4NLBcast, &sums[b])
	}
	sumqx, sumq2 := sums[0][0], sums[0][8]
	var d float32
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := d * sumqx
	for k := 1; k < 16; k++ {
		sumqx, sumq2 = sums[k/8][k%8], sums[k/8][8+k%8]
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			d = sumqx / sumq2
			best = d * sumqx
		}
	}
	return d
}

func quantizeIQ4NL(y []byte, x []float32, qw []float32) {
	var s iq4Scratch
	for ; len(x) >= 32; x, y = x[32:], y[18:] {
		var w []float32
		if qw != nil {
			w, qw = qw[:32], qw[32:]
		}
		quantizeIQ4Block(x[:32], w, y[0:2], y[2:18], nil, nil, &s)
	}
}

func quantizeIQ4XS(y []byte, x []float32, qw []float32) {
	var s iq4Scratch
	for ; len(x) >= qkK; x, y = x[qkK:], y[136:] {
		var w []float32
		if qw != nil {
			w, qw = qw[:qkK], qw[qkK:]
		}
		quantizeIQ4Block(x[:qkK], w, y[0:2], y[8:136], y[2:4], y[4:8], &s)
	}
}
