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
func SgemmConv(threads int, w *PackedA, alpha float32, x []float32, geom Conv2D, beta float32, c []float32, ldc int) {
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
	call := gemm{threads: threads, m: w.m, n: n, k: w.k, alpha: alpha, packedA: w, b: x, conv: g, isConv: true, beta: beta, c: c, ldc: ldc}
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

// convRowsPerPass is how many im2col rows packBConv gathers before scattering them
// into the panels: each panel then receives a few consecutive cache lines at once.
const convRowsPerPass = 8

// convScratchLen is the scratch packBConv needs for blocks of up to gemmNC columns.
const convScratchLen = convRowsPerPass * (gemmNC + 32)

// packBConv is packB for op(B) = im2col(x): rows [pc, pc+kc) x columns [j0, j0+nc)
// into panels of nr columns, zero-padded past nc. scratch holds at least
// convRowsPerPass*(nc rounded up to nr) values.
//
// Each im2col row is first gathered contiguously into scratch (straight copies of
// the valid input runs, zeros for the padding), then cut into the panels with
// fixed-size copies; both steps move data without per-element bounds tests.
func packBConv(dst, scratch, x []float32, g *Conv2D, pc, kc, j0, nc, nr int) {
	taps := g.KernelH * g.KernelW
	plane := g.Height * g.Width
	width := (nc + nr - 1) / nr * nr
	oh0, ow0 := j0/g.OutW, j0%g.OutW
	// Tap of im2col row pc+p as channel c, kernel row i, kernel column j, advanced
	// one row at a time (divisions cost more than the copies of small images).
	c, t := pc/taps, pc%taps
	i, j := t/g.KernelW, t%g.KernelW
	for p0 := 0; p0 < kc; p0 += convRowsPerPass {
		p1 := min(p0+convRowsPerPass, kc)
		for p := p0; p < p1; p++ {
			row := scratch[(p-p0)*width : (p-p0+1)*width]
			gatherConvRow(row[:nc], x[c*plane:(c+1)*plane], g, i*g.DilationH, j*g.DilationW, oh0, ow0)
			if nc < width {
				clear(row[nc:])
			}
			if j++; j == g.KernelW {
				j = 0
				if i++; i == g.KernelH {
					i = 0
					c++
				}
			}
		}
		rows := p1 - p0
		for jp := 0; jp < nc; jp += nr {
			panel := dst[jp*kc+p0*nr : jp*kc+p1*nr]
			if nr == 16 {
				for r := 0; r < rows; r++ {
					copy16(panel[r*16:], scratch[r*width+jp:])
				}
				continue
			}
			for r := 0; r < rows; r++ {
				copy(panel[r*nr:r*nr+nr], scratch[r*width+jp:])
			}
		}
	}
}

// gatherConvRow writes the im2col row for kernel tap shift (di, dj) of one channel
// plane of x, from output position (oh, ow) on, into out.
func gatherConvRow(out, plane []float32, g *Conv2D, di, dj, oh, ow int) {
	sw := g.StrideW
	// Output columns [lo, hi) read inside the input row; the rest are padding.
	lo, hi := max(g.PadLeft-dj, 0), max(g.Width+g.PadLeft-dj, 0)
	switch sw {
	case 1:
	case 2:
		lo, hi = (lo+1)>>1, (hi+1)>>1
	default:
		lo, hi = (lo+sw-1)/sw, (hi+sw-1)/sw
	}
	lo, hi = min(lo, g.OutW), min(hi, g.OutW)
	hi = max(hi, lo)
	for len(out) > 0 {
		n := min(len(out), g.OutW-ow)
		seg := out[:n]
		out = out[n:]
		ih := oh*g.StrideH + di - g.PadTop
		oh++
		if ih < 0 || ih >= g.Height {
			clear(seg)
			ow = 0
			continue
		}
		a, b := min(max(lo-ow, 0), n), min(max(hi-ow, 0), n)
		if a > 0 {
			zeroShort(seg[:a])
		}
		if a < b {
			start := ih*g.Width + (ow+a)*sw + dj - g.PadLeft
			switch sw {
			case 1:
				if b-a > 32 {
					copy(seg[a:b], plane[start:start+b-a])
					break
				}
				copyShort(seg[a:b], plane[start:start+b-a])
			case 2:
				gatherStride2(seg[a:b], plane[start:start+2*(b-a)-1])
			default:
				src := plane[start : start+sw*(b-a-1)+1]
				for j := range seg[a:b] {
					seg[a+j] = src[j*sw]
				}
			}
		}
		if b < n {
			zeroShort(seg[b:])
		}
		ow = 0
	}
}

// gatherStride2 sets dst[j] = src[2*j]; len(src) == 2*len(dst)-1.
func gatherStride2(dst, src []float32) {
	for len(dst) >= 4 && len(src) >= 8 {
		dst[0], dst[1], dst[2], dst[3] = src[0], src[2], src[4], src[6]
		dst, src = dst[4:], src[8:]
	}
	for j := range dst {
		dst[j] = src[2*j]
	}
}

// copyShort copies len(dst) == len(src) values four at a time: for the short runs of
// small images a memmove call costs more than the copy.
func copyShort(dst, src []float32) {
	src = src[:len(dst)]
	for len(dst) >= 4 && len(src) >= 4 {
		*(*[4]float32)(dst) = *(*[4]float32)(src)
		dst, src = dst[4:], src[4:]
	}
	for j := range dst {
		dst[j] = src[j]
	}
}

// zeroShort clears the few padding columns at a row's edges without a memclr call.
func zeroShort(dst []float32) {
	switch len(dst) {
	case 1:
		dst[0] = 0
	case 2:
		dst[0], dst[1] = 0, 0
	case 3:
		dst[0], dst[1], dst[2] = 0, 0, 0
	default:
		clear(dst)
	}
}
