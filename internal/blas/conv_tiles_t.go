package blas

import (
	"fmt"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
)

// Transposed convolution tiles, for small images: the product is computed as
// C^T = im2col(x)^T * W^T, a tile being R consecutive output pixels of one output row
// by a panel of output channels. Every pixel's value is broadcast from the image in
// place (a ShiftLayout) and the weights are packed once, so a row of OutW pixels is
// computed exactly, without the extra columns between rows that SgemmShifted
// computes and drops (an eighth of the work at 7 x 7, a fourteenth at 14 x 14), and
// without the 16-column edges of the other orientation.

// convTileTFunc computes c[i*ldc + j] = sum over p < k of img[offs[p]+i] * b[p*W+j]
// for its R pixels i and the W output channels j of its set.
type convTileTFunc func(k int, img *float32, offs *int, b *float32, c *float32, ldc int)

// convTileSetT is a family of transposed tiles: tiles[R-1] computes R pixels, each
// by width output channels.
type convTileSetT struct {
	name  string
	tiles []convTileTFunc
	width int
}

// goTileSetT is the portable set: one pixel by eight channels.
var goTileSetT = convTileSetT{"go-1x8", []convTileTFunc{convTileTGo}, 8}

// tilesT is the set this CPU runs; tests swap it.
var tilesT = convTileSetsT()[0]

// ConvTRowPixels is how many pixels of an output row the widest transposed tile of
// this CPU computes: longer rows take several tiles.
func ConvTRowPixels() int { return len(tilesT.tiles) }

// ConvWeightsT holds m x k convolution weights packed for SgemmShiftedT: panels of
// width output channels, each k rows of width values (zero past m). Like PackedA it
// is immutable and tied to the process's tiles.
type ConvWeightsT struct {
	m, k, width int
	data        []float32
}

// PackConvT packs the m x k row-major weights w (m output channels, k = input
// channels x kernel area) for SgemmShiftedT.
func PackConvT(m, k int, w []float32) *ConvWeightsT {
	checkMatrix("W", false, m, k, w, max(k, 1))
	width := tilesT.width
	panels := (m + width - 1) / width
	p := &ConvWeightsT{m: m, k: k, width: width, data: make([]float32, panels*k*width)}
	for i := 0; i < m; i++ {
		panel := p.data[i/width*k*width:]
		j := i % width
		for kk, v := range w[i*k : i*k+k] {
			panel[kk*width+j] = v
		}
	}
	return p
}

// ScratchLen is how many floats of scratch SgemmShiftedT needs for an
// output of outPixels positions.
func (p *ConvWeightsT) ScratchLen(outPixels int) int {
	return outPixels * (p.m + p.width - 1) / p.width * p.width
}

// SgemmShiftedT computes a convolution's output as SgemmShiftedOut does (y[i][p] =
// sum of W and the im2col column of output p, + bias[i], Relu'd when relu) through
// the transposed tiles: x is the image in layout l (l.Fill, geometry g), ct scratch of
// p.ScratchLen(OutH*OutW) floats. It reports false, having done nothing, when p was
// packed for other tiles.
func SgemmShiftedT(threads int, p *ConvWeightsT, x []float32, l *ShiftLayout, g Conv2D, bias []float32, relu bool, ct, y []float32) bool {
	set := tilesT
	if p.width != set.width {
		return false
	}
	on := g.OutH * g.OutW
	switch {
	case len(l.Offsets) != p.k:
		panic(fmt.Sprintf("blas: %d row offsets for packed weights with k = %d", len(l.Offsets), p.k))
	case len(x) < l.Len:
		panic(fmt.Sprintf("blas: image has %d floats, its layout %d", len(x), l.Len))
	case len(y) < p.m*on || len(ct) < p.ScratchLen(on):
		panic(fmt.Sprintf("blas: output %d or scratch %d floats for %d x %d", len(y), len(ct), p.m, on))
	case bias != nil && len(bias) < p.m:
		panic(fmt.Sprintf("blas: %d biases for %d channels", len(bias), p.m))
	case l.RowLen < g.OutW || (g.OutH-1)*l.RowLen+g.OutW != l.N:
		panic(fmt.Sprintf("blas: layout %+v does not match geometry %+v", *l, g))
	}
	if p.m == 0 || on == 0 {
		return true
	}
	if p.k == 0 {
		for i := 0; i < p.m; i++ {
			var b float32
			if bias != nil {
				b = bias[i]
			}
			fillOut(y[i*on:(i+1)*on], b, relu)
		}
		return true
	}
	width, rmax := set.width, len(set.tiles)
	panels := (p.m + width - 1) / width
	ldc := panels * width
	run := func(lo, hi int) {
		for pb := lo; pb < hi; pb++ {
			bp := &p.data[pb*p.k*width]
			for oh := 0; oh < g.OutH; oh++ {
				for ow := 0; ow < g.OutW; ow += rmax {
					r := min(rmax, g.OutW-ow)
					set.tiles[r-1](p.k, &x[oh*l.RowLen+ow], &l.Offsets[0], bp, &ct[(oh*g.OutW+ow)*ldc+pb*width], ldc)
				}
			}
			// Back to channel-major, with the bias and Relu.
			for j := 0; j < width && pb*width+j < p.m; j++ {
				i := pb*width + j
				var b float32
				if bias != nil {
					b = bias[i]
				}
				row := y[i*on : (i+1)*on]
				col := ct[pb*width+j:]
				for q := range row {
					v := col[q*ldc] + b
					if relu && v < 0 {
						v = 0
					}
					row[q] = v
				}
			}
		}
	}
	if parallel.Threads(threads) <= 1 || p.m*on*p.k < parallelMinFlops {
		run(0, panels)
	} else {
		parallel.For(threads, panels, 1, run)
	}
	return true
}

// fillOut sets every value of row to b, Relu'd when relu.
func fillOut(row []float32, b float32, relu bool) {
	if relu && b < 0 {
		b = 0
	}
	for i := range row {
		row[i] = b
	}
}

// convTileTGo is the portable transposed tile: one pixel by eight channels.
func convTileTGo(k int, img *float32, offs *int, b *float32, c *float32, ldc int) {
	o := unsafe.Slice(offs, k)
	w := floats(b, 8*k)
	var acc [8]float32
	for p, off := range o {
		v := *(*float32)(unsafe.Add(unsafe.Pointer(img), off*4))
		row := w[8*p : 8*p+8]
		for j := range acc {
			acc[j] += v * row[j]
		}
	}
	copy(floats(c, 8), acc[:])
}
