package ggml

import (
	"encoding/binary"
	"math"
	"sort"

	"github.com/refit-ml/refit/tensor"
)

// IQ1_S and IQ1_M: ggml's quantize_row_iq1_s_impl and quantize_row_iq1_m_impl. Each
// value becomes -1, 0 or 1 plus a shared shift of ±1/8, groups of 8 snapping to a
// 2048-point codebook. The three-way split of a block is found exhaustively over the
// values sorted ascending. ggml sorts with qsort, which glibc implements as a stable
// merge sort (glibc 2.36, the one the reference library runs with here), so ties keep
// their index order, as sort.SliceStable does.

const iq1Delta = 0.125

var (
	iq1Plus  = [3]float32{-1 + iq1Delta, iq1Delta, 1 + iq1Delta}
	iq1Minus = [3]float32{-1 - iq1Delta, -iq1Delta, 1 - iq1Delta}
)

// iq1SortedIndex fills idx with 0..len(xb)-1 ordered by xb ascending, ties by index.
func iq1SortedIndex(idx []int, xb []float32) {
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xb[idx[a]] < xb[idx[b]] })
}

// iq1Neighbour is iq1_find_best_neighbour2: the neighbour of the off-grid point u with
// the least weighted squared error at scale, with level values xx. L receives its levels.
func (g *iqGrid) iq1Neighbour(u int, xb, weight []float32, scale float32, xx *[3]float32, L []int8) int {
	nb := g.neighbours(u)
	best := float32(math.MaxFloat32)
	gi := int(nb[0]) // ggml scans the whole grid (reading out of bounds) if none is below FLT_MAX
	for _, j := range nb {
		p := &g.grid[j]
		var d2 float32
		for i := range 8 {
			diff := float32(scale*xx[(p[i]-1)/2]) - xb[i]
			d2 += float32(weight[i]*diff) * diff
		}
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	for i := range 8 {
		L[i] = (g.grid[gi][i] - 1) / 2
	}
	return gi
}

// quantizeIQ1S is quantize_row_iq1_s_impl: 50-byte blocks of 256, 1.56 bits per weight.
// It needs an importance matrix (QuantizeRows refuses a nil one before calling it).
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ1_S ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 16.7 MB/s with an importance matrix (ggml 16.6; AMD EPYC (Zen 4) dev VM, load ~27).
func quantizeIQ1S(y []byte, x []float32, qw []float32) {
	g := iqGridFor(tensor.IQ1_S)
	const bs = 32
	var scales [8]float32
	var shifts [8]int
	var weight [bs]float32
	var sumx, sumw [bs + 1]float32
	var idx [bs]int
	var L [bs]int8
	var index [4]int
	for ibl := range len(x) / qkK {
		blk := y[ibl*50 : (ibl+1)*50]
		clear(blk)
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		var maxScale float32
		sigma2 := 2 * sumSquares(xbl) / qkK
		for ib := range qkK / bs {
			xb := xbl[bs*ib : bs*ib+bs]
			iqWeights(weight[:], nil, xb, qw[qkK*ibl+bs*ib:], sigma2)
			max := fabsf(xb[0])
			for _, v := range xb[1:] {
				max = cmax(max, fabsf(v))
			}
			if max < 1e-12 {
				scales[ib], shifts[ib] = 0, 1
				continue
			}
			iq1SortedIndex(idx[:], xb)
			for j, i := range idx {
				sumx[j+1] = sumx[j] + float32(weight[i]*xb[i])
				sumw[j+1] = sumw[j] + weight[i]
			}
			bestScore, scale := float32(-math.MaxFloat32), max
			besti1, besti2, bestShift := -1, -1, 0
			// The shifts' level values and the terms of the values below i1 are
			// loop-invariant: hoisted, they are the same float32 products.
			p0, p1, p2 := iq1Plus[0], iq1Plus[1], iq1Plus[2]
			m0, m1, m2 := iq1Minus[0], iq1Minus[1], iq1Minus[2]
			for i1 := 0; i1 <= bs; i1++ {
				a, wa := sumx[i1]-sumx[0], sumw[i1]-sumw[0]
				ap, am := float32(a*p0), float32(a*m0)
				wap, wam := float32(float32(wa*p0)*p0), float32(float32(wa*m0)*m0)
				for i2 := i1; i2 <= bs; i2++ {
					b, c := sumx[i2]-sumx[i1], sumx[bs]-sumx[i2]
					wb, wc := sumw[i2]-sumw[i1], sumw[bs]-sumw[i2]
					sumqx := ap + float32(b*p1) + float32(c*p2)
					sumq2 := wap + float32(float32(wb*p1)*p1) + float32(float32(wc*p2)*p2)
					if sumq2 > 0 && sumqx*sumqx > bestScore*sumq2 {
						scale = sumqx / sumq2
						bestScore = scale * sumqx
						besti1, besti2, bestShift = i1, i2, 1
					}
					sumqx = am + float32(b*m1) + float32(c*m2)
					sumq2 = wam + float32(float32(wb*m1)*m1) + float32(float32(wc*m2)*m2)
					if sumq2 > 0 && sumqx*sumqx > bestScore*sumq2 {
						scale = sumqx / sumq2
						bestScore = scale * sumqx
						besti1, besti2, bestShift = i1, i2, -1
					}
				}
			}
			if besti1 < 0 || besti2 < 0 || bestShift == 0 {
				scales[ib], shifts[ib] = 0, 1
				continue
			}
			iq1Split(L[:], idx[:], besti1, besti2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, bestShift = -scale, -bestShift
			}
			xx := &iq1Plus
			if bestShift != 1 {
				xx = &iq1Minus
			}
			allOnGrid := true
			for k := range bs / 8 {
				u := packLevels(L[8*k:8*k+8], 2)
				if gi := g.kmap[u]; gi >= 0 {
					index[k] = int(gi)
				} else {
					allOnGrid = false
					index[k] = g.iq1Neighbour(u, xb[8*k:], weight[8*k:], scale, xx, L[8*k:])
				}
			}
			if !allOnGrid {
				var sumqx, sumq2 float32
				for k := range bs / 8 {
					p := &g.grid[index[k]]
					for j := range 8 {
						w, q := weight[8*k+j], xx[(p[j]-1)/2]
						sumqx += float32(w*q) * xb[8*k+j]
						sumq2 += float32(w*q) * q
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			var h uint16
			for k := range bs / 8 {
				blk[2+(bs/8)*ib+k] = uint8(index[k])
				h |= uint16(index[k]>>8) << (3 * k)
			}
			binary.LittleEndian.PutUint16(blk[34+2*ib:], h)
			scales[ib], shifts[ib] = scale, bestShift
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 15
		putF16(blk, d*1.125)
		id := 1 / d
		for ib := range qkK / bs {
			l := cmax(0, cmin(7, nearestInt(0.5*(float32(id*scales[ib])-1))))
			if shifts[ib] == -1 {
				l |= 8
			}
			h := binary.LittleEndian.Uint16(blk[34+2*ib:]) | uint16(l)<<12
			binary.LittleEndian.PutUint16(blk[34+2*ib:], h)
		}
	}
}

// iq1Split assigns level 0 below i1, 1 below i2 and 2 above, in sorted order.
func iq1Split(L []int8, idx []int, i1, i2 int) {
	for j, i := range idx {
		switch {
		case j < i1:
			L[i] = 0
		case j < i2:
			L[i] = 1
		default:
			L[i] = 2
		}
	}
}

// iq1MLevels returns the level values of group half (0 or 1) for shift combination k:
// bit 1 of k picks the first half's shift, bit 0 the second's (0 = +, 1 = -).
func iq1MLevels(k, half int) *[3]float32 {
	if half == 0 && k < 2 || half == 1 && k%2 == 0 {
		return &iq1Plus
	}
	return &iq1Minus
}

// iq1MTab[half][lev][k] is iq1MLevels(k, half)[lev].
var iq1MTab = func() (t [2][3][4]float32) {
	for half := range 2 {
		for lev := range 3 {
			for k := range 4 {
				t[half][lev][k] = iq1MLevels(k, half)[lev]
			}
		}
	}
	return t
}()

// iq1MAdd adds one value's terms for the four shift combinations, q = level values.
func iq1MAdd(sumqx, sumq2, q *[4]float32, w, v float32) {
	for k := range 4 {
		sumqx[k] += float32(float32(w*q[k]) * v)
		sumq2[k] += float32(float32(w*q[k]) * q[k])
	}
}

// quantizeIQ1M is quantize_row_iq1_m_impl: 56-byte blocks of 256, 1.75 bits per weight,
// blocks of 16 with a shift per half. Without an importance matrix the weights are x².
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ1_M ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 7.5 MB/s, 7.3 with an importance matrix (ggml 3.0, 3.0; AMD EPYC (Zen 4) dev VM, load ~27).
func quantizeIQ1M(y []byte, x []float32, qw []float32) {
	g := iqGridFor(tensor.IQ1_M)
	const bs = 16
	var scales [16]float32
	var shifts [16]int
	var weight [bs]float32
	var idx [bs]int
	var L [bs]int8
	var index [2]int
	var sw, sv [bs]float32 // weight and value in ascending order of value
	var sh [bs]int         // and the half of the block holding it
	masks := [4]uint8{0x00, 0x80, 0x08, 0x88}
	blockWeights := func(xb []float32, ibl, ib int, sigma2 float32) {
		if qw != nil {
			iqWeights(weight[:], nil, xb, qw[qkK*ibl+bs*ib:], sigma2)
			return
		}
		for i, v := range xb {
			weight[i] = v * v
		}
	}
	for ibl := range len(x) / qkK {
		blk := y[ibl*56 : (ibl+1)*56]
		clear(blk)
		qs, qh, sc := blk[:32], blk[32:48], blk[48:56]
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		var maxScale float32
		sigma2 := 2 * sumSquares(xbl) / qkK
		for ib := range qkK / bs {
			xb := xbl[bs*ib : bs*ib+bs]
			blockWeights(xb, ibl, ib, sigma2)
			max := fabsf(xb[0])
			for _, v := range xb[1:] {
				max = cmax(max, fabsf(v))
			}
			if max < 1e-7 {
				scales[ib], shifts[ib] = 0, 0
				continue
			}
			iq1SortedIndex(idx[:], xb)
			bestScore, scale := float32(-math.MaxFloat32), max
			besti1, besti2, bestK := -1, -1, -1
			// Each pair (i1, i2) sums over the sorted values in order, level 0 below i1,
			// 1 below i2, 2 from i2 on. The running sums up to a position are shared by
			// every pair that agrees on the levels so far, so they are carried over
			// instead of recomputed: the same float32 operations in the same order.
			for j, i := range idx {
				sw[j], sv[j], sh[j] = weight[i], xb[i], i/(bs/2)
			}
			var lx, l2 [4]float32 // positions below i1 at level 0
			for i1 := 0; i1 <= bs; i1++ {
				mx, m2 := lx, l2 // positions below i2: level 0 below i1, then 1
				for i2 := i1; i2 <= bs; i2++ {
					sumqx, sumq2 := mx, m2
					for j := i2; j < bs; j++ {
						iq1MAdd(&sumqx, &sumq2, &iq1MTab[sh[j]][2], sw[j], sv[j])
					}
					for k := range 4 {
						if sumq2[k] > 0 && sumqx[k]*sumqx[k] > bestScore*sumq2[k] {
							scale = sumqx[k] / sumq2[k]
							bestScore = scale * sumqx[k]
							besti1, besti2, bestK = i1, i2, k
						}
					}
					if i2 < bs {
						iq1MAdd(&mx, &m2, &iq1MTab[sh[i2]][1], sw[i2], sv[i2])
					}
				}
				if i1 < bs {
					iq1MAdd(&lx, &l2, &iq1MTab[sh[i1]][0], sw[i1], sv[i1])
				}
			}
			if besti1 < 0 || besti2 < 0 || bestK < 0 {
				scales[ib], shifts[ib] = 0, 0
				continue
			}
			iq1Split(L[:], idx[:], besti1, besti2)
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, bestK = -scale, 3-bestK
			}
			allOnGrid := true
			for k := range bs / 8 {
				u := packLevels(L[8*k:8*k+8], 2)
				if gi := g.kmap[u]; gi >= 0 {
					index[k] = int(gi)
				} else {
					allOnGrid = false
					index[k] = g.iq1Neighbour(u, xb[8*k:], weight[8*k:], scale, iq1MLevels(bestK, k), L[8*k:])
				}
			}
			if !allOnGrid {
				var sumqx, sumq2 float32
				for k := range bs / 8 {
					xx := iq1MLevels(bestK, k)
					p := &g.grid[index[k]]
					for j := range 8 {
						w, q := weight[8*k+j], xx[(p[j]-1)/2]
						sumqx += float32(w*q) * xb[8*k+j]
						sumq2 += float32(w*q) * q
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			qs[2*ib], qs[2*ib+1] = uint8(index[0]), uint8(index[1])
			qh[ib] = uint8(index[0]>>8) | uint8(index[1]>>8)<<4
			scales[ib], shifts[ib] = scale, bestK
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		var scw [4]uint16
		d := maxScale / 15
		id := 1 / d
		var sumqx, sumq2 float32
		for ib := range qkK / bs {
			l := cmax(0, cmin(7, nearestInt(0.5*(float32(id*scales[ib])-1))))
			scw[ib/4] |= uint16(l) << (3 * (ib % 4))
			qh[ib] |= masks[shifts[ib]]
			xb := xbl[bs*ib : bs*ib+bs]
			blockWeights(xb, ibl, ib, sigma2)
			for k := range bs / 8 {
				xx := iq1MLevels(shifts[ib], k)
				gi := int(qs[2*ib+k]) | int(qh[ib]>>(4*k)&7)<<8
				p := &g.grid[gi]
				for j := range 8 {
					w, q := weight[8*k+j], xx[(p[j]-1)/2]*float32(2*l+1)
					sumqx += float32(w*q) * xb[8*k+j]
					sumq2 += float32(w*q) * q
				}
			}
		}
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		s := fp16(d * 1.1125)
		scw[0] |= (s & 0x000f) << 12
		scw[1] |= (s & 0x00f0) << 8
		scw[2] |= (s & 0x0f00) << 4
		scw[3] |= s & 0xf000
		for i, v := range scw {
			binary.LittleEndian.PutUint16(sc[2*i:], v)
		}
	}
}
