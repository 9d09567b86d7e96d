package ggml

import (
	"encoding/binary"

	"github.com/refit-ml/refit/tensor"
)

// IQ3_XXS and IQ3_S: ggml's quantize_row_iq3_xxs_impl (grid 256) and
// quantize_row_iq3_s_impl (grid 512, block 32). Groups of 4 magnitudes snap to a
// 4-dimensional codebook of odd levels 1..15. Without an importance matrix the weights
// are x².

const (
	groupMaxEpsIQ3XXS = 1e-8
	iq3KMaxQ          = 8
)

// iq3Weights fills weight and waux for one group of 32, as both IQ3 quantizers do.
func iq3Weights(weight, waux, xb, qw []float32, sigma2 float32) {
	if qw != nil {
		iqWeights(weight, waux, xb, qw, sigma2)
		return
	}
	for i, v := range xb {
		weight[i] = v * v
	}
	for i := range waux {
		waux[i] = sqrtf(weight[i])
	}
}

// iq3Search is the scale search both IQ3 quantizers share: candidates
// (15 + is·0.2)/max for is in [lo, hi], keeping the levels of the best, then (for groups
// off the grid, or all groups when reprojectAll) a final projection at the chosen scale.
// onGridInit is what ggml assumes before any candidate wins.
func iq3Search(g *iqGrid, weight, waux, xval []float32, L *[32]int8, max float32, lo, hi int, onGridInit, reprojectAll bool) float32 {
	var Laux [32]int8
	var onGrid, onGridAux [8]bool
	var best float32
	scale := max / (2*iq3KMaxQ - 1)
	for k := range onGrid {
		onGrid[k] = onGridInit
	}
	if useSIMD {
		// Eight candidates per kernel call; the choice then takes them in order.
		var id, sc [8]float32
		var lt [32][8]int32
		var sums [16]float32
		for is0 := lo; is0 <= hi; is0 += 8 {
			for k := range 8 {
				is := min(is0+k, hi)
				id[k] = (2*iq3KMaxQ - 1 + float32(float32(is)*0.2)) / max
				sc[k] = 1 / id[k]
			}
			on := iq3BatchAVX2(&g.soa, (*[32]float32)(xval), (*[32]float32)(waux), (*[32]float32)(weight), &id, &sc, &lt, &sums)
			for k := 0; k < 8 && is0+k <= hi; k++ {
				sumqx, sumq2 := sums[k], sums[8+k]
				if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
					scale = sumqx / sumq2
					best = scale * sumqx
					for i := range L {
						L[i] = int8(lt[i][k])
					}
					for j := range onGrid {
						onGrid[j] = on>>(8*j+k)&1 != 0
					}
				}
			}
		}
		return iq3Finish(g, weight, waux, xval, L, scale, onGrid, reprojectAll)
	}
	for is := lo; is <= hi; is++ {
		id := (2*iq3KMaxQ - 1 + float32(float32(is)*0.2)) / max
		thisScale := 1 / id
		for k := range 8 {
			_, onGridAux[k] = g.project(xval[4*k:4*k+4], waux[4*k:], id, thisScale, Laux[4*k:])
		}
		sumqx, sumq2 := oddLevelSums(weight, xval, Laux[:])
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			*L, onGrid = Laux, onGridAux
		}
	}
	return iq3Finish(g, weight, waux, xval, L, scale, onGrid, reprojectAll)
}

// iq3Finish is the end of iq3Search: the final projection at the chosen scale.
func iq3Finish(g *iqGrid, weight, waux, xval []float32, L *[32]int8, scale float32, onGrid [8]bool, reprojectAll bool) float32 {
	offGrid := false
	for _, on := range onGrid {
		offGrid = offGrid || !on
	}
	if offGrid && scale > 0 {
		id := 1 / scale
		for k := range 8 {
			if onGrid[k] && !reprojectAll {
				continue
			}
			g.project(xval[4*k:4*k+4], waux[4*k:], id, scale, L[4*k:])
		}
		if sumqx, sumq2 := oddLevelSums(weight, xval, L[:]); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	return scale
}

// quantizeIQ3XXS is quantize_row_iq3_xxs_impl: 98-byte blocks of 256, 3.06 bits per weight.
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ3_XXS ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 7.4 MB/s, 7.5 with an importance matrix (ggml 5.9, 5.7; AMD EPYC (Zen 4) dev VM, load ~27);
// 23.8 and 24.6 MB/s with iq3BatchAVX2 (load ~16, -benchtime 3x).
func quantizeIQ3XXS(y []byte, x []float32, qw []float32) {
	g := iqGridFor(tensor.IQ3_XXS)
	var scales [8]float32
	var weight, xval, waux [32]float32
	var L [32]int8
	var signs [4]uint8
	var q3 [96]byte
	for ibl := range len(x) / qkK {
		blk := y[ibl*98 : (ibl+1)*98]
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		clear(blk)
		q3 = [96]byte{}
		var maxScale float32
		sigma2 := 2 * sumSquares(xbl) / qkK
		for ib := range 8 {
			xb := xbl[32*ib : 32*ib+32]
			var w []float32
			if qw != nil {
				w = qw[qkK*ibl+32*ib:]
			}
			iq3Weights(weight[:], waux[:], xb, w, sigma2)
			for k := range 4 {
				signs[k] = iq2Signs(xval[8*k:], xb[8*k:], weight[8*k:])
			}
			max := xval[0]
			for _, v := range xval[1:] {
				max = cmax(max, v)
			}
			L = [32]int8{}
			if max < groupMaxEpsIQ3XXS {
				scales[ib] = 0
				continue
			}
			scale := iq3Search(g, weight[:], waux[:], xval[:], &L, max, -15, 15, true, false)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := range 8 {
				q3[8*ib+k] = uint8(g.kmap[packLevels(L[4*k:4*k+4], 3)])
			}
			ss := uint32(signs[0]) | uint32(signs[1])<<7 | uint32(signs[2])<<14 | uint32(signs[3])<<21
			binary.LittleEndian.PutUint32(q3[64+4*ib:], ss)
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putF16(blk, d*1.0125)
		id := 1 / d
		for ib := range 8 {
			l := cmax(0, cmin(15, nearestInt(0.5*(float32(id*scales[ib])-1))))
			ss := binary.LittleEndian.Uint32(q3[64+4*ib:]) | uint32(l)<<28
			binary.LittleEndian.PutUint32(q3[64+4*ib:], ss)
		}
		copy(blk[2:], q3[:])
	}
}

// quantizeIQ3S is quantize_row_iq3_s_impl with blocks of 32: 110-byte blocks of 256,
// 3.44 bits per weight. All 8 signs of a group are stored.
// Single-threaded CPU throughput, go test -cpu 1 -bench Quantize/IQ3_S ./quant/ggml
// (cpu-MB/s; ggml from testdata/gen/quant_ggml.py bench): 11.7 MB/s, 11.4 with an importance matrix (ggml 8.0, 10.4; AMD EPYC (Zen 4) dev VM, load ~27);
// 28.4 and 31.4 MB/s with iq3BatchAVX2 (load ~16, -benchtime 3x).
func quantizeIQ3S(y []byte, x []float32, qw []float32) {
	g := iqGridFor(tensor.IQ3_S)
	var scales [8]float32
	var weight, xval, waux [32]float32
	var L [32]int8
	var signs [4]uint8
	for ibl := range len(x) / qkK {
		blk := y[ibl*110 : (ibl+1)*110]
		qs, qh, sg, sc := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		clear(blk)
		var maxScale float32
		// ggml advances its qs and signs pointers only past groups that are not all
		// zero, so a zero group's slots go to the next group (and the tail stays zero);
		// qh and the scales stay indexed by group.
		next := 0
		sigma2 := 2 * sumSquares(xbl) / qkK
		for ib := range 8 {
			xb := xbl[32*ib : 32*ib+32]
			var w []float32
			if qw != nil {
				w = qw[qkK*ibl+32*ib:]
			}
			iq3Weights(weight[:], waux[:], xb, w, sigma2)
			for k := range 4 {
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
			}
			max := xval[0]
			for _, v := range xval[1:] {
				max = cmax(max, v)
			}
			L = [32]int8{}
			if max == 0 {
				scales[ib] = 0
				continue
			}
			scale := iq3Search(g, weight[:], waux[:], xval[:], &L, max, -9, 9, false, true)
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k]
				}
			}
			for k := range 8 {
				gi := int(g.kmap[packLevels(L[4*k:4*k+4], 3)])
				qs[8*next+k] = uint8(gi)
				qh[ib] |= uint8(gi>>8) << k
			}
			copy(sg[4*next:], signs[:])
			next++
			scales[ib] = scale
			maxScale = cmax(maxScale, scale)
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putF16(blk, d*1.033)
		id := 1 / d
		for ib := 0; ib < 8; ib += 2 {
			l1 := cmax(0, cmin(15, nearestInt(0.5*(float32(id*scales[ib])-1))))
			l2 := cmax(0, cmin(15, nearestInt(0.5*(float32(id*scales[ib+1])-1))))
			sc[ib/2] = uint8(l1 | l2<<4)
		}
	}
}
