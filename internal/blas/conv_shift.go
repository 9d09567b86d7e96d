package blas

import "fmt"

// ShiftLayout stores the input of a convolution so that every row of its im2col
// matrix is one contiguous run of the stored image: the row for channel c and kernel
// tap (i, j) is x[Offsets[p] : Offsets[p]+N] with p = (c*KernelH + i)*KernelW + j.
// Output (oh, ow) is column oh*RowLen + ow of the product; the RowLen-OutW columns per
// output row past OutW are computed and discarded. Packing B then only copies 16-wide
// runs, with no gather and no bounds tests per element.
//
// Stride 1: each image row is stored after Gap zeros (RowLen = Width + Gap), so the
// zeros that pad one row on the right are the zeros before the next row, and PadTop
// zero rows precede each channel plane. Stride s > 1: each channel is split into its
// s x s phases (the input rows a, a+s, a+2s, ... and columns b, b+s, ..., the padding
// included), each stored as a plane of RowLen-wide rows, so that a strided window
// reads consecutive values of one phase; the split reads the input once.
type ShiftLayout struct {
	Gap, RowLen, PlaneLen int
	Len                   int    // floats of the stored image, zero padding included
	N                     int    // columns of the product
	Offsets               []int  // start of each im2col row in the stored image
	rows                  int    // rows per plane (strided layout)
	phases                []bool // phases some kernel tap reads (strided layout)
}

// NewShiftLayout returns the layout for geometry g, or false when g is one the
// layout cannot hold (at stride 1, pads on both sides wider than the kernel).
func NewShiftLayout(g Conv2D) (ShiftLayout, bool) {
	g = g.normalized()
	if g.check() != nil || g.OutH <= 0 || g.OutW <= 0 ||
		g.Channels <= 0 || g.KernelH <= 0 || g.KernelW <= 0 || g.Height <= 0 || g.Width <= 0 {
		return ShiftLayout{}, false
	}
	extW := (g.KernelW - 1) * g.DilationW
	extH := (g.KernelH - 1) * g.DilationH
	var l ShiftLayout
	l.Offsets = make([]int, 0, g.Channels*g.KernelH*g.KernelW)
	last := 0
	if g.StrideH > 1 || g.StrideW > 1 {
		l.RowLen = g.OutW + extW/g.StrideW
		l.rows = g.OutH + extH/g.StrideH
		l.PlaneLen = l.rows * l.RowLen
		l.phases = make([]bool, g.StrideH*g.StrideW)
		for c := 0; c < g.Channels; c++ {
			for i := 0; i < g.KernelH; i++ {
				for j := 0; j < g.KernelW; j++ {
					I, J := i*g.DilationH, j*g.DilationW
					plane := (c*g.StrideH+I%g.StrideH)*g.StrideW + J%g.StrideW
					l.phases[I%g.StrideH*g.StrideW+J%g.StrideW] = true
					off := plane*l.PlaneLen + I/g.StrideH*l.RowLen + J/g.StrideW
					l.Offsets = append(l.Offsets, off)
					last = max(last, off)
				}
			}
		}
		l.N = (g.OutH-1)*l.RowLen + g.OutW
		l.Len = max(last+l.N+convInPlaceSlack, g.Channels*g.StrideH*g.StrideW*l.PlaneLen)
		return l, true
	}
	padRight := max(0, g.OutW-1+extW-g.PadLeft-(g.Width-1))
	l.Gap = max(g.PadLeft, padRight)
	l.RowLen = g.Width + l.Gap
	if g.OutW > l.RowLen || g.OutW+extW-g.PadLeft > l.RowLen {
		return ShiftLayout{}, false
	}
	rows := max(g.PadTop+g.Height, g.OutH+extH)
	l.PlaneLen = rows * l.RowLen
	l.N = (g.OutH-1)*l.RowLen + g.OutW
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
	l.Len = max(last+l.N+convInPlaceSlack, g.Channels*l.PlaneLen+l.Gap)
	return l, true
}

// Fill stores the C x Height x Width image x into dst (at least l.Len floats) in the
// layout, zeros included. g is the geometry the layout was made for.
func (l *ShiftLayout) Fill(dst, x []float32, g Conv2D) {
	g = g.normalized()
	dst = dst[:l.Len]
	x = x[:g.Channels*g.Height*g.Width]
	if g.StrideH > 1 || g.StrideW > 1 {
		l.fillPhases(dst, x, &g)
		return
	}
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

// fillPhases is Fill for the strided layout: plane (c, a, b) row u, column v holds
// input row u*StrideH + a - PadTop, column v*StrideW + b - PadLeft, or 0 outside.
// Phases no tap reads (all but the first for a 1x1 kernel) are skipped: only the
// discarded columns past OutW can reach them.
func (l *ShiftLayout) fillPhases(dst, x []float32, g *Conv2D) {
	sh, sw := g.StrideH, g.StrideW
	for c := 0; c < g.Channels; c++ {
		src := x[c*g.Height*g.Width : (c+1)*g.Height*g.Width]
		for a := 0; a < sh; a++ {
			for b := 0; b < sw; b++ {
				if !l.phases[a*sw+b] {
					continue
				}
				plane := dst[((c*sh+a)*sw+b)*l.PlaneLen:][:l.PlaneLen]
				// Columns v in [v0, v1) read inside the input row.
				v0 := min(l.RowLen, max(0, (g.PadLeft-b+sw-1)/sw))
				v1 := max(v0, min(l.RowLen, (g.Width+g.PadLeft-b+sw-1)/sw))
				for u := 0; u < l.rows; u++ {
					row := plane[u*l.RowLen : (u+1)*l.RowLen]
					r := u*sh + a - g.PadTop
					if r < 0 || r >= g.Height || v0 == v1 {
						clear(row)
						continue
					}
					zeroShort(row[:v0])
					zeroShort(row[v1:])
					start := r*g.Width + v0*sw + b - g.PadLeft
					seg := row[v0:v1]
					if sw == 2 {
						gatherStride2(seg, src[start:start+2*len(seg)-1])
						continue
					}
					in := src[start : start+sw*(len(seg)-1)+1]
					for k := range seg {
						seg[k] = in[k*sw]
					}
				}
			}
		}
	}
	clear(dst[g.Channels*sh*sw*l.PlaneLen:])
}

// SgemmShifted computes C = alpha*W*B + beta*C where row p of the k x n matrix B is
// x[offs[p] : offs[p]+n]: a convolution over an image stored in a ShiftLayout, with
// offs its Offsets and n its N. W is the packed m x k weight matrix; C is m x n with
// row stride ldc. It panics if an offset or slice is out of range.
//
// With alpha 1, beta 0 and an image of the layout's full Len (which leaves room for
// the last column tile to read whole), B's rows are read in place by the
// micro-kernel, with no packing; otherwise B is packed as in Sgemm.
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
	if alpha == 1 && beta == 0 && w.m > 0 && n > 0 && w.k > 0 && sgemmShiftedInPlace(threads, w, x, offs, n, c, ldc) {
		return
	}
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
