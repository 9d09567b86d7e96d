package ggml

import (
	"encoding/binary"
	"math"

	"github.com/refit-ml/refit/tensor"
)

// IQ2_XXS and IQ2_XS: ggml's quantize_row_iq2_xxs_impl and quantize_row_iq2_xs_impl.
// Groups of 8 magnitudes snap to an 8-dimensional codebook of levels {1, 3, 5} (times a
// per-group scale); signs are stored for 7 of the 8 values, the 8th implied by an even
// count of negatives. Both need an importance matrix, as in ggml.

// iq2Signs stores |xb| in xval and returns the 7 stored sign bits of a group of 8. With
// an odd count of negatives, the least important value keeps its sign in xval instead.
func iq2Signs(xval, xb, weight []float32) uint8 {
	var s uint8
	nflip := 0
	for i := range 8 {
		if xb[i] >= 0 {
			xval[i] = xb[i]
		} else {
			xval[i] = -xb[i]
			nflip++
			s |= 1 << i
		}
	}
	if nflip%2 != 0 {
		imin := 0
		least := float32(weight[0]*xb[0]) * xb[0]
		for i := 1; i < 8; i++ {
			if ax := float32(weight[i]*xb[i]) * xb[i]; ax < least {
				least, imin = ax, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// project rounds one group to levels at inverse scale id (L receives level indices). Off
// the grid, the point is replaced by its neighbour nearest at scale. It returns the grid
// index and whether the rounded point was on the grid.
func (g *iqGrid) project(xval, weight []float32, id, scale float32, L []int8) (int, bool) {
	u := 0
	for i := range g.dim {
		l := nearestInt(0.5 * (float32(id*xval[i]) - 1))
		l = cmax(0, cmin(g.kmax, l))
		L[i] = int8(l)
		u |= l << (g.bits * uint(i))
	}
	if gi := g.kmap[u]; gi >= 0 {
		return int(gi), true
	}
	return g.bestNeighbour(u, xval, weight, scale, L), false
}

// bestNeighbour is iq2_find_best_neighbour / iq3_find_best_neighbour.
func (g *iqGrid) bestNeighbour(u int, xval, weight []float32, scale float32, L []int8) int {
	nb := g.neighbours(u)
	var gi int
	if useSIMD && len(nb) >= 8 {
		gi = g.bestNeighbourSIMD(nb, xval, weight, scale)
	} else {
		gi = g.bestNeighbourGo(nb, xval, weight, scale)
	}
	for i := range g.dim {
		L[i] = (g.grid[gi][i] - 1) / 2
	}
	return gi
}

func (g *iqGrid) bestNeighbourGo(nb []uint16, xval, weight []float32, scale float32) int {
	best := float32(math.MaxFloat32)
	gi := int(nb[0]) // ggml asserts instead; only reachable with NaN, which callers reject
	for _, j := range nb {
		p := &g.grid[j]
		var d2 float32
		for i := range g.dim {
			diff := float32(scale*float32(p[i])) - xval[i]
			d2 += float32(weight[i]*diff) * diff
		}
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	return gi
}

// bestNeighbourSIMD is bestNeighbourGo eight neighbours at a time. Each lane keeps the
// first position of its least distance; the least distance over the lanes, at its
// lowest position, is the scalar loop's first strict minimum. A 4-dimensional point
// is measured as 8 dimensions whose last 4 add exact zeros.
func (g *iqGrid) bestNeighbourSIMD(nb []uint16, xval, weight []float32, scale float32) int {
	var x8, w8 [8]float32
	copy(x8[:g.dim], xval)
	copy(w8[:g.dim], weight)
	best := [8]float32{math.MaxFloat32, math.MaxFloat32, math.MaxFloat32, math.MaxFloat32,
		math.MaxFloat32, math.MaxFloat32, math.MaxFloat32, math.MaxFloat32}
	pos := [8]int32{-1, -1, -1, -1, -1, -1, -1, -1}
	full := len(nb) &^ 7
	neighbourD2AVX2(&g.fgrid[0], &nb[0], full, &x8[0], &w8[0], scale, 0, &best, &pos)
	if full < len(nb) {
		// The tail, padded with copies of the last neighbour: equal distances at later
		// positions never win.
		var tail [8]uint16
		for k := range tail {
			tail[k] = nb[min(full+k, len(nb)-1)]
		}
		neighbourD2AVX2(&g.fgrid[0], &tail[0], 8, &x8[0], &w8[0], scale, int32(full), &best, &pos)
	}
	bp := int32(-1)
	bd := float32(math.MaxFloat32)
	for k := range best {
		if pos[k] >= 0 && (bp < 0 || best[k] < bd || best[k] == bd && pos[k] < bp) {
			bd, bp = best[k], pos[k]
		}
	}
	if bp < 0 {
		return int(nb[0])
	}
	return int(nb[bp])
}

// oddLevelSums returns Σ w·x·q and Σ w·q² for q = 2L+1.
func oddLevelSums(weight, xval []float32, L []int8) (sumqx, sumq2 float32) {
	for i, w := range weight {
		q := float32(2*int(L[i]) + 1)
		sumqx += float32(w*xval[i]) * q
		sumq2 += float32(w*q) * q
	}
	return sumqx, sumq2
}

// iqWeights fills weight with qw·sqrt(sigma2 + x²) and, if waux is not nil, its square roots.
func iqWeights(weight, waux, xb, qw []float32, sigma2 float32) {
	for i, v := range xb {
		weight[i] = qw[i] * sqrtf(sigma2+float32(v*v))
	}
	for i := range waux {
		waux[i] = sqrtf(weight[i])
	}
}

func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// quantizeIQ2XXS is quantize_row_iq2_xxs_impl: 66-byte blocks of 256, 2.06 bits per weight.
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ2_XXS ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 17.0 MB/s of float32 input with an importance matrix (ggml 6.8; AMD EPYC (Zen 4) dev VM, load ~27);
// 31.4 MB/s with iq2BatchAVX2 (load ~16, -benchtime 3x).
func quantizeIQ2XXS(y []byte, x []float32, qw []float32) {
	g := iqGridFor(tensor.IQ2_XXS)
	const kMaxQ = 3
	var scales [8]float32
	var weight, xval, waux [32]float32
	var L, Laux [32]int8
	var signs [4]uint8
	var q2 [16]uint32
	for ibl := range len(x) / qkK {
		blk := y[ibl*66 : (ibl+1)*66]
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		q2 = [16]uint32{}
		var maxScale float32
		sigma2 := sumSquares(xbl) / qkK
		for ib := range 8 {
			xb := xbl[32*ib : 32*ib+32]
			iqWeights(weight[:], waux[:], xb, qw[qkK*ibl+32*ib:], sigma2)
			for k := range 4 {
				signs[k] = iq2Signs(xval[8*k:], xb[8*k:], weight[8*k:])
			}
			max := xval[0]
			for _, v := range xval[1:] {
				max = cmax(max, v)
			}
			if max < groupMaxEps {
				scales[ib] = 0
				L = [32]int8{}
				continue
			}
			var Lqp [32]uint8
			scale := makeQPQuants(kMaxQ+1, xval[:], Lqp[:], weight[:])
			for i, l := range Lqp {
				L[i] = int8(l)
			}
			effMax := scale * kMaxQ
			if effMax <= 0 {
				scales[ib] = 0
				L = [32]int8{}
				continue
			}
			var best float32
			if useSIMD {
				scale = iq2SearchSIMD(g, weight[:], waux[:], xval[:], L[:], effMax, -6, 6, scale, &best, nil)
			}
			for is := -6; is <= 6 && !useSIMD; is++ {
				id := (2*kMaxQ - 1 + float32(float32(is)*0.1)) / effMax
				thisScale := 1 / id
				for k := range 4 {
					g.project(xval[8*k:8*k+8], waux[8*k:], id, thisScale, Laux[8*k:])
				}
				sumqx, sumq2 := oddLevelSums(weight[:], xval[:], Laux[:])
				if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
					scale = sumqx / sumq2
					best = scale * sumqx
					L = Laux
				}
			}
			if scale > 0 {
				id := 1 / scale
				for k := range 4 {
					g.project(xval[8*k:8*k+8], waux[8*k:], id, scale, L[8*k:])
				}
				if sumqx, sumq2 := oddLevelSums(weight[:], xval[:], L[:]); sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := range 4 {
				gi := g.kmap[packLevels(L[8*k:8*k+8], 2)]
				q2[2*ib] |= uint32(gi) << (8 * k)
				q2[2*ib+1] |= uint32(signs[k]) << (7 * k)
			}
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			clear(blk)
			continue
		}
		d := maxScale / 31
		putF16(blk, d)
		id := 1 / d
		for ib := range 8 {
			l := nearestInt(0.5 * (float32(id*scales[ib]) - 1))
			q2[2*ib+1] |= uint32(cmax(0, cmin(15, l))) << 28
		}
		for i, v := range q2 {
			binary.LittleEndian.PutUint32(blk[2+4*i:], v)
		}
	}
}

// iq2SearchSIMD runs the candidate loop of the IQ2 scale searches (inverse scales
// (5 + is·0.1)/max for is in [lo, hi]) eight candidates per iq2BatchAVX2 call over the
// len(xval)/8 groups, taking the candidates in order as the scalar loop does: it returns
// the scale and leaves best, L and (if not nil) onGrid as the loop leaves them.
func iq2SearchSIMD(g *iqGrid, weight, waux, xval []float32, L []int8, max float32, lo, hi int, scale float32, best *float32, onGrid []bool) float32 {
	const kMaxQ = 3
	var id, sc [8]float32
	var lt [32][8]int32
	var sums [16]float32
	for is0 := lo; is0 <= hi; is0 += 8 {
		for k := range 8 {
			is := min(is0+k, hi)
			id[k] = (2*kMaxQ - 1 + float32(float32(is)*0.1)) / max
			sc[k] = 1 / id[k]
		}
		on := iq2BatchAVX2(&g.soa2, &xval[0], &waux[0], &weight[0], len(xval)/8, &id, &sc, &lt, &sums)
		for k := 0; k < 8 && is0+k <= hi; k++ {
			sumqx, sumq2 := sums[k], sums[8+k]
			if sumq2 > 0 && sumqx*sumqx > *best*sumq2 {
				scale = sumqx / sumq2
				*best = scale * sumqx
				for i := range L {
					L[i] = int8(lt[i][k])
				}
				for j := range onGrid {
					onGrid[j] = on>>(8*j+k)&1 != 0
				}
			}
		}
	}
	return scale
}

// packLevels packs level indices into a codebook key, bits per level.
func packLevels(L []int8, bits uint) int {
	u := 0
	for i, l := range L {
		u |= int(l) << (bits * uint(i))
	}
	return u
}

// quantizeIQ2XS is quantize_row_iq2_xs_impl: 74-byte blocks of 256, 2.31 bits per weight.
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ2_XS ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 12.3 MB/s with an importance matrix (ggml 3.3; AMD EPYC (Zen 4) dev VM, load ~27);
// 17.8 MB/s with iq2BatchAVX2 (load ~16, -benchtime 3x).
func quantizeIQ2XS(y []byte, x []float32, qw []float32) { quantizeIQ2Groups16(y, x, qw, false) }

// quantizeIQ2S is quantize_row_iq2_s_impl: 82-byte blocks of 256, 2.56 bits per weight.
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ2_S ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 18.5 MB/s, 18.3 with an importance matrix (ggml 8.0, 9.7; AMD EPYC (Zen 4) dev VM, load ~27);
// 45.1 and 44.4 MB/s with iq2BatchAVX2 (load ~16, -benchtime 3x).
func quantizeIQ2S(y []byte, x []float32, qw []float32) { quantizeIQ2Groups16(y, x, qw, true) }

// quantizeIQ2Groups16 is the shared search of IQ2_XS and IQ2_S (groups of 16, two grid
// points each). IQ2_S differs in its grid (1024 points, 10-bit indices), in storing all 8
// signs, in weighting without an importance matrix, and in its scale factor.
func quantizeIQ2Groups16(y []byte, x []float32, qw []float32, iq2s bool) {
	d, bsize, eps, dFactor, sigmaMul := tensor.IQ2_XS, 74, float32(groupMaxEps), float32(1), float32(1)
	if iq2s {
		d, bsize, eps, dFactor, sigmaMul = tensor.IQ2_S, 82, 1e-8, 0.9875, 2
	}
	g := iqGridFor(d)
	const kMaxQ = 3
	var scales [16]float32
	var weight, xval, waux [16]float32
	var L, Laux [16]int8
	var onGrid, onGridAux [2]bool
	var signs [2]uint8
	for ibl := range len(x) / qkK {
		blk := y[ibl*bsize : (ibl+1)*bsize]
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		clear(blk)
		var maxScale float32
		sigma2 := sigmaMul * sumSquares(xbl) / qkK
		for ib := range 16 {
			xb := xbl[16*ib : 16*ib+16]
			switch {
			case qw != nil:
				iqWeights(weight[:], waux[:], xb, qw[qkK*ibl+16*ib:], sigma2)
			case iq2s:
				for i, v := range xb {
					weight[i] = float32(0.25*sigma2) + float32(v*v)
				}
				for i := range waux {
					waux[i] = sqrtf(weight[i])
				}
			default:
				panic("ggml: IQ2_XS without an importance matrix") // QuantizeRows refuses it first
			}
			for k := range 2 {
				if iq2s {
					var s uint8
					for i := range 8 {
						if v := xb[8*k+i]; v >= 0 {
							xval[8*k+i] = v
						} else {
							xval[8*k+i] = -v
							s |= 1 << i
						}
					}
					signs[k] = s
				} else {
					signs[k] = iq2Signs(xval[8*k:], xb[8*k:], weight[8*k:])
				}
			}
			max := xval[0]
			for _, v := range xval[1:] {
				max = cmax(max, v)
			}
			L = [16]int8{}
			if max < eps {
				scales[ib] = 0
				continue
			}
			var best float32
			scale := max / (2*kMaxQ - 1)
			onGrid = [2]bool{true, true}
			if useSIMD {
				scale = iq2SearchSIMD(g, weight[:], waux[:], xval[:], L[:], max, -9, 9, scale, &best, onGrid[:])
			}
			for is := -9; is <= 9 && !useSIMD; is++ {
				id := (2*kMaxQ - 1 + float32(float32(is)*0.1)) / max
				thisScale := 1 / id
				for k := range 2 {
					_, onGridAux[k] = g.project(xval[8*k:8*k+8], waux[8*k:], id, thisScale, Laux[8*k:])
				}
				sumqx, sumq2 := oddLevelSums(weight[:], xval[:], Laux[:])
				if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
					scale = sumqx / sumq2
					best = scale * sumqx
					L, onGrid = Laux, onGridAux
				}
			}
			if (!onGrid[0] || !onGrid[1]) && scale > 0 {
				id := 1 / scale
				for k := range 2 {
					if !onGrid[k] {
						g.project(xval[8*k:8*k+8], waux[8*k:], id, scale, L[8*k:])
					}
				}
				if sumqx, sumq2 := oddLevelSums(weight[:], xval[:], L[:]); sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k]
					if !iq2s {
						signs[k] &= 127
					}
				}
			}
			for k := range 2 {
				gi := int(g.kmap[packLevels(L[8*k:8*k+8], 2)])
				i8 := 2*ib + k
				if iq2s {
					blk[2+i8] = uint8(gi)
					blk[66+i8/4] |= uint8(gi>>8) << (2 * (i8 % 4))
					blk[2+32+i8] = signs[k]
				} else {
					binary.LittleEndian.PutUint16(blk[2+2*i8:], uint16(gi)|uint16(signs[k])<<9)
				}
			}
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			if !iq2s {
				clear(blk[2:66]) // IQ2_XS clears qs, and writes it only with a scale
			}
			continue
		}
		dd := maxScale / 31
		putF16(blk, dd*dFactor)
		id := 1 / dd
		sc := blk[bsize-8:]
		for ib := range 16 {
			l := cmax(0, cmin(15, nearestInt(0.5*(float32(id*scales[ib])-1))))
			sc[ib/2] |= uint8(l) << (4 * (ib % 2))
		}
	}
}
