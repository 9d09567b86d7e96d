package blas

import (
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

// convTileFunc computes the mr x nr (or mr x nr/2 for a half tile) tile
//
//	C = (packed A strip) * B (+ C when acc != 0)
//
// over kc steps, where row p of B is the nr values at b + offs[p] floats: an im2col
// row read in place from an image stored in a ShiftLayout, so B is never packed.
// a holds kc groups of mr values; c is row-major with stride ldc.
type convTileFunc func(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int)

// convInPlaceSlack is how many floats past the last offset + n an image must hold for
// the in-place tiles: the last column tile reads nr values whatever its width.
const convInPlaceSlack = 16

// sgemmShiftedInPlace is SgemmShifted with alpha 1 and beta 0, reading B's rows in
// place through the tiles of the current kernel. It reports false, having done
// nothing, when the kernel has no such tiles or x lacks the slack the last column
// tile reads past n.
func sgemmShiftedInPlace(threads int, w *PackedA, x []float32, offs []int, n int, c []float32, ldc int) bool {
	full, half, ok := convTiles(kernel)
	if !ok || w.mr != kernel.mr {
		return false
	}
	nr := kernel.nr
	tiles := (n + nr - 1) / nr
	maxOff := 0
	for _, o := range offs {
		maxOff = max(maxOff, o)
	}
	if maxOff+tiles*nr > len(x) {
		return false
	}
	run := func(r0, r1, t0, t1 int) {
		convInPlaceBlock(w, x, offs, n, c, ldc, full, half, r0, r1, t0, t1)
	}
	t := parallel.Threads(threads)
	if t <= 1 || w.m*n*w.k < parallelMinFlops {
		run(0, w.m, 0, tiles)
		return true
	}
	if tiles >= 4*t {
		// Columns: each goroutine reads its own part of the image.
		parallel.For(t, tiles, 1, func(lo, hi int) { run(0, w.m, lo, hi) })
		return true
	}
	// Few columns (small images): split the output channels, in whole strips.
	strips := (w.m + w.mr - 1) / w.mr
	parallel.For(t, strips, 1, func(lo, hi int) { run(lo*w.mr, min(hi*w.mr, w.m), 0, tiles) })
	return true
}

// convInPlaceBlock computes rows [r0, r1) (r0 a multiple of mr) and column tiles
// [t0, t1) of C = W * B serially.
func convInPlaceBlock(w *PackedA, x []float32, offs []int, n int, c []float32, ldc int, full, half convTileFunc, r0, r1, t0, t1 int) {
	mr, nr := w.mr, kernel.nr
	mpAll := (w.m + mr - 1) / mr
	var tile [16 * 16]float32
	for pc := 0; pc < w.k; pc += gemmKC {
		kc := min(gemmKC, w.k-pc)
		acc := 0
		if pc > 0 {
			acc = 1
		}
		o := &offs[pc]
		for ic := r0; ic < r1; ic += gemmMC {
			mcb := min(gemmMC, r1-ic)
			ap := w.data[pc*mpAll*mr+ic*kc:]
			for jt := t0; jt < t1; jt++ {
				j := jt * nr
				nrb := min(nr, n-j)
				b := &x[j]
				for ir := 0; ir < mcb; ir += mr {
					mrb := min(mr, mcb-ir)
					pa := &ap[ir*kc]
					off := (ic+ir)*ldc + j
					if mrb == mr && nrb == nr {
						full(kc, pa, b, o, &c[off], ldc, acc)
						continue
					}
					fn := full
					if nrb <= nr/2 && half != nil {
						fn = half
					}
					fn(kc, pa, b, o, &tile[0], nr, 0)
					mergeTile(c[off:], ldc, tile[:], nr, mrb, nrb, float32(acc))
				}
			}
		}
	}
}

// convTile4x4 is the portable in-place tile (mr = nr = 4).
func convTile4x4(kc int, pa, pb *float32, poffs *int, pc *float32, ldc int, acc int) {
	a := floats(pa, 4*kc)
	offs := unsafe.Slice(poffs, kc)
	var c00, c01, c02, c03, c10, c11, c12, c13 float32
	var c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p, off := range offs {
		b := (*[4]float32)(unsafe.Add(unsafe.Pointer(pb), off*4))
		a0, a1, a2, a3 := a[4*p], a[4*p+1], a[4*p+2], a[4*p+3]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	c := floats(pc, 3*ldc+4)
	beta := float32(acc)
	storeRow4(c[0:4:4], 1, beta, c00, c01, c02, c03)
	storeRow4(c[ldc:ldc+4:ldc+4], 1, beta, c10, c11, c12, c13)
	storeRow4(c[2*ldc:2*ldc+4:2*ldc+4], 1, beta, c20, c21, c22, c23)
	storeRow4(c[3*ldc:3*ldc+4:3*ldc+4], 1, beta, c30, c31, c32, c33)
}
