package ggml

import (
	"sync"

	"github.com/refit-ml/refit/tensor"
)

// The i-quant quantizers search codebooks. As in ggml (iq2xs_init_impl, iq3xs_init_impl),
// the lookup structures are derived from the codebook itself, once, the first time a type
// is used: the grid with level l as 2l+1, a map from every packed point of the level cube
// to its grid index, and for each point off the grid the list of grid points at the
// nwant smallest distinct squared distances, ordered by (distance, index) as ggml's qsort
// leaves them.

// iqGrid is the derived codebook of one i-quant type.
type iqGrid struct {
	dim   int          // elements per grid point: 8 or 4
	bits  uint         // bits per level in a packed point
	kmax  int          // the highest level index rounding may give (ggml's kMaxQ-1)
	grid  [][8]int8    // levels 2l+1, first dim used
	fgrid [][8]float32 // grid as float32, zero past dim (neighbourD2AVX2's rows)
	kmap  []int32      // packed point -> grid index, or -(offset into neighbours)-1
	neigh []uint16     // per off-grid point: count, then grid indices
	soa   iq3Tables    // 4-dimensional grids: the neighbour lists laid out for iq3BatchAVX2
	soa2  iq2Tables    // the IQ2 grids: the neighbour lists laid out for iq2BatchAVX2
}

// iq2Tables holds an IQ2 grid's neighbour lists in steps of 8 packed codes (2 bits per
// level), the last step padded as in iq3Tables; info is as there.
type iq2Tables struct {
	kmap  *int32
	info  *uint32
	codes *uint16
	// The slices the pointers point into.
	infoS  []uint32
	codesS []uint16
}

// buildIQ2Tables fills g.soa2 from g.kmap and g.neigh.
func (g *iqGrid) buildIQ2Tables(codes []uint16) {
	t := &g.soa2
	t.infoS = make([]uint32, len(g.kmap))
	steps := 0
	for u, k := range g.kmap {
		if k < 0 {
			n := (len(g.neighbours(u)) + 7) / 8
			t.infoS[u] = uint32(steps)<<8 | uint32(n)
			steps += n
		}
	}
	t.codesS = make([]uint16, 8*steps)
	for u, k := range g.kmap {
		if k < 0 {
			nb := g.neighbours(u)
			first := int(t.infoS[u] >> 8)
			for e := range 8 * int(t.infoS[u]&0xff) {
				t.codesS[8*first+e] = codes[nb[min(e, len(nb)-1)]]
			}
		}
	}
	t.kmap, t.info, t.codes = &g.kmap[0], &t.infoS[0], &t.codesS[0]
}

// iq3Tables holds a 4-dimensional grid's neighbour lists in steps of 8 (the last padded
// with copies of the list's last entry, whose equal distances at later positions never
// win): per packed point, its first step and step count (info: first<<8 | count, 0 on
// the grid); per step, the 4 coordinates of the 8 entries as columns (coords, 32 floats);
// per entry, its 4 levels (levels, 4 int32s). iq3BatchAVX2 reads it through the pointers.
type iq3Tables struct {
	kmap   *int32
	info   *uint32
	coords *float32
	levels *int32
	// The slices the pointers point into.
	infoS   []uint32
	coordsS []float32
	levelsS []int32
}

// buildIQ3Tables fills g.soa from g.kmap and g.neigh.
func (g *iqGrid) buildIQ3Tables() {
	t := &g.soa
	t.infoS = make([]uint32, len(g.kmap))
	steps := 0
	for u, k := range g.kmap {
		if k < 0 {
			n := (len(g.neighbours(u)) + 7) / 8
			t.infoS[u] = uint32(steps)<<8 | uint32(n)
			steps += n
		}
	}
	t.coordsS = make([]float32, 32*steps)
	t.levelsS = make([]int32, 32*steps)
	for u, k := range g.kmap {
		if k < 0 {
			nb := g.neighbours(u)
			first, n := int(t.infoS[u]>>8), int(t.infoS[u]&0xff)
			for e := range 8 * n {
				j := nb[min(e, len(nb)-1)]
				s, lane := first+e/8, e%8
				for i := range 4 {
					t.coordsS[32*s+8*i+lane] = float32(g.grid[j][i])
					t.levelsS[4*(8*first+e)+i] = int32(g.grid[j][i]-1) / 2
				}
			}
		}
	}
	t.kmap, t.info, t.coords, t.levels = &g.kmap[0], &t.infoS[0], &t.coordsS[0], &t.levelsS[0]
}

var (
	iqGridOnce [6]sync.Once
	iqGrids    [6]*iqGrid
)

// iqGridFor returns the derived codebook for d (IQ1_S and IQ1_M share one).
func iqGridFor(d tensor.DType) *iqGrid {
	var slot, dim, nwant, kmax int
	var bits uint
	switch d {
	case tensor.IQ2_XXS:
		slot, dim, bits, nwant, kmax = 0, 8, 2, 2, 2
	case tensor.IQ2_XS:
		slot, dim, bits, nwant, kmax = 1, 8, 2, 2, 2
	case tensor.IQ2_S:
		slot, dim, bits, nwant, kmax = 2, 8, 2, 1, 2
	case tensor.IQ1_S, tensor.IQ1_M:
		slot, dim, bits, nwant, kmax = 3, 8, 2, 3, 2
	case tensor.IQ3_XXS:
		slot, dim, bits, nwant, kmax = 4, 4, 3, 2, 7
	case tensor.IQ3_S:
		slot, dim, bits, nwant, kmax = 5, 4, 3, 3, 7
	default:
		panic("ggml: no i-quant grid for " + d.String())
	}
	iqGridOnce[slot].Do(func() {
		g := newIQGrid(tensor.IQGridCodes(d), dim, bits, nwant, kmax)
		if slot <= 2 && haveSIMD {
			g.buildIQ2Tables(tensor.IQGridCodes(d))
		}
		iqGrids[slot] = g
	})
	return iqGrids[slot]
}

// newIQGrid derives the map and neighbour lists of a codebook of packed level codes.
// kmapSize follows ggml: for 8 two-bit levels the largest packed point with every level
// below 3 is 0xAAAA, and ggml sizes its map 43692.
func newIQGrid(codes []uint16, dim int, bits uint, nwant, kmax int) *iqGrid {
	g := &iqGrid{dim: dim, bits: bits, kmax: kmax, grid: make([][8]int8, len(codes)), fgrid: make([][8]float32, len(codes))}
	mask := 1<<bits - 1
	for k, c := range codes {
		for i := range dim {
			g.grid[k][i] = int8(2*(int(c)>>(bits*uint(i))&mask) + 1)
			g.fgrid[k][i] = float32(g.grid[k][i])
		}
	}
	kmapSize := 43692
	if dim == 4 {
		kmapSize = 4096
	}
	g.kmap = make([]int32, kmapSize)
	for i := range g.kmap {
		g.kmap[i] = -1
	}
	for k, c := range codes {
		g.kmap[c] = int32(k)
	}
	// Squared distances between odd levels 1..2*mask+1 are small integers: a counting
	// sort by distance, indices ascending within a distance, is ggml's (d2, j) order.
	maxD2 := dim * (2 * mask) * (2 * mask)
	buckets := make([][]uint16, maxD2+1)
	var pos [8]int8
	for p := range g.kmap {
		if g.kmap[p] >= 0 {
			continue
		}
		for i := range dim {
			pos[i] = int8(2*(p>>(bits*uint(i))&mask) + 1)
		}
		for d := range buckets {
			buckets[d] = buckets[d][:0]
		}
		for j := range g.grid {
			d2 := 0
			for i := range dim {
				diff := int(g.grid[j][i]) - int(pos[i])
				d2 += diff * diff
			}
			buckets[d2] = append(buckets[d2], uint16(j))
		}
		start := len(g.neigh)
		g.kmap[p] = -int32(start) - 1
		g.neigh = append(g.neigh, 0)
		have := 0
		for _, b := range buckets {
			if len(b) == 0 {
				continue
			}
			g.neigh = append(g.neigh, b...)
			if have++; have == nwant {
				break
			}
		}
		g.neigh[start] = uint16(len(g.neigh) - start - 1)
	}
	if dim == 4 && haveSIMD { // only the kernels read them
		g.buildIQ3Tables()
	}
	return g
}

// neighbours returns the neighbour list of the off-grid packed point u.
func (g *iqGrid) neighbours(u int) []uint16 {
	nb := g.neigh[-g.kmap[u]-1:]
	return nb[1 : 1+int(nb[0])]
}
