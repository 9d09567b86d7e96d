package runtime

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Convolution and pooling over N-d spatial inputs laid out [N, C, D1, D2, ...]:
// Conv (packed weights x im2col rows read in place from a blas.ShiftLayout by the
// micro-kernel, which on AVX-512 also adds the bias, applies Relu and stores the output
// positions (blas.SgemmShiftedOut); the transposed tiles of blas.SgemmShiftedT for
// small outputs such as 7 x 7; im2col gathered while packing, or explicit im2col for
// 3-D and up; a direct kernel with fused multiply-adds for depthwise),
// ConvTranspose (Sgemm + col2im), MaxPool, AveragePool (a fast path for 1-D and 2-D
// windows without dilation), LpPool and the global pools.

func init() {
	Register(Op{Type: "Conv", Since: 1, Kernel: convKernel, ViaFloat32: true})
	Register(Op{Type: "ConvTranspose", Since: 1, Kernel: convTransposeKernel, ViaFloat32: true})
	registerAll(1, true, poolKernel, "AveragePool", "LpPool")
	Register(Op{Type: "MaxPool", Since: 1, Kernel: int8ViaFloat32(poolKernel("MaxPool")), ViaFloat32: true})
	registerAll(1, true, globalPoolKernel, "GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool")
}

// window is the geometry of a sliding window over the spatial dimensions.
type window struct {
	in, kernel, strides, dilations, padBegin, padEnd, out []int64
}

func (w *window) size(dims []int64) int {
	n := 1
	for _, d := range dims {
		n *= int(d)
	}
	return n
}

// newWindow reads kernel_shape-independent attributes (strides, dilations, pads,
// auto_pad) and computes the output size. ceil selects ceil_mode rounding.
func newWindow(n *Node, in, kernel []int64, ceil bool) (*window, error) {
	d := len(in)
	ones := func() []int64 {
		s := make([]int64, d)
		for i := range s {
			s[i] = 1
		}
		return s
	}
	var a attrs
	w := &window{in: in, kernel: kernel}
	w.strides = a.ints(n, "strides", ones())
	w.dilations = a.ints(n, "dilations", ones())
	pads := a.ints(n, "pads", make([]int64, 2*d))
	autoPad := a.str(n, "auto_pad", "NOTSET")
	if a.err != nil {
		return nil, a.err
	}
	if len(w.strides) != d || len(w.dilations) != d || len(pads) != 2*d || len(kernel) != d {
		return nil, fmt.Errorf("strides %v, dilations %v, pads %v or kernel %v do not match %d spatial dims", w.strides, w.dilations, pads, kernel, d)
	}
	w.padBegin, w.padEnd = slices.Clone(pads[:d]), slices.Clone(pads[d:])
	for _, p := range pads {
		if p < 0 {
			return nil, fmt.Errorf("pads %v must not be negative", pads)
		}
	}
	w.out = make([]int64, d)
	for i := 0; i < d; i++ {
		s, dil, k := w.strides[i], w.dilations[i], kernel[i]
		if s <= 0 || dil <= 0 || k <= 0 {
			return nil, fmt.Errorf("strides %v, dilations %v and kernel %v must be positive", w.strides, w.dilations, kernel)
		}
		ext := (k-1)*dil + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			o := (in[i] + s - 1) / s
			total := max(0, (o-1)*s+ext-in[i])
			if autoPad == "SAME_UPPER" {
				w.padBegin[i], w.padEnd[i] = total/2, total-total/2
			} else {
				w.padBegin[i], w.padEnd[i] = total-total/2, total/2
			}
			w.out[i] = o
			continue
		case "VALID":
			w.padBegin[i], w.padEnd[i] = 0, 0
		case "NOTSET", "":
		default:
			return nil, fmt.Errorf("auto_pad %q: %w", autoPad, errUnsupported)
		}
		span := in[i] + w.padBegin[i] + w.padEnd[i] - ext
		if span < 0 {
			return nil, fmt.Errorf("kernel %v with dilations %v is larger than the padded input %v", kernel, w.dilations, in)
		}
		if ceil {
			o := (span+s-1)/s + 1
			if (o-1)*s >= in[i]+w.padBegin[i] {
				o--
			}
			w.out[i] = o
		} else {
			w.out[i] = span/s + 1
		}
	}
	return w, nil
}

// taps precomputes, per spatial dim, the input coordinate for each (kernel tap,
// output position), or -1 where it falls in the padding.
func (w *window) taps() [][]int {
	t := make([][]int, len(w.in))
	for d := range w.in {
		k, o := int(w.kernel[d]), int(w.out[d])
		t[d] = make([]int, k*o)
		for ki := 0; ki < k; ki++ {
			for oi := 0; oi < o; oi++ {
				x := oi*int(w.strides[d]) - int(w.padBegin[d]) + ki*int(w.dilations[d])
				if x < 0 || x >= int(w.in[d]) {
					x = -1
				}
				t[d][ki*o+oi] = x
			}
		}
	}
	return t
}

// im2col writes, for each (channel, kernel tap) row, the input values seen by every
// output position: col is [channels*prod(kernel), prod(out)].
func im2col(threads int, col, x []float32, channels int, w *window, taps [][]int) {
	nd := len(w.in)
	kn := w.size(w.kernel)
	on := w.size(w.out)
	inStr := stridesOf(w.in)
	inSize := w.size(w.in)
	unit := w.strides[nd-1] == 1
	parallel.For(threads, channels*kn, 4, func(lo, hi int) {
		kidx := make([]int, nd)
		oidx := make([]int, nd)
		for row := lo; row < hi; row++ {
			ch, kr := row/kn, row%kn
			for d := nd - 1; d >= 0; d-- {
				kidx[d] = kr % int(w.kernel[d])
				kr /= int(w.kernel[d])
			}
			dst := col[row*on : (row+1)*on]
			src := x[ch*inSize : (ch+1)*inSize]
			clear(oidx)
			last := nd - 1
			olast := int(w.out[last])
			tl := taps[last][kidx[last]*olast : (kidx[last]+1)*olast]
			for o := 0; o < on; o += olast {
				base, ok := 0, true
				for d := 0; d < last; d++ {
					xi := taps[d][kidx[d]*int(w.out[d])+oidx[d]]
					if xi < 0 {
						ok = false
						break
					}
					base += xi * inStr[d]
				}
				seg := dst[o : o+olast]
				switch {
				case !ok:
					clear(seg)
				case unit:
					// Stride 1: the valid taps read a contiguous run of the input row.
					lo, hi := 0, olast
					for lo < hi && tl[lo] < 0 {
						lo++
					}
					for hi > lo && tl[hi-1] < 0 {
						hi--
					}
					clear(seg[:lo])
					clear(seg[hi:])
					if hi > lo {
						copy(seg[lo:hi], src[base+tl[lo]:base+tl[lo]+hi-lo])
					}
				default:
					for i, xi := range tl {
						if xi < 0 {
							seg[i] = 0
						} else {
							seg[i] = src[base+xi]
						}
					}
				}
				for d := last - 1; d >= 0; d-- {
					oidx[d]++
					if oidx[d] < int(w.out[d]) {
						break
					}
					oidx[d] = 0
				}
			}
		}
	})
}

func convKernel(c *Call) ([]*Value, error) {
	x, wt := c.Input(0), c.Input(1)
	if x == nil || wt == nil {
		return nil, fmt.Errorf("needs X and W")
	}
	if x.DType != tensor.F32 || wt.DType != tensor.F32 {
		return nil, fmt.Errorf("only float inputs are supported, have %v and %v", x.DType, wt.DType)
	}
	if len(x.Shape) < 3 || len(wt.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("input X %v and weights W %v must both be [N, C, spatial...]", tensor.Shape(x.Shape), tensor.Shape(wt.Shape))
	}
	group, err := c.Node.Int("group", 1)
	if err != nil {
		return nil, err
	}
	kernel, err := c.Node.Ints("kernel_shape", wt.Shape[2:])
	if err != nil {
		return nil, err
	}
	N, C, M := int(x.Shape[0]), int(x.Shape[1]), int(wt.Shape[0])
	if group <= 0 || C%int(group) != 0 || M%int(group) != 0 || int(wt.Shape[1])*int(group) != C {
		return nil, fmt.Errorf("input X %v, weights W %v and group %d do not agree", tensor.Shape(x.Shape), tensor.Shape(wt.Shape), group)
	}
	if !slices.Equal(kernel, wt.Shape[2:]) {
		return nil, fmt.Errorf("kernel_shape %v does not match W %v", kernel, tensor.Shape(wt.Shape))
	}
	w, err := newWindow(c.Node, x.Shape[2:], kernel, false)
	if err != nil {
		return nil, err
	}
	G := int(group)
	Cg, Mg := C/G, M/G
	var bs []float32
	if bias := c.Input(2); bias != nil {
		var ok bool
		if bs, ok = bias.Data.([]float32); !ok || len(bs) != M {
			return nil, fmt.Errorf("bias %v must be float32 [%d]", bias, M)
		}
	}
	out, err := c.allocRaw(tensor.F32, append([]int64{int64(N), int64(M)}, w.out...))
	if err != nil {
		return nil, err
	}
	y, xs, ws := out.Data.([]float32), x.Data.([]float32), wt.Data.([]float32)
	if Cg == 1 && Mg == 1 && len(w.in) <= 2 {
		depthwise2D(c.Threads(), y, xs, ws, bs, N, C, w, c.Node.relu)
		return []*Value{out}, nil
	}
	rows := Cg * w.size(kernel)
	if len(w.in) > 2 {
		// The explicit im2col buffer of the N-d path.
		if err := c.checkElements(int64(rows) * int64(w.size(w.out))); err != nil {
			return nil, err
		}
	}
	if G == 1 && convWinograd(c, y, xs, bs, w, N, C, M) {
		return []*Value{out}, nil
	}
	if G == 1 {
		if geom, shift, ok := transposedConvPlan(w, Cg); ok {
			pt, ok := preparePacked(c, 1, func(v *Value) *blas.ConvWeightsT { return blas.PackConvT(M, rows, v.Data.([]float32)) })
			if ok && convTransposed(c.Threads(), y, xs, bs, pt, N, M, geom, shift, c.Node.relu) {
				return []*Value{out}, nil
			}
		}
	}
	packed, ok := preparePacked(c, 1, func(v *Value) []*blas.PackedA { return packConvWeights(v.Data.([]float32), G, Mg, rows) })
	if !ok {
		packed = packConvWeights(ws, G, Mg, rows)
	}
	convPacked(c.Threads(), y, xs, bs, packed, N, C, M, G, w, c.Node.relu)
	return []*Value{out}, nil
}

// transposedConvPlan reports whether a 2-D, ungrouped convolution over Cg channels
// runs faster through blas.SgemmShiftedT, with its geometry and layout: when the
// output rows fit the transposed tiles and the columns SgemmShifted computes past the
// output (the layout's gaps, its 16-wide edges) are more than an eighth of the work,
// as at ResNet's 7 x 7 stage. The weights are then packed for those tiles only.
func transposedConvPlan(w *window, Cg int) (blas.Conv2D, *blas.ShiftLayout, bool) {
	if len(w.in) != 2 {
		return blas.Conv2D{}, nil, false
	}
	g := blas.Conv2D{
		Channels: Cg, Height: int(w.in[0]), Width: int(w.in[1]),
		KernelH: int(w.kernel[0]), KernelW: int(w.kernel[1]),
		StrideH: int(w.strides[0]), StrideW: int(w.strides[1]),
		DilationH: int(w.dilations[0]), DilationW: int(w.dilations[1]),
		PadTop: int(w.padBegin[0]), PadLeft: int(w.padBegin[1]),
		OutH: int(w.out[0]), OutW: int(w.out[1]),
	}
	on := g.OutH * g.OutW
	if on == 0 || g.OutW > blas.ConvTRowPixels() ||
		g.PadTop+int(w.padEnd[0]) > g.KernelH*g.DilationH || g.PadLeft+int(w.padEnd[1]) > g.KernelW*g.DilationW {
		return g, nil, false
	}
	l := shiftLayoutFor(g)
	if l == nil || l.N > 2*on+4096 || l.Len > 4*Cg*g.Height*g.Width+65536 {
		return g, nil, false
	}
	computed := l.N / 16 * 16
	if r := l.N % 16; r > 8 {
		computed += 16
	} else if r > 0 {
		computed += 8
	}
	return g, l, computed*8 > on*9
}

// convTransposed runs the images of a convolution planned by transposedConvPlan
// through blas.SgemmShiftedT, or reports false, having done nothing, when p was
// packed for other tiles.
func convTransposed(threads int, y, xs, bs []float32, p *blas.ConvWeightsT, N, M int, g blas.Conv2D, l *blas.ShiftLayout, relu bool) bool {
	inSize, on := g.Channels*g.Height*g.Width, g.OutH*g.OutW
	img := getScratch(l.Len)
	defer putScratch(img)
	ct := getScratch(p.ScratchLen(on))
	defer putScratch(ct)
	for n := 0; n < N; n++ {
		l.Fill(img, xs[n*inSize:(n+1)*inSize], g)
		if !blas.SgemmShiftedT(threads, p, img, l, g, bs, relu, ct, y[n*M*on:(n+1)*M*on]) {
			return false
		}
	}
	return true
}

// packConvWeights packs each group's [Mg, rows] block of the weights for SgemmConv.
func packConvWeights(ws []float32, groups, mg, rows int) []*blas.PackedA {
	p := make([]*blas.PackedA, groups)
	for g := range p {
		p[g] = blas.PackA(false, mg, rows, ws[g*mg*rows:], max(rows, 1))
	}
	return p
}

// convPacked computes y = W * im2col(x) + bias per image and group. 1x1 unit-stride
// convolutions are plain GEMMs on the input; 1-D and 2-D ones gather im2col columns
// inside the GEMM (blas.SgemmConv); others materialize im2col. Small products run
// one per goroutine over images and groups; large ones are split by blas.
func convPacked(threads int, y, xs, bs []float32, packed []*blas.PackedA, N, C, M, G int, w *window, relu bool) {
	Cg, Mg := C/G, M/G
	kn, on, inSize := w.size(w.kernel), w.size(w.out), w.size(w.in)
	rows := Cg * kn
	if on == 0 || Mg == 0 {
		return
	}
	direct := kn == 1 && slices.Equal(w.in, w.out) && allEqual(w.strides, 1) && allEqual(w.padBegin, 0)
	nd := len(w.in)
	var geom blas.Conv2D
	spatialAt := func(s []int64, i int, def int64) int {
		if j := i - (2 - nd); j >= 0 {
			return int(s[j])
		}
		return int(def)
	}
	if nd <= 2 {
		at := spatialAt
		geom = blas.Conv2D{
			Channels: Cg, Height: at(w.in, 0, 1), Width: at(w.in, 1, 1),
			KernelH: at(w.kernel, 0, 1), KernelW: at(w.kernel, 1, 1),
			StrideH: at(w.strides, 0, 1), StrideW: at(w.strides, 1, 1),
			DilationH: at(w.dilations, 0, 1), DilationW: at(w.dilations, 1, 1),
			PadTop: at(w.padBegin, 0, 0), PadLeft: at(w.padBegin, 1, 0),
			OutH: at(w.out, 0, 1), OutW: at(w.out, 1, 1),
		}
	}
	// Pre-padding copies the image: only when the pads are at most the kernel size
	// (hostile pads would make the copy huge).
	smallPads := nd <= 2 && geom.PadTop+spatialAt(w.padEnd, 0, 0) <= geom.KernelH*geom.DilationH &&
		geom.PadLeft+spatialAt(w.padEnd, 1, 0) <= geom.KernelW*geom.DilationW
	// 2-D convolutions store the image so that every im2col row is a contiguous run
	// (blas.ShiftLayout: strided ones split into phases): packing is then a plain
	// copy, and the bias and Relu epilogue doubles as the copy that drops the
	// layout's extra columns.
	var shift *blas.ShiftLayout
	if !direct && smallPads {
		shift = shiftLayoutFor(geom)
	}
	// The layout's image and the product's discarded columns must stay within a
	// small factor of the input and the output (a kernel as wide as a long row would
	// otherwise multiply the product's width), or the gather path is used.
	shifted := shift != nil && shift.N <= 2*on+4096 && shift.Len <= 4*Cg*inSize+65536
	one := func(n, g int, col []float32, threads int, par bool) {
		xg := xs[(n*C+g*Cg)*inSize : (n*C+(g+1)*Cg)*inSize]
		yg := y[(n*M+g*Mg)*on : (n*M+(g+1)*Mg)*on]
		switch {
		case shifted:
			img := getScratch(shift.Len)
			shift.Fill(img, xg, geom)
			var bg []float32
			if bs != nil {
				bg = bs[g*Mg : (g+1)*Mg]
			}
			// Where the kernel can, its last block of k adds the bias, applies Relu and
			// stores only the output positions: no compaction or epilogue pass.
			partial := getScratch(Mg * shift.N)
			done := blas.SgemmShiftedOut(threads, packed[g], img, shift, geom, bg, relu, partial, yg)
			putScratch(partial)
			if done {
				putScratch(img)
				return
			}
			if shift.N == on {
				blas.SgemmShifted(threads, packed[g], 1, img, shift.Offsets, on, 0, yg, on)
				putScratch(img)
				break
			}
			wide := getScratch(Mg * shift.N)
			blas.SgemmShifted(threads, packed[g], 1, img, shift.Offsets, shift.N, 0, wide, shift.N)
			putScratch(img)
			compact := func(lo, hi int) {
				for m := lo; m < hi; m++ {
					var b float32
					if bs != nil {
						b = bs[g*Mg+m]
					}
					plane := yg[m*on : (m+1)*on]
					src := wide[m*shift.N:]
					if geom.OutW <= 32 {
						// Short rows: a memmove call per row costs more than the copy.
						for oh := 0; oh < geom.OutH; oh++ {
							copyFloats(plane[oh*geom.OutW:][:geom.OutW], src[oh*shift.RowLen:])
						}
					} else {
						for oh := 0; oh < geom.OutH; oh++ {
							copy(plane[oh*geom.OutW:][:geom.OutW], src[oh*shift.RowLen:])
						}
					}
					// One vector pass over the whole plane, not a short call per row.
					biasActivation(plane, b, relu)
				}
			}
			if par {
				parallel.For(threads, Mg, max(1, 16384/on), compact)
			} else {
				compact(0, Mg)
			}
			putScratch(wide)
			return
		case direct:
			blas.SgemmPackedA(threads, packed[g], false, on, 1, xg, on, 0, yg, on)
		case nd <= 2 && geom.StrideW > 1 && col != nil:
			// Strided: a tight explicit im2col, then a GEMM whose packing only copies.
			im2col2D(threads, col, xg, &geom)
			blas.SgemmPackedA(threads, packed[g], false, on, 1, col, on, 0, yg, on)
		case nd <= 2 && (geom.PadTop > 0 || geom.PadLeft > 0) && smallPads:
			// Zero-pad a copy of the image first: the column gather then never clips
			// at the borders and copies whole 16-wide runs more often.
			pg := geom
			pg.Height = geom.Height + geom.PadTop + spatialAt(w.padEnd, 0, 0)
			pg.Width = geom.Width + geom.PadLeft + spatialAt(w.padEnd, 1, 0)
			pg.PadTop, pg.PadLeft = 0, 0
			buf := getScratch(Cg * pg.Height * pg.Width)
			padImage(buf, xg, Cg, geom.Height, geom.Width, pg.Height, pg.Width, geom.PadTop, geom.PadLeft)
			blas.SgemmConv(threads, packed[g], 1, buf, pg, 0, yg, on)
			putScratch(buf)
		case nd <= 2:
			blas.SgemmConv(threads, packed[g], 1, xg, geom, 0, yg, on)
		default:
			im2col(threads, col, xg, Cg, w, w.taps())
			blas.SgemmPackedA(threads, packed[g], false, on, 1, col, on, 0, yg, on)
		}
		if bs == nil && !relu {
			return
		}
		epilogue := func(lo, hi int) {
			for m := lo; m < hi; m++ {
				var b float32
				if bs != nil {
					b = bs[g*Mg+m]
				}
				biasActivation(yg[m*on:(m+1)*on], b, relu)
			}
		}
		if par {
			parallel.For(threads, Mg, max(1, 16384/on), epilogue)
		} else {
			epilogue(0, Mg)
		}
	}
	var col []float32
	if !direct && !shifted && (nd > 2 || geom.StrideW > 1 && N*G == 1) {
		col = getScratch(rows * on)
		defer putScratch(col)
	}
	jobs := N * G
	if jobs > 1 && Mg*on*rows < 1<<21 && col == nil {
		parallel.For(threads, jobs, 1, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				one(j/G, j%G, nil, 1, false)
			}
		})
		return
	}
	if t := parallel.Threads(threads); t > 1 && jobs >= 2*t && col == nil {
		// Enough images (or groups) for every thread: one product per goroutine
		// splits the work without the per-product fork-join and repeated packing.
		parallel.ForChunks(threads, jobs, 1, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				one(j/G, j%G, nil, 1, false)
			}
		})
		return
	}
	for n := 0; n < N; n++ {
		for g := 0; g < G; g++ {
			one(n, g, col, threads, true)
		}
	}
}

// copyFloats copies len(dst) values from src with fixed-size moves from both ends
// (overlapping in the middle) up to 32 values: for the short rows of small images a
// memmove call or a loop costs more than the copy. The moves are of [4]float32,
// which the compiler keeps in registers (longer arrays become memmove calls).
func copyFloats(dst, src []float32) {
	n := len(dst)
	src = src[:n]
	switch {
	case n >= 16 && n <= 32:
		d, s := dst[n-16:], src[n-16:]
		*(*[4]float32)(dst) = *(*[4]float32)(src)
		*(*[4]float32)(dst[4:]) = *(*[4]float32)(src[4:])
		*(*[4]float32)(dst[8:]) = *(*[4]float32)(src[8:])
		*(*[4]float32)(dst[12:]) = *(*[4]float32)(src[12:])
		*(*[4]float32)(d) = *(*[4]float32)(s)
		*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
		*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
		*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
	case n >= 8 && n < 16:
		d, s := dst[n-8:], src[n-8:]
		*(*[4]float32)(dst) = *(*[4]float32)(src)
		*(*[4]float32)(dst[4:]) = *(*[4]float32)(src[4:])
		*(*[4]float32)(d) = *(*[4]float32)(s)
		*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	case n >= 4 && n < 8:
		*(*[4]float32)(dst) = *(*[4]float32)(src)
		*(*[4]float32)(dst[n-4:]) = *(*[4]float32)(src[n-4:])
	default:
		copy(dst, src)
	}
}

// shiftLayouts caches layouts by geometry: a model's convolutions repeat a few
// geometries on every run, and a layout holds one offset per im2col row.
var shiftLayouts struct {
	mu sync.Mutex
	m  map[blas.Conv2D]*blas.ShiftLayout
}

// shiftLayoutFor returns the (shared, immutable) layout for g, or nil when g has none.
func shiftLayoutFor(g blas.Conv2D) *blas.ShiftLayout {
	shiftLayouts.mu.Lock()
	defer shiftLayouts.mu.Unlock()
	if l, ok := shiftLayouts.m[g]; ok {
		return l
	}
	var lp *blas.ShiftLayout
	if l, ok := blas.NewShiftLayout(g); ok {
		lp = &l
	}
	if shiftLayouts.m == nil || len(shiftLayouts.m) >= 256 {
		shiftLayouts.m = make(map[blas.Conv2D]*blas.ShiftLayout)
	}
	shiftLayouts.m[g] = lp
	return lp
}

// padImage copies C planes of h x w into hp x wp planes at (top, left) and zeroes
// the border.
func padImage(dst, src []float32, C, h, w, hp, wp, top, left int) {
	clear(dst[:C*hp*wp])
	for c := 0; c < C; c++ {
		for i := 0; i < h; i++ {
			copy(dst[(c*hp+top+i)*wp+left:][:w], src[(c*h+i)*w:][:w])
		}
	}
}

// scratch recycles im2col and padding buffers; users overwrite every element they
// read. Unlike sync.Pool it survives garbage collections and is shared by all Ps, so
// steady runs do not fault in fresh pages for multi-megabyte buffers.
var scratch struct {
	mu   sync.Mutex
	free [][]float32
}

func getScratch(n int) []float32 {
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	// The smallest buffer that fits: taking the first would hand a large one to a
	// small request and make the next large request allocate, every Run.
	best := -1
	for i, b := range scratch.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(scratch.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := scratch.free[best]
		last := len(scratch.free) - 1
		scratch.free[best] = scratch.free[last]
		scratch.free[last] = nil
		scratch.free = scratch.free[:last]
		return b[:n]
	}
	return make([]float32, n)
}

func putScratch(s []float32) {
	scratch.mu.Lock()
	defer scratch.mu.Unlock()
	if len(scratch.free) < 8 {
		scratch.free = append(scratch.free, s)
		return
	}
	// Full: replace the smallest buffer if s is larger.
	small := 0
	for i, b := range scratch.free {
		if cap(b) < cap(scratch.free[small]) {
			small = i
		}
	}
	if cap(s) > cap(scratch.free[small]) {
		scratch.free[small] = s
	}
}

// im2col2D writes im2col(x) for geometry g (k = Channels*KernelH*KernelW rows of
// OutH*OutW columns) into col.
func im2col2D(threads int, col, x []float32, g *blas.Conv2D) {
	on := g.OutH * g.OutW
	plane := g.Height * g.Width
	taps := g.KernelH * g.KernelW
	parallel.For(threads, g.Channels*taps, max(1, 32768/max(1, on)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			c, i, j := p/taps, p%taps/g.KernelW, p%g.KernelW
			src := x[c*plane : (c+1)*plane]
			dst := col[p*on:][:on]
			off := j*g.DilationW - g.PadLeft
			c0 := 0
			if off < 0 {
				c0 = min(g.OutW, (-off+g.StrideW-1)/g.StrideW)
			}
			c1 := 0
			if g.Width-1-off >= 0 {
				c1 = max(c0, min(g.OutW, (g.Width-1-off)/g.StrideW+1))
			}
			for oh := 0; oh < g.OutH; oh++ {
				out := dst[oh*g.OutW : (oh+1)*g.OutW]
				ih := oh*g.StrideH + i*g.DilationH - g.PadTop
				if ih < 0 || ih >= g.Height {
					clear(out)
					continue
				}
				clear(out[:c0])
				clear(out[c1:])
				seg := out[c0:c1]
				if len(seg) == 0 {
					continue
				}
				base := ih*g.Width + c0*g.StrideW + off
				r := src[base : base+(len(seg)-1)*g.StrideW+1]
				if g.StrideW == 2 {
					for k := range seg {
						seg[k] = r[2*k]
					}
					continue
				}
				for k := range seg {
					seg[k] = r[k*g.StrideW]
				}
			}
		}
	})
}

func fill(s []float32, v float32) {
	if v == 0 {
		clear(s)
		return
	}
	for i := range s {
		s[i] = v
	}
}

func allEqual(s []int64, v int64) bool {
	for _, x := range s {
		if x != v {
			return false
		}
	}
	return true
}

// depthwise2D convolves each channel with its own filter (group == C == M) over one
// or two spatial dims, with bias when bs is not nil. y is fully written.
func depthwise2D(threads int, y, x, wt, bs []float32, N, C int, w *window, relu bool) {
	nd := len(w.in)
	at := func(s []int64, i int, def int64) int {
		if j := i - (2 - nd); j >= 0 {
			return int(s[j])
		}
		return int(def)
	}
	H, W := at(w.in, 0, 1), at(w.in, 1, 1)
	KH, KW := at(w.kernel, 0, 1), at(w.kernel, 1, 1)
	SH, SW := at(w.strides, 0, 1), at(w.strides, 1, 1)
	DH, DW := at(w.dilations, 0, 1), at(w.dilations, 1, 1)
	PT, PL := at(w.padBegin, 0, 0), at(w.padBegin, 1, 0)
	OH, OW := at(w.out, 0, 1), at(w.out, 1, 1)
	on, inSize := OH*OW, H*W
	parallel.For(threads, N*C, max(1, 4096/max(1, on*KH*KW)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % C
			src := x[p*inSize : (p+1)*inSize]
			dst := y[p*on : (p+1)*on]
			var b float32
			if bs != nil {
				b = bs[ch]
			}
			fill(dst, b)
			for i := 0; i < KH; i++ {
				for j := 0; j < KW; j++ {
					v := wt[(ch*KH+i)*KW+j]
					off := j*DW - PL // input column of output column 0
					// Output columns whose input column ow*SW+off lies in [0, W).
					c0 := 0
					if off < 0 {
						c0 = (-off + SW - 1) / SW
					}
					c1 := 0
					if W-1-off >= 0 {
						c1 = min(OW, (W-1-off)/SW+1)
					}
					if c0 >= c1 {
						continue
					}
					for oh := 0; oh < OH; oh++ {
						ih := oh*SH + i*DH - PT
						if ih < 0 || ih >= H {
							continue
						}
						row := src[ih*W : (ih+1)*W]
						d := dst[oh*OW+c0 : oh*OW+c1]
						// Fused multiply-adds (one rounding per tap), as ONNX Runtime does.
						if SW == 1 {
							blas.FMARow(d, row[c0+off:c1+off], v)
							continue
						}
						var gathered [64]float32
						for k0 := 0; k0 < len(d); k0 += len(gathered) {
							seg := d[k0:min(k0+len(gathered), len(d))]
							g := gathered[:len(seg)]
							for k := range g {
								g[k] = row[(c0+k0+k)*SW+off]
							}
							blas.FMARow(seg, g, v)
						}
					}
				}
			}
			if relu {
				biasActivation(dst, 0, true)
			}
		}
	})
}

// biasActivation adds b to every element of s, then applies Relu when relu is set.
func biasActivation(s []float32, b float32, relu bool) {
	blas.BiasRelu(s, b, relu) // vectorized; negatives cleared through the sign bit
}

func convTransposeKernel(c *Call) ([]*Value, error) {
	x, wt := c.Input(0), c.Input(1)
	if x == nil || wt == nil || x.DType != tensor.F32 || wt.DType != tensor.F32 {
		return nil, fmt.Errorf("needs float X and W")
	}
	if len(x.Shape) < 3 || len(wt.Shape) != len(x.Shape) {
		return nil, fmt.Errorf("input X %v and weights W %v must both be [N, C, spatial...]", tensor.Shape(x.Shape), tensor.Shape(wt.Shape))
	}
	nd := len(x.Shape) - 2
	var a attrs
	group := int(a.int(c.Node, "group", 1))
	kernel := a.ints(c.Node, "kernel_shape", wt.Shape[2:])
	ones := make([]int64, nd)
	for i := range ones {
		ones[i] = 1
	}
	strides := a.ints(c.Node, "strides", ones)
	dil := a.ints(c.Node, "dilations", ones)
	pads := a.ints(c.Node, "pads", make([]int64, 2*nd))
	outPad := a.ints(c.Node, "output_padding", make([]int64, nd))
	outShape := a.ints(c.Node, "output_shape", nil)
	autoPad := a.str(c.Node, "auto_pad", "NOTSET")
	if a.err != nil {
		return nil, a.err
	}
	N, C := int(x.Shape[0]), int(x.Shape[1])
	if group <= 0 || C%group != 0 || int(wt.Shape[0]) != C || len(kernel) != nd || len(strides) != nd || len(dil) != nd || len(pads) != 2*nd || len(outPad) != nd {
		return nil, fmt.Errorf("input X %v, weights W %v, group %d and attributes do not agree", tensor.Shape(x.Shape), tensor.Shape(wt.Shape), group)
	}
	if !slices.Equal(kernel, wt.Shape[2:]) {
		return nil, fmt.Errorf("kernel_shape %v does not match W %v", kernel, tensor.Shape(wt.Shape))
	}
	for i := 0; i < nd; i++ {
		if kernel[i] <= 0 || strides[i] <= 0 || dil[i] <= 0 || pads[i] < 0 || pads[i+nd] < 0 || outPad[i] < 0 {
			return nil, fmt.Errorf("kernel %v, strides %v and dilations %v must be positive, pads %v and output_padding %v not negative", kernel, strides, dil, pads, outPad)
		}
	}
	if len(outShape) > nd {
		outShape = outShape[len(outShape)-nd:]
	}
	Mg := int(wt.Shape[1])
	M := Mg * group
	in := x.Shape[2:]
	w := &window{in: make([]int64, nd), kernel: kernel, strides: strides, dilations: dil, padBegin: slices.Clone(pads[:nd]), padEnd: slices.Clone(pads[nd:]), out: slices.Clone(in)}
	for i := 0; i < nd; i++ {
		ext := (kernel[i]-1)*dil[i] + 1
		full := strides[i]*(in[i]-1) + outPad[i] + ext
		switch {
		case outShape != nil || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			o := in[i] * strides[i]
			if outShape != nil {
				o = outShape[i]
			}
			total := full - o
			if autoPad == "SAME_LOWER" {
				w.padBegin[i], w.padEnd[i] = total-total/2, total/2
			} else {
				w.padBegin[i], w.padEnd[i] = total/2, total-total/2
			}
			w.in[i] = o
		default:
			if autoPad == "VALID" {
				w.padBegin[i], w.padEnd[i] = 0, 0
			}
			w.in[i] = full - w.padBegin[i] - w.padEnd[i]
		}
		if w.in[i] <= 0 {
			return nil, fmt.Errorf("output size %d on spatial dim %d", w.in[i], i)
		}
	}
	// In window terms the ConvTranspose output is the "input" of a Conv whose output is X.
	Cg := C / group
	kn, xn, yn := w.size(kernel), w.size(in), w.size(w.in)
	out, err := c.Alloc(tensor.F32, append([]int64{int64(N), int64(M)}, w.in...))
	if err != nil {
		return nil, err
	}
	y, xs, ws := out.Data.([]float32), x.Data.([]float32), wt.Data.([]float32)
	rows := Mg * kn
	if err := c.checkElements(int64(rows) * int64(xn)); err != nil {
		return nil, err
	}
	col := make([]float32, rows*xn)
	taps := w.taps()
	inStr := stridesOf(w.in)
	for n := 0; n < N; n++ {
		for g := 0; g < group; g++ {
			Sgemm(c.Threads(), true, false, rows, xn, Cg, 1, ws[g*Cg*rows:], rows, xs[(n*C+g*Cg)*xn:], xn, 0, col, xn)
			yg := y[(n*M+g*Mg)*yn : (n*M+(g+1)*Mg)*yn]
			parallel.For(c.Threads(), Mg, 1, func(lo, hi int) {
				kidx := make([]int, nd)
				oidx := make([]int, nd)
				for m := lo; m < hi; m++ {
					dst := yg[m*yn : (m+1)*yn]
					for k := 0; k < kn; k++ {
						kr := k
						for d := nd - 1; d >= 0; d-- {
							kidx[d] = kr % int(kernel[d])
							kr /= int(kernel[d])
						}
						src := col[(m*kn+k)*xn : (m*kn+k+1)*xn]
						clear(oidx)
						for o := 0; o < xn; o++ {
							off, ok := 0, true
							for d := 0; d < nd; d++ {
								xi := taps[d][kidx[d]*int(w.out[d])+oidx[d]]
								if xi < 0 {
									ok = false
									break
								}
								off += xi * inStr[d]
							}
							if ok {
								dst[off] += src[o]
							}
							for d := nd - 1; d >= 0; d-- {
								oidx[d]++
								if oidx[d] < int(w.out[d]) {
									break
								}
								oidx[d] = 0
							}
						}
					}
				}
			})
		}
	}
	if bias := c.Input(2); bias != nil {
		bs, ok := bias.Data.([]float32)
		if !ok || len(bs) != M {
			return nil, fmt.Errorf("bias %v must be float32 [%d]", bias, M)
		}
		for n := 0; n < N; n++ {
			for m := 0; m < M; m++ {
				seg := y[(n*M+m)*yn : (n*M+m+1)*yn]
				for i := range seg {
					seg[i] += bs[m]
				}
			}
		}
	}
	return []*Value{out}, nil
}

// int8ViaFloat32 runs a float32 kernel on int8/uint8 input 0 (exact for ops that only
// select values, like MaxPool) and converts float32 outputs back.
func int8ViaFloat32(k Kernel) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		if x == nil || (x.DType != tensor.I8 && x.DType != tensor.U8) {
			return k(c)
		}
		orig := c.Inputs[0]
		r, err := castValue(c, x, tensor.F32)
		if err != nil {
			return nil, err
		}
		c.Inputs[0] = r
		outs, err := k(c)
		c.Inputs[0] = orig
		for i, v := range outs {
			if v != nil && v.DType == tensor.F32 {
				r, err := castValue(c, v, x.DType)
				if err != nil {
					return nil, err
				}
				outs[i] = r
			}
		}
		return outs, err
	}
}

func poolKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		if x.DType != tensor.F32 || len(x.Shape) < 3 {
			return nil, fmt.Errorf("needs a float [N, C, spatial...] input, have %v", x)
		}
		var a attrs
		kernel := a.ints(c.Node, "kernel_shape", nil)
		ceil := a.int(c.Node, "ceil_mode", 0) != 0
		includePad := a.int(c.Node, "count_include_pad", 0) != 0
		storage := a.int(c.Node, "storage_order", 0)
		p := float64(a.int(c.Node, "p", 2))
		if op == "LpPool" && c.Opset < 2 {
			p = float64(a.float(c.Node, "p", 2))
		}
		if a.err != nil {
			return nil, a.err
		}
		if kernel == nil {
			return nil, fmt.Errorf("kernel_shape is required")
		}
		w, err := newWindow(c.Node, x.Shape[2:], kernel, ceil)
		if err != nil {
			return nil, err
		}
		if op != "MaxPool" && c.Opset < 19 && c.Node.Has("dilations") && op == "AveragePool" && c.Opset < 19 {
			return nil, fmt.Errorf("dilations need opset 19")
		}
		N, C := int(x.Shape[0]), int(x.Shape[1])
		outShape := append([]int64{int64(N), int64(C)}, w.out...)
		wantIdx := op == "MaxPool" && len(c.Node.Outputs) > 1 && c.Node.Outputs[1] != ""
		if (op == "MaxPool" || op == "AveragePool") && !wantIdx && len(w.in) <= 2 && allEqual(w.dilations, 1) {
			out, err := c.allocRaw(tensor.F32, outShape)
			if err != nil {
				return nil, err
			}
			pool2D(c.Threads(), out.Data.([]float32), x.Data.([]float32), N*C, w, op == "MaxPool", includePad)
			return []*Value{out}, nil
		}
		out, err := c.Alloc(tensor.F32, outShape)
		if err != nil {
			return nil, err
		}
		var idxOut *Value
		if wantIdx {
			r, err := c.Alloc(tensor.I64, outShape)
			if err != nil {
				return nil, err
			}
			idxOut = r
		}
		taps := w.taps()
		nd := len(w.in)
		kn, on, inSize := w.size(kernel), w.size(w.out), w.size(w.in)
		inStr := stridesOf(w.in)
		xs, ys := x.Data.([]float32), out.Data.([]float32)
		parallel.For(c.Threads(), N*C, 1, func(lo, hi int) {
			oidx := make([]int, nd)
			kidx := make([]int, nd)
			for plane := lo; plane < hi; plane++ {
				src := xs[plane*inSize : (plane+1)*inSize]
				clear(oidx)
				for o := 0; o < on; o++ {
					acc, count, best, bestIdx := 0.0, 0, float32(math.Inf(-1)), -1
					for k := 0; k < kn; k++ {
						kr := k
						for d := nd - 1; d >= 0; d-- {
							kidx[d] = kr % int(kernel[d])
							kr /= int(kernel[d])
						}
						off, ok := 0, true
						for d := 0; d < nd; d++ {
							xi := taps[d][kidx[d]*int(w.out[d])+oidx[d]]
							if xi < 0 {
								ok = false
								break
							}
							off += xi * inStr[d]
						}
						if !ok {
							continue
						}
						count++
						if op == "MaxPool" {
							// The value folds as every max-pool path does; the index is
							// the first maximum's, or the first NaN's.
							v := src[off]
							if bestIdx < 0 || v > best || v != v && best == best {
								bestIdx = off
							}
							best = blas.PoolMax(best, v)
							continue
						}
						v := float64(src[off])
						switch op {
						case "AveragePool":
							acc += v
						default:
							acc += math.Pow(math.Abs(v), p)
						}
					}
					var r float64
					switch op {
					case "MaxPool":
						if idxOut != nil {
							flat := bestIdx
							if storage == 1 && nd == 2 {
								h, wd := bestIdx/int(w.in[1]), bestIdx%int(w.in[1])
								flat = h + wd*int(w.in[0])
							}
							idxOut.Data.([]int64)[plane*on+o] = int64(plane*inSize + flat)
						}
					case "AveragePool":
						div := count
						if includePad {
							div = windowPadded(w, oidx)
						}
						r = acc / float64(max(div, 1))
					default:
						r = math.Pow(acc, 1/p)
					}
					ys[plane*on+o] = float32(r)
					if op == "MaxPool" {
						ys[plane*on+o] = best // as is: a conversion would quiet a signaling NaN
					}
					for d := nd - 1; d >= 0; d-- {
						oidx[d]++
						if oidx[d] < int(w.out[d]) {
							break
						}
						oidx[d] = 0
					}
				}
			}
		})
		if idxOut != nil {
			return []*Value{out, idxOut}, nil
		}
		return []*Value{out}, nil
	}
}

// pool2D is MaxPool (max) or AveragePool over planes [H, W] (or [W]) with no
// dilation: per output, the window clipped to the input is scanned row by row. Maxima
// are blas.PoolMax folds in window order (the first NaN of a window wins, bits kept;
// of -0 and +0 the later); a window entirely in the padding gives -Inf (max) or 0
// (average).
func pool2D(threads int, y, x []float32, planes int, w *window, isMax, includePad bool) {
	nd := len(w.in)
	at := func(s []int64, i int, def int64) int {
		if j := i - (2 - nd); j >= 0 {
			return int(s[j])
		}
		return int(def)
	}
	H, W := at(w.in, 0, 1), at(w.in, 1, 1)
	KH, KW := at(w.kernel, 0, 1), at(w.kernel, 1, 1)
	SH, SW := at(w.strides, 0, 1), at(w.strides, 1, 1)
	PT, PL := at(w.padBegin, 0, 0), at(w.padBegin, 1, 0)
	PB, PR := at(w.padEnd, 0, 0), at(w.padEnd, 1, 0)
	OH, OW := at(w.out, 0, 1), at(w.out, 1, 1)
	on, inSize := OH*OW, H*W
	// Column bounds per output column, and the padded-window width for count_include_pad.
	cols := make([][3]int, OW)
	for ow := range cols {
		ws := ow*SW - PL
		cols[ow] = [3]int{max(ws, 0), min(ws+KW, W), min(ws+KW, W+PR) - max(ws, -PL)}
	}
	// Output columns [inLo, inHi) read KW input columns without clipping.
	inLo := min(OW, (PL+SW-1)/SW)
	inHi := inLo
	if W-KW+PL >= 0 {
		inHi = max(inLo, min(OW, (W-KW+PL)/SW+1))
	}
	if isMax && KH == 2 && KW == 2 && SH == 2 && SW == 2 && PT == 0 && PL == 0 && W%2 == 0 && OW == W/2 && OH == H/2 {
		maxPool2x2Planes(threads, y, x, planes, H, W)
		return
	}
	parallel.For(threads, planes, max(1, 8192/max(1, on*KH*KW)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x[p*inSize : (p+1)*inSize]
			dst := y[p*on : (p+1)*on]
			for oh := 0; oh < OH; oh++ {
				hs := oh*SH - PT
				h0, h1 := max(hs, 0), min(hs+KH, H)
				padH := min(hs+KH, H+PB) - max(hs, -PT)
				out := dst[oh*OW : (oh+1)*OW]
				if isMax && h0 < h1 && inLo < inHi {
					// Columns whose window lies inside the row: no clipping.
					if KH == 2 && KW == 2 && SW == 2 && h1-h0 == 2 {
						start := inLo*SW - PL
						blas.MaxPool2x2(out[inLo:inHi], src[h0*W+start:(h0+1)*W], src[(h0+1)*W+start:(h0+2)*W])
					} else if KW == 3 && SW == 2 {
						// ResNet's 3x3 stride-2 pool: all the window's rows in one vector pass.
						blas.MaxPool3S2(out[inLo:inHi], src[h0*W+inLo*SW-PL:], W, h1-h0)
					} else {
						for h := h0; h < h1; h++ {
							maxRow(out[inLo:inHi], src[h*W:(h+1)*W], inLo*SW-PL, SW, KW, h == h0)
						}
					}
				}
				for ow, cb := range cols {
					if isMax && ow >= inLo && ow < inHi && h0 < h1 {
						continue
					}
					w0, w1 := cb[0], cb[1]
					if h0 >= h1 || w0 >= w1 {
						if isMax {
							out[ow] = float32(math.Inf(-1))
						} else {
							out[ow] = 0
						}
						continue
					}
					if isMax {
						best := src[h0*W+w0]
						for h := h0; h < h1; h++ {
							for _, v := range src[h*W+w0 : h*W+w1] {
								best = blas.PoolMax(best, v)
							}
						}
						out[ow] = best
						continue
					}
					var sum float32
					for h := h0; h < h1; h++ {
						for _, v := range src[h*W+w0 : h*W+w1] {
							sum += v
						}
					}
					n := (h1 - h0) * (w1 - w0)
					if includePad {
						n = padH * cb[2]
					}
					out[ow] = sum / float32(n)
				}
			}
		}
	})
}

// maxPool2x2Planes is a 2x2, stride-2 max pool without padding over planes of H x W
// (W even): with no window crossing a row, the maxes of column pairs are one
// vectorized pass over the whole contiguous input, then each output row is the max
// of two adjacent rows of those. Small images (MNIST's 14 x 14) would otherwise spend
// their time in per-row edges.
func maxPool2x2Planes(threads int, y, x []float32, planes, H, W int) {
	OW, OH := W/2, H/2
	if OW >= 4 {
		// Rows long enough for the vector kernel: one call per block of planes (their
		// rows follow each other when H is even), else one per plane.
		parallel.For(threads, planes, max(1, 8192/max(1, H*W)), func(lo, hi int) {
			if H%2 == 0 {
				blas.MaxPool2x2Rows(y[lo*OH*OW:hi*OH*OW], x[lo*H*W:hi*H*W], W, (hi-lo)*OH, OW)
				return
			}
			for p := lo; p < hi; p++ {
				blas.MaxPool2x2Rows(y[p*OH*OW:(p+1)*OH*OW], x[p*H*W:(p+1)*H*W], W, OH, OW)
			}
		})
		return
	}
	pairs := getScratch(planes * H * OW)
	defer putScratch(pairs)
	parallel.For(threads, planes, max(1, 8192/max(1, H*W)), func(lo, hi int) {
		blas.MaxPool2x2(pairs[lo*H*OW:hi*H*OW], x[lo*H*W:hi*H*W], x[lo*H*W:hi*H*W])
		for p := lo; p < hi; p++ {
			src := pairs[p*H*OW : (p+1)*H*OW]
			dst := y[p*OH*OW : (p+1)*OH*OW]
			for oh := 0; oh < OH; oh++ {
				r0, r1 := src[2*oh*OW:(2*oh+1)*OW], src[(2*oh+1)*OW:(2*oh+2)*OW]
				out := dst[oh*OW : (oh+1)*OW]
				for i := range out {
					out[i] = blas.PoolMax(r0[i], r1[i])
				}
			}
		}
	})
}

// maxRow sets out[i] (or maxes it in, unless first) to the max of the kw values of
// row starting at column start + i*stride.
func maxRow(out, row []float32, start, stride, kw int, first bool) {
	if len(out) == 0 {
		return
	}
	row = row[start : start+(len(out)-1)*stride+kw]
	if kw == 2 && stride == 2 {
		row = row[:2*len(out)]
		if first {
			for i := range out {
				out[i] = blas.PoolMax(row[2*i], row[2*i+1])
			}
			return
		}
		for i, v := range out {
			out[i] = blas.PoolMax(v, blas.PoolMax(row[2*i], row[2*i+1]))
		}
		return
	}
	if kw == 3 {
		for i := range out {
			s := row[i*stride : i*stride+3 : i*stride+3]
			v := blas.PoolMax(blas.PoolMax(s[0], s[1]), s[2])
			if !first {
				v = blas.PoolMax(out[i], v)
			}
			out[i] = v
		}
		return
	}
	for i := range out {
		s := row[i*stride : i*stride+kw]
		v := s[0]
		for _, x := range s[1:] {
			v = blas.PoolMax(v, x)
		}
		if !first {
			v = blas.PoolMax(out[i], v)
		}
		out[i] = v
	}
}

// windowPadded counts the window taps inside the explicitly padded input (for
// count_include_pad): taps past the padding added by ceil_mode are not counted.
func windowPadded(w *window, oidx []int) int {
	n := 1
	for d := range w.in {
		cnt := 0
		for k := 0; k < int(w.kernel[d]); k++ {
			x := int64(oidx[d])*w.strides[d] - w.padBegin[d] + int64(k)*w.dilations[d]
			if x >= -w.padBegin[d] && x < w.in[d]+w.padEnd[d] {
				cnt++
			}
		}
		n *= cnt
	}
	return n
}

func globalPoolKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		if x.DType != tensor.F32 || len(x.Shape) < 2 {
			return nil, fmt.Errorf("needs a float [N, C, ...] input, have %v", x)
		}
		p, err := c.Node.Int("p", 2)
		if err != nil {
			return nil, err
		}
		shape := slices.Clone(x.Shape)
		for i := 2; i < len(shape); i++ {
			shape[i] = 1
		}
		planes := int(x.Shape[0] * x.Shape[1])
		size := 1
		for _, d := range x.Shape[2:] {
			size *= int(d)
		}
		out, err := c.Alloc(tensor.F32, shape)
		if err != nil {
			return nil, err
		}
		xs, ys := x.Data.([]float32), out.Data.([]float32)
		parallel.For(c.Threads(), planes, 1, func(lo, hi int) {
			for pl := lo; pl < hi; pl++ {
				src := xs[pl*size : (pl+1)*size]
				var r float64
				switch op {
				case "GlobalMaxPool":
					// As MaxPool's windows: a PoolMax fold, stored as is.
					best := float32(math.Inf(-1))
					for _, v := range src {
						best = blas.PoolMax(best, v)
					}
					ys[pl] = best
					continue
				case "GlobalAveragePool":
					for _, v := range src {
						r += float64(v)
					}
					r /= float64(size)
				default:
					for _, v := range src {
						r += math.Pow(math.Abs(float64(v)), float64(p))
					}
					r = math.Pow(r, 1/float64(p))
				}
				ys[pl] = float32(r)
			}
		})
		return []*Value{out}, nil
	}
}
