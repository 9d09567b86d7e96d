package blas

import "fmt"

// ShiftLayout stores the input of a stride-1 convolution so that every row of its
// im2col matrix is one contiguous run of the stored image: the row for channel c and
// kernel tap (i, j) is x[Offsets[p] : Offsets[p]+N] with p = (c*KernelH + i)*KernelW + j.
//
// Each image row is stored after Gap zeros (RowLen = Width + Gap floats per row), so
// the zeros that pad one row on the right are the zeros before the next row, and
// PadTop zero rows precede each channel plane (PlaneLen floats). Output (oh, ow) is
// column oh*RowLen + ow of the product: the Gap columns per output row past OutW are
// computed and discarded. Packing B then only copies 16-wide runs, with no gather
// and no bounds tests per element; the price is Gap/Width more columns.
type ShiftLayout struct {
	Gap, RowLen, PlaneLen int
	Len                   int   // floats of the stored image, zero padding included
	N                     int   // columns of the product
	Offsets               []int // start of each im2col row in the stored image
}

// NewShiftLayout returns the layout for geometry g, or false when g is not a stride-1
// convolution the layout can hold (an output row longer than RowLen).
func NewShiftLayout(g Conv2D) (ShiftLayout, bool) {
	g = g.normalized()
	if g.check() != nil || g.StrideH != 1 || g.StrideW != 1 || g.OutH <= 0 || g.OutW <= 0 ||
		g.Channels <= 0 || g.KernelH <= 0 || g.KernelW <= 0 || g.Height <= 0 || g.Width <= 0 {
		return ShiftLayout{}, false
	}
	extW := (g.KernelW - 1) * g.DilationW
	extH := (g.KernelH - 1) * g.DilationH
	padRight := max(0, g.OutW-1+extW-g.PadLeft-(g.Width-1))
	var l ShiftLayout
	l.Gap = max(g.PadLeft, padRight)
	l.RowLen = g.Width + l.Gap
	if g.OutW > l.RowLen || g.OutW+extW-g.PadLeft > l.RowLen {
		return ShiftLayout{}, false
	}
	rows := max(g.PadTop+g.Height, g.OutH+extH)
	l.PlaneLen = rows * l.RowLen
	l.N = (g.OutH-1)*l.RowLen + g.OutW
	l.Offsets = make([]int, 0, g.Channels*g.KernelH*g.KernelW)
	last := 0
	for c := 0; c < g.Channels; c++ {
		for i := 0; i < g.KernelH; i++ {
			for j := 0; j < g.KernelW; j++ {
				off := c*l.PlaneLen + i*g.DilationH*l.RowLen + l.Gap + j*g.DilationW - g.PadLeft
				l.Offsets = append(l.Offsets, off)
				last = max(last, off)
			}
		}
	}
	// The right padding of a plane's last row is read from the gap after it.
	l.Len = max(last+l.N, g.Channels*l.PlaneLen+l.Gap)
	return l, true
}

// Fill stores the C x Height x Width image x into dst (at least l.Len floats) in the
// layout, zeros included.
func (l *ShiftLayout) Fill(dst, x []float32, g Conv2D) {
	dst = dst[:l.Len]
	x = x[:g.Channels*g.Height*g.Width]
	for c := 0; c < g.Channels; c++ {
		plane := dst[c*l.PlaneLen : (c+1)*l.PlaneLen]
		top := g.PadTop * l.RowLen
		clear(plane[:top])
		for r := 0; r < g.Height; r++ {
			row := plane[top+r*l.RowLen : top+(r+1)*l.RowLen]
			zeroShort(row[:l.Gap])
			copy(row[l.Gap:], x[(c*g.Height+r)*g.Width:][:g.Width])
		}
		clear(plane[top+g.Height*l.RowLen:])
	}
	clear(dst[g.Channels*l.PlaneLen:])
}

// SgemmShifted computes C = alpha*W*B + beta*C where row p of the k x n matrix B is
// x[offs[p] : offs[p]+n]: a convolution over an image stored in a ShiftLayout, with
// offs its Offsets and n its N. W is the packed m x k weight matrix; C is m x n with
// row stride ldc. It panics if an offset or slice is out of range.
func SgemmShifted(threads int, w *PackedA, alpha float32, x []float32, offs []int, n int, beta float32, c []float32, ldc int) {
	if w.mr != kernel.mr {
		panic("blas: PackedA packed for another kernel")
	}
	if len(offs) != w.k {
		panic(fmt.Sprintf("blas: %d row offsets for packed weights with k = %d", len(offs), w.k))
	}
	if n < 0 {
		panic(fmt.Sprintf("blas: negative dimension n = %d", n))
	}
	for _, off := range offs {
		if off < 0 || off > len(x)-n {
			panic(fmt.Sprintf("blas: row offset %d of %d columns outside the %d-element image", off, n, len(x)))
		}
	}
	checkMatrix("C", false, w.m, n, c, ldc)
	call := gemm{threads: threads, m: w.m, n: n, k: w.k, alpha: alpha, packedA: w, b: x, offs: offs, beta: beta, c: c, ldc: ldc}
	call.do()
}

// packBShifted is packB for the B of SgemmShifted: rows [pc, pc+kc) x columns
// [j0, j0+nc) into panels of nr columns, zero-padded past nc. Full 16-wide panels are
// straight copies of the image.
func packBShifted(dst, x []float32, offs []int, pc, kc, j0, nc, nr int) {
	full := 0
	if nr == 16 {
		full = nc / 16 * 16
		// A few rows at a time across all panels, as packB, so each panel gets a run
		// of consecutive cache lines.
		const rowsPerPass = 8
		for p0 := 0; p0 < kc; p0 += rowsPerPass {
			p1 := min(p0+rowsPerPass, kc)
			for jp := 0; jp < full; jp += 16 {
				panel := dst[jp*kc : (jp+16)*kc]
				for p := p0; p < p1; p++ {
					copy16(panel[p*16:p*16+16], x[offs[pc+p]+j0+jp:])
				}
			}
		}
	}
	for jp := full; jp < nc; jp += nr {
		panel := dst[jp*kc : (jp+nr)*kc]
		cols := min(nr, nc-jp)
		for p := 0; p < kc; p++ {
			out := panel[p*nr : p*nr+nr]
			copy(out, x[offs[pc+p]+j0+jp:][:cols])
			clear(out[cols:])
		}
	}
}
