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
	iqGridOnce[slot].Do(func() { iqGrids[slot] = newIQGrid(tensor.IQGridCodes(d), dim, bits, nwant, kmax) })
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
	return g
}

// neighbours returns the neighbour list of the off-grid packed point u.
func (g *iqGrid) neighbours(u int) []uint16 {
	nb := g.neigh[-g.kmap[u]-1:]
	return nb[1 : 1+int(nb[0])]
}
