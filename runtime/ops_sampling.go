package runtime

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Operators that sample images at computed coordinates: GridSample (2-D and N-D) and
// RoiAlign.

func init() {
	Register(Op{Type: "GridSample", Since: 16, Kernel: gridSampleKernel, ViaFloat32: true})
	Register(Op{Type: "RoiAlign", Since: 10, Kernel: roiAlignKernel, ViaFloat32: true})
}

// gridSampleKernel samples X [N, C, H, W] at grid [N, Ho, Wo, 2] (x, y in [-1, 1]) with
// ONNX Runtime's rules: nearest rounds half to even, bilinear and bicubic (A = -0.75)
// read 2x2 / 4x4 pixels through the padding mode, and out-of-range coordinates are
// clamped (border) or reflected (reflection) first.
func gridSampleKernel(c *Call) ([]*Value, error) {
	x, grid := c.Input(0), c.Input(1)
	if x == nil || grid == nil || x.DType != tensor.F32 || grid.DType != tensor.F32 {
		return nil, fmt.Errorf("needs float X and grid")
	}
	var a attrs
	align := a.int(c.Node, "align_corners", 0) != 0
	mode := a.str(c.Node, "mode", map[bool]string{true: "linear", false: "bilinear"}[c.Opset >= 20])
	padding := a.str(c.Node, "padding_mode", "zeros")
	if a.err != nil {
		return nil, a.err
	}
	switch mode {
	case "bilinear", "linear":
		mode = "linear"
	case "bicubic", "cubic":
		mode = "cubic"
	case "nearest":
	default:
		return nil, fmt.Errorf("mode %q", mode)
	}
	if padding != "zeros" && padding != "border" && padding != "reflection" {
		return nil, fmt.Errorf("padding_mode %q", padding)
	}
	nd := len(x.Shape) - 2
	if nd < 1 || len(grid.Shape) != nd+2 || grid.Shape[nd+1] != int64(nd) || grid.Shape[0] != x.Shape[0] {
		return nil, fmt.Errorf("input X %v must be [N, C, D1..Dn] and grid %v [N, O1..On, n]", x, grid)
	}
	if nd != 2 {
		if c.Opset < 20 || mode == "cubic" {
			return nil, fmt.Errorf("%d-D %s sampling: %w", nd, mode, errUnsupported)
		}
		return gridSampleND(c, x, grid, mode, padding, align)
	}
	N, C, H, W := int(x.Shape[0]), int(x.Shape[1]), int(x.Shape[2]), int(x.Shape[3])
	Ho, Wo := int(grid.Shape[1]), int(grid.Shape[2])
	out, err := c.Alloc(tensor.F32, []int64{int64(N), int64(C), int64(Ho), int64(Wo)})
	if err != nil {
		return nil, err
	}
	xs, gs, ys := x.Data.([]float32), grid.Data.([]float32), out.Data.([]float32)
	if H == 0 || W == 0 {
		return []*Value{out}, nil
	}
	xMin, yMin, xMax, yMax := float32(-0.5), float32(-0.5), float32(W)-0.5, float32(H)-0.5
	if align {
		xMin, yMin, xMax, yMax = 0, 0, float32(W-1), float32(H-1)
	}
	denorm := func(v float32, n int) float32 {
		if align {
			return (v + 1) / 2 * float32(n-1)
		}
		return ((v+1)*float32(n) - 1) / 2
	}
	pixel := func(img []float32, yi, xi int) float32 {
		switch padding {
		case "zeros":
			if xi < 0 || xi >= W || yi < 0 || yi >= H {
				return 0
			}
		case "border":
			xi, yi = max(0, min(W-1, xi)), max(0, min(H-1, yi))
		default:
			xi = int(gsReflect(float32(xi), xMin, xMax))
			yi = int(gsReflect(float32(yi), yMin, yMax))
			xi, yi = max(0, min(W-1, xi)), max(0, min(H-1, yi))
		}
		return img[yi*W+xi]
	}
	parallel.For(c.Threads(), N*C, 1, func(lo, hi int) {
		for nc := lo; nc < hi; nc++ {
			n := nc / C
			img := xs[nc*H*W : (nc+1)*H*W]
			dst := ys[nc*Ho*Wo : (nc+1)*Ho*Wo]
			g := gs[n*Ho*Wo*2 : (n+1)*Ho*Wo*2]
			for p := range dst {
				gx := denorm(g[2*p], W)
				gy := denorm(g[2*p+1], H)
				if mode == "nearest" {
					gx = float32(math.RoundToEven(float64(gx)))
					gy = float32(math.RoundToEven(float64(gy)))
				}
				if mode != "cubic" && (gx < xMin || gx > xMax || gy < yMin || gy > yMax) {
					switch padding {
					case "border":
						gx, gy = max(0, min(float32(W-1), gx)), max(0, min(float32(H-1), gy))
					case "reflection":
						gx, gy = gsReflect(gx, xMin, xMax), gsReflect(gy, yMin, yMax)
					}
				}
				switch mode {
				case "nearest":
					dst[p] = pixel(img, int(gy), int(gx))
				case "linear":
					x1, y1 := int(math.Floor(float64(gx))), int(math.Floor(float64(gy)))
					x2, y2 := x1+1, y1+1
					dx1, dy1 := gx-float32(x1), gy-float32(y1)
					dx2, dy2 := float32(x2)-gx, float32(y2)-gy
					dst[p] = dy2*(dx2*pixel(img, y1, x1)+dx1*pixel(img, y1, x2)) + dy1*(dx2*pixel(img, y2, x1)+dx1*pixel(img, y2, x2))
				case "cubic":
					x0, y0 := int(math.Floor(float64(gx)))-1, int(math.Floor(float64(gy)))-1
					cx := cubicCoeffs(gx - float32(x0) - 1)
					cy := cubicCoeffs(gy - float32(y0) - 1)
					var acc float32
					for i := 0; i < 4; i++ {
						var row float32
						for j := 0; j < 4; j++ {
							row += cx[j] * pixel(img, y0+i, x0+j)
						}
						acc += cy[i] * row
					}
					dst[p] = acc
				}
			}
		}
	})
	return []*Value{out}, nil
}

// cubicCoeffs are the Keys cubic weights (A = -0.75) for fractional offset t.
func cubicCoeffs(t float32) [4]float32 {
	const A = -0.75
	t = float32(math.Abs(float64(t)))
	return [4]float32{
		((A*(t+1)-5*A)*(t+1)+8*A)*(t+1) - 4*A,
		((A+2)*t-(A+3))*t*t + 1,
		((A+2)*(1-t)-(A+3))*(1-t)*(1-t) + 1,
		((A*(2-t)-5*A)*(2-t)+8*A)*(2-t) - 4*A,
	}
}

// gsReflect folds v into [lo, hi] by reflection at the ends.
func gsReflect(v, lo, hi float32) float32 {
	rng := hi - lo
	if rng <= 0 {
		return lo
	}
	if v < lo {
		d := lo - v
		n := int(d / rng)
		r := d - float32(n)*rng
		if n%2 == 0 {
			return lo + r
		}
		return hi - r
	}
	if v > hi {
		d := v - hi
		n := int(d / rng)
		r := d - float32(n)*rng
		if n%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return v
}

// roiAlignKernel pools each region of interest into output_height x output_width bins,
// averaging (or taking ONNX Runtime's weighted max of) bilinear samples per bin.
func roiAlignKernel(c *Call) ([]*Value, error) {
	x, rois, bidx := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || rois == nil || bidx == nil || x.DType != tensor.F32 || rois.DType != tensor.F32 {
		return nil, fmt.Errorf("needs float X and rois, and batch_indices")
	}
	if len(x.Shape) != 4 || len(rois.Shape) != 2 || rois.Shape[1] != 4 || bidx.Len() != int(rois.Shape[0]) {
		return nil, fmt.Errorf("input X %v must be [N, C, H, W], rois %v [R, 4], batch_indices %v [R]", x, rois, bidx)
	}
	var a attrs
	mode := a.str(c.Node, "mode", "avg")
	oh := a.int(c.Node, "output_height", 1)
	ow := a.int(c.Node, "output_width", 1)
	ratio := a.int(c.Node, "sampling_ratio", 0)
	scale := a.float(c.Node, "spatial_scale", 1)
	coord := "output_half_pixel"
	if c.Opset >= 16 {
		coord = a.str(c.Node, "coordinate_transformation_mode", "half_pixel")
	}
	if a.err != nil {
		return nil, a.err
	}
	if mode != "avg" && mode != "max" || coord != "half_pixel" && coord != "output_half_pixel" {
		return nil, fmt.Errorf("mode %q / coordinate_transformation_mode %q", mode, coord)
	}
	if oh <= 0 || ow <= 0 || oh*ow > 1<<24 || ratio < 0 {
		return nil, fmt.Errorf("output %dx%d and sampling_ratio %d must be positive", oh, ow, ratio)
	}
	bi, err := bidx.AsInt64s()
	if err != nil {
		return nil, err
	}
	N, C, H, W := int(x.Shape[0]), int(x.Shape[1]), int(x.Shape[2]), int(x.Shape[3])
	R := int(rois.Shape[0])
	for _, b := range bi {
		if b < 0 || b >= int64(N) {
			return nil, fmt.Errorf("batch index %d out of range [0, %d)", b, N)
		}
	}
	out, err := c.Alloc(tensor.F32, []int64{int64(R), int64(C), oh, ow})
	if err != nil {
		return nil, err
	}
	if H == 0 || W == 0 {
		return []*Value{out}, nil // nothing to sample: zeros
	}
	xs, rs, ys := x.Data.([]float32), rois.Data.([]float32), out.Data.([]float32)
	OH, OW := int(oh), int(ow)
	offset := float32(0)
	if coord == "half_pixel" {
		offset = 0.5
	}
	type sample struct {
		pos [4]int
		w   [4]float32
	}
	// The samples per bin come from sampling_ratio or from the ROI's size: bound the
	// table each worker builds before any worker allocates it.
	most := 0.0
	for r := 0; r < R; r++ {
		roi := rs[r*4 : r*4+4]
		rw, rh := float64(roi[2]-roi[0])*float64(scale), float64(roi[3]-roi[1])*float64(scale)
		if coord == "output_half_pixel" {
			rw, rh = max(rw, 1), max(rh, 1)
		}
		gh, gw := float64(ratio), float64(ratio)
		if ratio == 0 {
			gh, gw = math.Ceil(rh/float64(OH)), math.Ceil(rw/float64(OW))
		}
		if n := float64(OH*OW) * max(gh, 0) * max(gw, 0); n > most || math.IsNaN(n) {
			most = n
		}
	}
	if math.IsNaN(most) || most > float64(c.sess.maxElements) {
		return nil, fmt.Errorf("%v samples per region of interest: %w", most, ErrTooLarge)
	}
	if err := c.reserve(int64(most)*int64(unsafe.Sizeof(sample{}))*int64(min(R, c.Threads())), func() string {
		return fmt.Sprintf("sample tables of %.0f entries", most)
	}); err != nil {
		return nil, err
	}
	parallel.For(c.Threads(), R, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			roi := rs[r*4 : r*4+4]
			sw, sh := roi[0]*scale-offset, roi[1]*scale-offset
			ew, eh := roi[2]*scale-offset, roi[3]*scale-offset
			rw, rh := ew-sw, eh-sh
			if coord == "output_half_pixel" {
				rw, rh = max(rw, 1), max(rh, 1)
			}
			bh, bw := rh/float32(OH), rw/float32(OW)
			gh, gw := int(ratio), int(ratio)
			if ratio == 0 {
				gh = int(math.Ceil(float64(rh / float32(OH))))
				gw = int(math.Ceil(float64(rw / float32(OW))))
			}
			gh, gw = max(gh, 0), max(gw, 0)
			count := float32(max(gh*gw, 1))
			samples := make([]sample, 0, OH*OW*gh*gw)
			for ph := 0; ph < OH; ph++ {
				for pw := 0; pw < OW; pw++ {
					for iy := 0; iy < gh; iy++ {
						yy := sh + float32(ph)*bh + (float32(iy)+0.5)*bh/float32(gh)
						for ix := 0; ix < gw; ix++ {
							xx := sw + float32(pw)*bw + (float32(ix)+0.5)*bw/float32(gw)
							samples = append(samples, bilinearSample(yy, xx, H, W))
						}
					}
				}
			}
			for ch := 0; ch < C; ch++ {
				img := xs[(int(bi[r])*C+ch)*H*W : (int(bi[r])*C+ch+1)*H*W]
				dst := ys[(r*C+ch)*OH*OW : (r*C+ch+1)*OH*OW]
				per := gh * gw
				for bin := range dst {
					var acc float32
					for k, s := range samples[bin*per : (bin+1)*per] {
						if mode == "avg" {
							acc += s.w[0]*img[s.pos[0]] + s.w[1]*img[s.pos[1]] + s.w[2]*img[s.pos[2]] + s.w[3]*img[s.pos[3]]
							continue
						}
						v := max(s.w[0]*img[s.pos[0]], s.w[1]*img[s.pos[1]], s.w[2]*img[s.pos[2]], s.w[3]*img[s.pos[3]])
						if k == 0 {
							acc = v
						} else {
							acc = max(acc, v)
						}
					}
					if mode == "avg" {
						acc /= count
					}
					dst[bin] = acc
				}
			}
		}
	})
	return []*Value{out}, nil
}

func bilinearSample(y, x float32, H, W int) (s struct {
	pos [4]int
	w   [4]float32
}) {
	if y < -1 || y > float32(H) || x < -1 || x > float32(W) || H == 0 || W == 0 {
		return s
	}
	y, x = max(y, 0), max(x, 0)
	yl, xl := int(y), int(x)
	var yh, xh int
	if yl >= H-1 {
		yl, yh, y = H-1, H-1, float32(H-1)
	} else {
		yh = yl + 1
	}
	if xl >= W-1 {
		xl, xh, x = W-1, W-1, float32(W-1)
	} else {
		xh = xl + 1
	}
	ly, lx := y-float32(yl), x-float32(xl)
	hy, hx := 1-ly, 1-lx
	s.pos = [4]int{yl*W + xl, yl*W + xh, yh*W + xl, yh*W + xh}
	s.w = [4]float32{hy * hx, hy * lx, ly * hx, ly * lx}
	return s
}

// gridSampleND is GridSample-20 over n spatial dimensions (linear or nearest): the
// grid's last axis lists coordinates innermost dimension first (x, y, z...).
func gridSampleND(c *Call, x, grid *Value, mode, padding string, align bool) ([]*Value, error) {
	nd := len(x.Shape) - 2
	N, C := int(x.Shape[0]), int(x.Shape[1])
	in := make([]int, nd)
	inSize := 1
	for d := range in {
		in[d] = int(x.Shape[2+d])
		inSize *= in[d]
	}
	outShape := append([]int64{int64(N), int64(C)}, grid.Shape[1:1+nd]...)
	out, err := c.Alloc(tensor.F32, outShape)
	if err != nil {
		return nil, err
	}
	outSize := 1
	for _, d := range grid.Shape[1 : 1+nd] {
		outSize *= int(d)
	}
	if inSize == 0 || outSize == 0 {
		return []*Value{out}, nil
	}
	xs, gs, ys := x.Data.([]float32), grid.Data.([]float32), out.Data.([]float32)
	inStr := stridesOf(x.Shape[2:])
	lo, hi := make([]float32, nd), make([]float32, nd)
	for d := range in {
		lo[d], hi[d] = -0.5, float32(in[d])-0.5
		if align {
			lo[d], hi[d] = 0, float32(in[d]-1)
		}
	}
	pixel := func(img []float32, idx []int) float32 {
		off := 0
		for d, i := range idx {
			switch padding {
			case "zeros":
				if i < 0 || i >= in[d] {
					return 0
				}
			case "border":
				i = max(0, min(in[d]-1, i))
			default:
				i = max(0, min(in[d]-1, int(gsReflect(float32(i), lo[d], hi[d]))))
			}
			off += i * inStr[d]
		}
		return img[off]
	}
	parallel.For(c.Threads(), N*C, 1, func(a, b int) {
		coord := make([]float32, nd)
		idx := make([]int, nd)
		for nc := a; nc < b; nc++ {
			n := nc / C
			img := xs[nc*inSize : (nc+1)*inSize]
			dst := ys[nc*outSize : (nc+1)*outSize]
			g := gs[n*outSize*nd : (n+1)*outSize*nd]
			for p := range dst {
				for d := 0; d < nd; d++ {
					v := g[p*nd+nd-1-d]
					var f float32
					if align {
						f = (v + 1) / 2 * float32(in[d]-1)
					} else {
						f = ((v+1)*float32(in[d]) - 1) / 2
					}
					if mode == "nearest" {
						f = float32(math.RoundToEven(float64(f)))
					}
					if f < lo[d] || f > hi[d] {
						switch padding {
						case "border":
							f = max(0, min(float32(in[d]-1), f))
						case "reflection":
							f = gsReflect(f, lo[d], hi[d])
						}
					}
					coord[d] = f
				}
				if mode == "nearest" {
					for d, f := range coord {
						idx[d] = int(f)
					}
					dst[p] = pixel(img, idx)
					continue
				}
				var acc float32
				for corner := 0; corner < 1<<nd; corner++ {
					w := float32(1)
					for d, f := range coord {
						f0 := float32(math.Floor(float64(f)))
						if corner>>d&1 == 1 {
							idx[d] = int(f0) + 1
							w *= f - f0
						} else {
							idx[d] = int(f0)
							w *= f0 + 1 - f
						}
					}
					if w != 0 {
						acc += w * pixel(img, idx)
					}
				}
				dst[p] = acc
			}
		}
	})
	return []*Value{out}, nil
}
