package blas

import "fmt"

// Conv2D describes one image of a 2-D convolution input (C x H x W, row-major) as the
// k x n matrix im2col(X), where k = Channels*KernelH*KernelW and n = OutH*OutW: row
// p = (c*KernelH + i)*KernelW + j, column q = oh*OutW + ow, and the value is
// X[c][oh*StrideH + i*DilationH - PadTop][ow*StrideW + j*DilationW - PadLeft], or 0
// where that falls in the padding. Zero strides and dilations mean 1.
type Conv2D struct {
	Channels, Height, Width int
	KernelH, KernelW        int
	StrideH, StrideW        int
	DilationH, DilationW    int
	PadTop, PadLeft         int
	OutH, OutW              int
}

// SgemmConv computes C = alpha*W*im2col(x) + beta*C without materializing im2col:
// the columns are gathered from x while B is packed. W is the packed m x k weight
// matrix (k = Channels*KernelH*KernelW), C is m x (OutH*OutW) with row stride ldc.
// For grouped convolutions call it once per group with that group's channels of x.
func SgemmConv(w *PackedA, alpha float32, x []float32, geom Conv2D, beta float32, c []float32, ldc int) {
	if w.mr != kernel.mr {
		panic("blas: PackedA packed for another kernel")
	}
	g := geom.normalized()
	if err := g.check(); err != nil {
		panic(err)
	}
	if k := g.Channels * g.KernelH * g.KernelW; k != w.k {
		panic(fmt.Sprintf("blas: convolution has k = %d, packed weights %d", k, w.k))
	}
	if len(x) < g.Channels*g.Height*g.Width {
		panic(fmt.Sprintf("blas: convolution input has %d elements, want %d", len(x), g.Channels*g.Height*g.Width))
	}
	n := g.OutH * g.OutW
	checkMatrix("C", false, w.m, n, c, ldc)
	call := gemm{m: w.m, n: n, k: w.k, alpha: alpha, packedA: w, b: x, conv: g, isConv: true, beta: beta, c: c, ldc: ldc}
	call.do()
}

func (g Conv2D) normalized() Conv2D {
	for _, v := range []*int{&g.StrideH, &g.StrideW, &g.DilationH, &g.DilationW} {
		if *v == 0 {
			*v = 1
		}
	}
	return g
}

func (g *Conv2D) check() error {
	for _, v := range []int{g.Channels, g.Height, g.Width, g.KernelH, g.KernelW, g.StrideH, g.StrideW,
		g.DilationH, g.DilationW, g.PadTop, g.PadLeft, g.OutH, g.OutW} {
		if v < 0 {
			return fmt.Errorf("blas: negative convolution geometry %+v", *g)
		}
	}
	if g.StrideH == 0 || g.StrideW == 0 || g.DilationH == 0 || g.DilationW == 0 {
		return fmt.Errorf("blas: zero stride or dilation in %+v", *g)
	}
	return nil
}

// packBConv is packB for op(B) = im2col(x): rows [pc, pc+kc) x columns [j0, j0+nc)
// into panels of nr columns, zero-padded past nc.
func packBConv(dst, x []float32, g *Conv2D, pc, kc, j0, nc, nr int) {
	// A panel's columns fall into runs that share an output row; with unit stride
	// each run reads consecutive input values.
	type run struct{ start, n, ih, iw int } // panel column, length, input row/col at tap (0, 0)
	type tap struct{ plane, di, dj int }    // one im2col row: channel offset and kernel tap shift
	var runs [32]run
	var rows [8]tap
	taps := g.KernelH * g.KernelW
	plane := g.Height * g.Width
	// Walk a few im2col rows at a time across all panels: consecutive panels read
	// adjacent input, which the prefetcher follows; one panel at a time would jump
	// between kc places in x.
	for p0 := 0; p0 < kc; p0 += len(rows) {
		p1 := min(p0+len(rows), kc)
		for p := p0; p < p1; p++ {
			c, t := (pc+p)/taps, (pc+p)%taps
			rows[p-p0] = tap{c * plane, t / g.KernelW * g.DilationH, t % g.KernelW * g.DilationW}
		}
		for jp := 0; jp < nc; jp += nr {
			panel := dst[jp*kc : (jp+nr)*kc]
			cols := min(nr, nc-jp)
			q := j0 + jp
			oh, ow := q/g.OutW, q%g.OutW
			nruns := 0
			for j := 0; j < cols; {
				n := min(cols-j, g.OutW-ow)
				runs[nruns] = run{j, n, oh*g.StrideH - g.PadTop, ow*g.StrideW - g.PadLeft}
				nruns++
				j += n
				ow, oh = 0, oh+1
			}
			for p := p0; p < p1; p++ {
				out := panel[p*nr : p*nr+nr]
				tp := rows[p-p0]
				base := x[tp.plane : tp.plane+plane]
				for _, r := range runs[:nruns] {
					seg := out[r.start : r.start+r.n]
					ih := r.ih + tp.di
					if ih < 0 || ih >= g.Height {
						clear(seg)
						continue
					}
					row := base[ih*g.Width : ih*g.Width+g.Width]
					iw := r.iw + tp.dj
					if g.StrideW != 1 {
						for j := range seg {
							if w := iw + j*g.StrideW; w >= 0 && w < g.Width {
								seg[j] = row[w]
							} else {
								seg[j] = 0
							}
						}
						continue
					}
					// Columns j with 0 <= iw+j < Width read row[iw+j]; the rest are padding.
					lo, hi := max(0, -iw), min(len(seg), g.Width-iw)
					if lo >= hi {
						clear(seg)
						continue
					}
					if hi-lo == 16 {
						copy16(seg, row[iw:])
						continue
					}
					if lo > 0 {
						clear(seg[:lo])
					}
					for j, v := range row[iw+lo : iw+hi] {
						seg[lo+j] = v
					}
					if hi < len(seg) {
						clear(seg[hi:])
					}
				}
				if cols < nr {
					clear(out[cols:])
				}
			}
		}
	}
}
