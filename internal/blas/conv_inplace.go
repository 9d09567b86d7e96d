package blas

import (
	"fmt"
	"math/bits"
	goruntime "runtime"
	"sync"
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

// convTileEpiFunc is a convTileFunc for the last block of k that stores the output
// of a convolution instead of C: see convTile16x16EpiAVX512.
type convTileEpiFunc func(kc int, a, b *float32, offs *int, c *float32, ldc int, acc int, bias *float32, relu int, y *float32, ldy int, mask, storeMask int)

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
		convInPlaceBlock(w, x, offs, n, c, ldc, full, half, nil, r0, r1, t0, t1)
	}
	splitInPlace(threads, w, n, tiles, run)
	return true
}

// splitInPlace runs the column tiles [0, tiles) and all rows of an in-place product
// over up to threads goroutines.
func splitInPlace(threads int, w *PackedA, n, tiles int, run func(r0, r1, t0, t1 int)) {
	t := parallel.Threads(threads)
	if t <= 1 || w.m*n*w.k < parallelMinFlops {
		run(0, w.m, 0, tiles)
		return
	}
	if tiles >= 4*t {
		// Columns: each goroutine reads its own part of the image.
		parallel.For(t, tiles, 1, func(lo, hi int) { run(0, w.m, lo, hi) })
		return
	}
	// Few columns (small images): split the output channels, in whole strips.
	strips := (w.m + w.mr - 1) / w.mr
	parallel.For(t, strips, 1, func(lo, hi int) { run(lo*w.mr, min(hi*w.mr, w.m), 0, tiles) })
}

// Steady convolutions allocate nothing: a run of a network makes thousands of calls.
var (
	convOutFree = freeList[convOut]{limit: 16}
	tileFree    = freeList[[16 * 16]float32]{limit: 4 + 2*goruntime.NumCPU()}
)

func newConvOut() *convOut {
	o := new(convOut)
	o.runBlock = o.block // made once: a method value passed on escapes
	return o
}

func newTile() *[16 * 16]float32 { return new([16 * 16]float32) }

// convOut is where the last block of k of an in-place product stores a
// convolution's output instead of C.
type convOut struct {
	full, half   convTileEpiFunc
	bias         []float32 // per output channel (zeros when the node has none)
	relu         int
	y            []float32 // m x ldy
	ldy          int
	rowLen, outW int        // column q of the product is output (q/rowLen, q%rowLen) when q%rowLen < outW
	tiles        []tileMask // per column tile

	// The product convInPlaceBlock computes, for block.
	w          *PackedA
	x, partial []float32
	offs       []int
	n          int
	fullT      convTileFunc
	halfT      convTileFunc
	runBlock   func(r0, r1, t0, t1 int) // block
}

// block computes rows [r0, r1) and column tiles [t0, t1) of o's product.
func (o *convOut) block(r0, r1, t0, t1 int) {
	convInPlaceBlock(o.w, o.x, o.offs, o.n, o.partial, o.n, o.fullT, o.halfT, o, r0, r1, t0, t1)
}

// tileMask is which columns of a tile are output positions (bit jj for column jj),
// the low popcount(mask) bits, and the output index of the first of them.
type tileMask struct{ mask, store, out int }

// SgemmShiftedOut computes a convolution's output directly: y[i][p] = (W*B)[i][q] +
// bias[i], Relu'd (max(0, v), NaN kept) when relu, for every output position p =
// oh*OutW + ow and its column q = oh*l.RowLen + ow of the product W*B, B the im2col
// matrix of an image x stored in layout l (l.Fill, with geometry g). bias may be nil;
// partial is scratch of at least m*l.N floats (unused when k fits one block of the
// kernel). The product's extra columns are never stored, so no compaction pass
// follows. It reports false, having done nothing, when this CPU's kernel has no
// tiles for it (the caller then uses SgemmShifted).
func SgemmShiftedOut(threads int, w *PackedA, x []float32, l *ShiftLayout, g Conv2D, bias []float32, relu bool, partial, y []float32) bool {
	efull, ehalf, ok := convEpilogueTiles(kernel)
	if !ok || w.mr != kernel.mr {
		return false
	}
	full, half, ok := convTiles(kernel)
	if !ok {
		return false
	}
	m, n, on := w.m, l.N, g.OutH*g.OutW
	switch {
	case len(l.Offsets) != w.k:
		panic(fmt.Sprintf("blas: %d row offsets for packed weights with k = %d", len(l.Offsets), w.k))
	case len(x) < l.Len:
		panic(fmt.Sprintf("blas: image has %d floats, its layout %d", len(x), l.Len))
	case len(y) < m*on || len(partial) < m*n && w.k > gemmKC:
		panic(fmt.Sprintf("blas: output %d or scratch %d floats for %d x %d", len(y), len(partial), m, on))
	case bias != nil && len(bias) < m:
		panic(fmt.Sprintf("blas: %d biases for %d channels", len(bias), m))
	case l.RowLen < g.OutW || (g.OutH-1)*l.RowLen+g.OutW != n:
		panic(fmt.Sprintf("blas: layout %+v does not match geometry %+v", *l, g))
	}
	if m == 0 || on == 0 {
		return true
	}
	if bias == nil {
		bias = make([]float32, m)
	}
	nr := kernel.nr
	tiles := (n + nr - 1) / nr
	out := convOutFree.get(newConvOut)
	defer func() {
		*out = convOut{runBlock: out.runBlock} // keeps no tensor alive
		convOutFree.put(out)
	}()
	*out = convOut{full: efull, half: ehalf, bias: bias, y: y, ldy: on, rowLen: l.RowLen, outW: g.OutW,
		tiles: tileMasks(n, nr, l.RowLen, g.OutW), w: w, x: x, partial: partial, offs: l.Offsets, n: n,
		fullT: full, halfT: half, runBlock: out.runBlock}
	if relu {
		out.relu = 1
	}
	splitInPlace(threads, w, n, tiles, out.runBlock)
	return true
}

// tileMaskCache holds the column masks of SgemmShiftedOut per product width and
// layout: a model repeats a few geometries on every image of every run, and working
// them out (a division per column) cost about a third of a convolution with a small
// k such as MNIST's first (k = 9).
var tileMaskCache struct {
	mu sync.Mutex
	m  map[tileMaskKey][]tileMask
}

type tileMaskKey struct{ n, nr, rowLen, outW int }

// tileMasks returns the (shared, immutable) masks of the column tiles of nr columns
// of a product n columns wide whose column q is output (q/rowLen, q%rowLen) when
// q%rowLen < outW.
func tileMasks(n, nr, rowLen, outW int) []tileMask {
	key := tileMaskKey{n, nr, rowLen, outW}
	c := &tileMaskCache
	c.mu.Lock()
	t, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return t
	}
	t = make([]tileMask, (n+nr-1)/nr)
	for jt := range t {
		t[jt].out = -1
	}
	// Column q is (row, ow): step both instead of dividing per column.
	row, ow := 0, 0
	for q := 0; q < n; q++ {
		if ow < outW {
			tm := &t[q/nr]
			tm.mask |= 1 << (q % nr)
			if tm.out < 0 {
				tm.out = row*outW + ow
			}
		}
		if ow++; ow == rowLen {
			row, ow = row+1, 0
		}
	}
	for jt := range t {
		t[jt].store = 1<<bits.OnesCount(uint(t[jt].mask)) - 1
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= 256 {
		c.m = map[tileMaskKey][]tileMask{} // bounded: hostile models may vary geometries
	}
	c.m[key] = t
	c.mu.Unlock()
	return t
}

// convInPlaceBlock computes rows [r0, r1) (r0 a multiple of mr) and column tiles
// [t0, t1) of C = W * B serially; with out set, the last block of k stores the
// convolution's output there instead (C then holds the partial sums).
func convInPlaceBlock(w *PackedA, x []float32, offs []int, n int, c []float32, ldc int, full, half convTileFunc, out *convOut, r0, r1, t0, t1 int) {
	mr, nr := w.mr, kernel.nr
	mpAll := (w.m + mr - 1) / mr
	tile := tileFree.get(newTile) // reused: the kernels' function values make it escape
	defer tileFree.put(tile)
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
					if out != nil && pc+kc == w.k {
						out.store(jt, ic+ir, mrb, nrb, kc, pa, b, o, c, off, ldc, acc, fullOrHalf(full, half, nrb, nr), tile)
						continue
					}
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

func fullOrHalf(full, half convTileFunc, nrb, nr int) convTileFunc {
	if nrb <= nr/2 && half != nil {
		return half
	}
	return full
}

// store computes the last block of k for the mrb x nrb tile at row i0, column tile jt
// and stores the output positions among its columns to y; off is the tile's offset
// in the partial sums c.
func (o *convOut) store(jt, i0, mrb, nrb, kc int, pa, b *float32, offs *int, c []float32, off, ldc, acc int, plain convTileFunc, tile *[256]float32) {
	tm := o.tiles[jt]
	if tm.mask == 0 {
		return // only the layout's extra columns
	}
	nr := kernel.nr
	mr := kernel.mr
	if mrb == mr {
		fn := o.full
		if nrb < nr {
			fn = nil
			if nrb <= nr/2 {
				fn = o.half
			}
		}
		if fn != nil {
			cp := &tile[0] // not read when acc == 0 (c may then be empty)
			if acc != 0 {
				cp = &c[off]
			}
			fn(kc, pa, b, offs, cp, ldc, acc, &o.bias[i0], o.relu, &o.y[i0*o.ldy+tm.out], o.ldy, tm.mask, tm.store)
			return
		}
	}
	// Ragged edges: the plain tile, then the epilogue in Go.
	plain(kc, pa, b, offs, &tile[0], nr, 0)
	j0 := jt * nr
	for i := 0; i < mrb; i++ {
		bias := o.bias[i0+i]
		row := o.y[(i0+i)*o.ldy:]
		for jj := 0; jj < nrb; jj++ {
			q := j0 + jj
			ow := q % o.rowLen
			if ow >= o.outW {
				continue
			}
			v := tile[i*nr+jj]
			if acc != 0 {
				v += c[off+i*ldc+jj]
			}
			v += bias
			if o.relu != 0 && v < 0 {
				v = 0
			}
			row[q/o.rowLen*o.outW+ow] = v
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
