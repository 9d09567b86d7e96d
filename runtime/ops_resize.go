package runtime

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Resize (opsets 10, 11, 13, 18, 19) and the deprecated Upsample (7, 9). Interpolation
// is separable: each resized axis gets a table of (input index, weight) taps per output
// position and the axes are resized one after another. Nearest mode moves elements (any
// dtype, bit-exact); linear and cubic compute in float64. Output sizes from scales are
// floor(float32(scale) * in), as ONNX Runtime computes them.

func init() {
	Register(Op{Type: "Resize", Since: 10, Kernel: resizeKernel})
	Register(Op{Type: "Upsample", Since: 7, Kernel: upsampleKernel})
}

type resizeParams struct {
	mode, coord, nearest string
	cubicA               float64
	excludeOutside       bool
	extrapolation        float64
	antialias            bool
	legacyNearest        bool // Resize-10 and Upsample: truncate when upsampling, ceil when downsampling
	fixedWeights         bool // antialias weights as 22-bit fixed point (8-bit inputs)
}

// axisTaps is one axis's interpolation table: output position o reads input indices
// idx[o*n : o*n+n] with weights w[...]; extrap[o] marks tf_crop_and_resize positions
// outside the input, which take the extrapolation value.
type axisTaps struct {
	n      int
	fixed  bool // weights are 22-bit fixed point: round to the integer type after the pass
	idx    []int
	w      []float64
	extrap []bool
}

func upsampleKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs X")
	}
	mode, err := c.Node.String("mode", "nearest")
	if err != nil {
		return nil, err
	}
	var scales []float32
	if c.Opset < 9 {
		if scales, err = c.Node.Floats("scales", nil); err != nil {
			return nil, err
		}
	} else {
		s := c.Input(1)
		if s == nil {
			return nil, fmt.Errorf("needs scales")
		}
		if scales, err = floats32(s); err != nil {
			return nil, err
		}
	}
	p := resizeParams{mode: mode, coord: "asymmetric", legacyNearest: true, cubicA: -0.75}
	if mode == "bilinear" {
		p.mode = "linear"
	}
	return resize(c, x, p, scales, nil, nil)
}

func resizeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs X")
	}
	var a attrs
	p := resizeParams{
		mode:   a.str(c.Node, "mode", "nearest"),
		cubicA: float64(a.float(c.Node, "cubic_coeff_a", -0.75)),
	}
	if c.Opset < 11 {
		p.coord, p.legacyNearest = "asymmetric", true
	} else {
		p.coord = a.str(c.Node, "coordinate_transformation_mode", "half_pixel")
		p.nearest = a.str(c.Node, "nearest_mode", "round_prefer_floor")
		p.excludeOutside = a.int(c.Node, "exclude_outside", 0) != 0
		p.extrapolation = float64(a.float(c.Node, "extrapolation_value", 0))
	}
	var axes []int64
	policy := "stretch"
	if c.Opset >= 18 {
		axes = a.ints(c.Node, "axes", nil)
		policy = a.str(c.Node, "keep_aspect_ratio_policy", "stretch")
		p.antialias = a.int(c.Node, "antialias", 0) != 0
	}
	if a.err != nil {
		return nil, a.err
	}
	var scales []float32
	var sizes []int64
	var roi []float64
	var err error
	if c.Opset < 11 {
		s := c.Input(1)
		if s == nil {
			return nil, fmt.Errorf("needs scales")
		}
		if scales, err = floats32(s); err != nil {
			return nil, err
		}
	} else {
		if r := c.Input(1); r != nil && r.Len() > 0 {
			roi = r.AsFloat64s()
		}
		if s := c.Input(2); s != nil && s.Len() > 0 {
			if scales, err = floats32(s); err != nil {
				return nil, err
			}
		}
		if s := c.Input(3); s != nil && s.Len() > 0 {
			if scales != nil {
				return nil, fmt.Errorf("only one of scales and sizes may be given")
			}
			if sizes, err = s.AsInt64s(); err != nil {
				return nil, err
			}
		}
		if scales == nil && sizes == nil {
			return nil, fmt.Errorf("one of scales and sizes is required")
		}
	}
	// Expand axes-relative inputs to full rank.
	rank := len(x.Shape)
	axisList := make([]int, rank)
	for i := range axisList {
		axisList[i] = i
	}
	if axes != nil {
		axisList = axisList[:0]
		for _, ax := range axes {
			n, err := normAxis(ax, rank)
			if err != nil {
				return nil, err
			}
			if slices.Contains(axisList, n) {
				return nil, fmt.Errorf("axes %v repeat an axis", axes)
			}
			axisList = append(axisList, n)
		}
	}
	k := len(axisList)
	if scales != nil && len(scales) != k || sizes != nil && len(sizes) != k {
		return nil, fmt.Errorf("scales %v or sizes %v must have %d entries", scales, sizes, k)
	}
	if roi != nil && len(roi) != 2*k {
		if len(roi) == 2*rank && axes != nil {
			// roi given for every axis: pick the listed ones.
			r := make([]float64, 2*k)
			for i, ax := range axisList {
				r[i], r[k+i] = roi[ax], roi[rank+ax]
			}
			roi = r
		} else if p.coord == "tf_crop_and_resize" {
			return nil, fmt.Errorf("roi has %d entries, want %d", len(roi), 2*k)
		}
	}
	fullScales := make([]float32, rank)
	fullSizes := make([]int64, rank)
	fullROI := make([]float64, 2*rank)
	for i := 0; i < rank; i++ {
		fullScales[i], fullSizes[i] = 1, x.Shape[i]
		fullROI[i], fullROI[rank+i] = 0, 1
	}
	if sizes != nil && policy != "stretch" {
		if policy != "not_larger" && policy != "not_smaller" {
			return nil, fmt.Errorf("keep_aspect_ratio_policy %q", policy)
		}
		best := float32(0)
		for i, ax := range axisList {
			s := float32(sizes[i]) / float32(x.Shape[ax])
			if i == 0 || policy == "not_larger" && s < best || policy == "not_smaller" && s > best {
				best = s
			}
		}
		for i, ax := range axisList {
			sizes[i] = int64(math.Round(float64(best) * float64(x.Shape[ax])))
			fullScales[ax] = best
		}
	}
	for i, ax := range axisList {
		if sizes != nil {
			if sizes[i] < 0 || sizes[i] > 1<<31 {
				return nil, fmt.Errorf("size %d out of range", sizes[i])
			}
			fullSizes[ax] = sizes[i]
			if policy == "stretch" {
				if x.Shape[ax] == 0 {
					fullScales[ax] = 1
				} else {
					fullScales[ax] = float32(sizes[i]) / float32(x.Shape[ax])
				}
			}
		} else {
			s := scales[i]
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("scale %v must be positive", s)
			}
			fullScales[ax] = s
			o := math.Floor(float64(s * float32(x.Shape[ax])))
			if o > 1<<31 {
				return nil, fmt.Errorf("output size %v too large", o)
			}
			fullSizes[ax] = int64(o)
		}
		if roi != nil && len(roi) == 2*k {
			fullROI[ax], fullROI[rank+ax] = roi[i], roi[k+i]
		}
	}
	return resize(c, x, p, fullScales, fullSizes, fullROI)
}

// resize resizes x; sizes and roi may be nil (sizes then follow from scales).
func resize(c *Call, x *Value, p resizeParams, scales []float32, sizes []int64, roi []float64) ([]*Value, error) {
	rank := len(x.Shape)
	if len(scales) != rank {
		return nil, fmt.Errorf("scales %v must have one entry per dimension of %v", scales, x)
	}
	if sizes == nil {
		sizes = make([]int64, rank)
		for i, s := range scales {
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return nil, fmt.Errorf("scale %v must be positive", s)
			}
			o := math.Floor(float64(s * float32(x.Shape[i])))
			if o > 1<<31 {
				return nil, fmt.Errorf("output size %v too large", o)
			}
			sizes[i] = int64(o)
		}
	}
	if _, err := numElements(sizes); err != nil {
		return nil, err
	}
	switch p.mode {
	case "nearest", "linear", "cubic":
	default:
		return nil, fmt.Errorf("mode %q: %w", p.mode, errUnsupported)
	}
	p.fixedWeights = p.antialias && (x.DType == tensor.U8 || x.DType == tensor.I8)
	taps := make([]*axisTaps, rank)
	for d := 0; d < rank; d++ {
		var r [2]float64
		if roi != nil {
			r = [2]float64{roi[d], roi[rank+d]}
		}
		var t *axisTaps
		var err error
		if p.antialias && p.mode != "nearest" && x.Shape[d] != sizes[d] {
			t, err = antialiasTaps(p, int(x.Shape[d]), int(sizes[d]), scales[d], r)
		} else {
			t, err = makeTaps(p, int(x.Shape[d]), int(sizes[d]), float64(scales[d]), r)
		}
		if err != nil {
			return nil, err
		}
		taps[d] = t
	}
	if p.mode == "nearest" {
		r, err := resizeNearest(c, x, sizes, taps, p.extrapolation)
		if err != nil {
			return nil, err
		}
		return []*Value{r}, nil
	}
	if !x.DType.Float() && !x.DType.Integer() {
		return nil, fmt.Errorf("%s resize of %v", p.mode, x.DType)
	}
	cur, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	shape := slices.Clone(x.Shape)
	// Innermost axis first, as ONNX Runtime does; 8-bit antialiased resizes round to
	// the integer type after each axis with ONNX Runtime's 22-bit fixed-point weights.
	for d := rank - 1; d >= 0; d-- {
		if shape[d] == sizes[d] && taps[d].identity() {
			continue
		}
		r, err := resizeAxis(c, cur, shape, d, taps[d], p.extrapolation)
		if err != nil {
			return nil, err
		}
		cur = r
		shape[d] = sizes[d]
		if taps[d].fixed {
			lo, hi, _ := quantRange(x.DType)
			for i, v := range cur {
				cur[i] = max(float64(lo), min(float64(hi), math.Floor((v+(1<<21))/(1<<22))))
			}
		}
	}
	out, err := c.Alloc(x.DType, sizes)
	if err != nil {
		return nil, err
	}
	if f, ok := out.Data.([]float32); ok {
		for i, v := range cur {
			f[i] = float32(v)
		}
		return []*Value{out}, nil
	}
	integer := x.DType.Integer()
	for i, v := range cur {
		if integer {
			v = math.Trunc(v) // ONNX Runtime casts the interpolated float
			if lo, hi, ok := quantRange(x.DType); ok {
				v = max(float64(lo), min(float64(hi), v))
			}
		}
		setFloat64(out, i, v)
	}
	return []*Value{out}, nil
}

func (t *axisTaps) identity() bool {
	if t.fixed {
		return false
	}
	out := len(t.idx) / max(1, t.n)
	for o := 0; o < out; o++ {
		for j := 0; j < t.n; j++ {
			i, w := t.idx[o*t.n+j], t.w[o*t.n+j]
			if w != 0 && (i != o || w != 1) {
				return false
			}
		}
		if t.extrap != nil && t.extrap[o] {
			return false
		}
	}
	return true
}

// originalCoord maps output coordinate o of an axis to the input coordinate, in
// float32 arithmetic as ONNX Runtime computes it (this decides nearest-mode ties).
func originalCoord(p resizeParams, o, in, out int, scale64 float64, roi [2]float64) (float64, bool) {
	x, scale := float32(o), float32(scale64)
	fin, fout := float32(in), float32(out)
	switch p.coord {
	case "half_pixel":
		return float64((x+0.5)/scale - 0.5), false
	case "half_pixel_symmetric":
		adj := fout / (scale * fin)
		center := fin / 2
		return float64(center*(1-adj) + (x+0.5)/scale - 0.5), false
	case "pytorch_half_pixel":
		if out > 1 {
			return float64((x+0.5)/scale - 0.5), false
		}
		return 0, false
	case "align_corners":
		if out == 1 {
			return 0, false
		}
		return float64(x * (fin - 1) / (fout - 1)), false
	case "asymmetric":
		return float64(x / scale), false
	case "tf_half_pixel_for_nn":
		return float64((x + 0.5) / scale), false
	case "tf_crop_and_resize":
		start, end := float32(roi[0]), float32(roi[1])
		var v float32
		if out > 1 {
			v = start*(fin-1) + x*(end-start)*(fin-1)/(fout-1)
		} else {
			v = 0.5 * (start + end) * (fin - 1)
		}
		return float64(v), v < 0 || v > fin-1
	}
	return 0, false
}

func makeTaps(p resizeParams, in, out int, scale float64, roi [2]float64) (*axisTaps, error) {
	switch p.coord {
	case "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize":
	default:
		return nil, fmt.Errorf("coordinate_transformation_mode %q: %w", p.coord, errUnsupported)
	}
	if in == 0 && out > 0 {
		return nil, fmt.Errorf("cannot resize an empty axis to %d", out)
	}
	n := map[string]int{"nearest": 1, "linear": 2, "cubic": 4}[p.mode]
	t := &axisTaps{n: n, idx: make([]int, out*n), w: make([]float64, out*n)}
	if p.coord == "tf_crop_and_resize" {
		t.extrap = make([]bool, out)
	}
	clampIdx := func(i int) int { return max(0, min(in-1, i)) }
	for o := 0; o < out; o++ {
		xo, outside := originalCoord(p, o, in, out, scale, roi)
		if t.extrap != nil {
			t.extrap[o] = outside
		}
		idx, w := t.idx[o*n:(o+1)*n], t.w[o*n:(o+1)*n]
		switch p.mode {
		case "nearest":
			var r float64
			switch {
			case p.legacyNearest:
				if scale < 1 {
					r = math.Ceil(xo)
				} else {
					r = math.Trunc(xo)
				}
			case p.nearest == "round_prefer_floor":
				if xo == math.Floor(xo)+0.5 {
					r = math.Floor(xo)
				} else {
					r = math.Round(xo)
				}
			case p.nearest == "round_prefer_ceil":
				if xo == math.Floor(xo)+0.5 {
					r = math.Ceil(xo)
				} else {
					r = math.Round(xo)
				}
			case p.nearest == "floor":
				r = math.Floor(xo)
			case p.nearest == "ceil":
				r = math.Ceil(xo)
			default:
				return nil, fmt.Errorf("nearest_mode %q: %w", p.nearest, errUnsupported)
			}
			idx[0], w[0] = clampIdx(int(max(-1, min(float64(in), r)))), 1
		case "linear":
			xc := max(0, min(float64(in-1), xo))
			x0 := int(xc)
			x1 := min(x0+1, in-1)
			f := xc - float64(x0)
			idx[0], idx[1] = x0, x1
			w[0], w[1] = 1-f, f
		case "cubic":
			x0 := math.Floor(xo)
			f := xo - x0
			A := p.cubicA
			cs := [4]float64{
				((A*(f+1)-5*A)*(f+1)+8*A)*(f+1) - 4*A,
				((A+2)*f-(A+3))*f*f + 1,
				((A+2)*(1-f)-(A+3))*(1-f)*(1-f) + 1,
				((A*(2-f)-5*A)*(2-f)+8*A)*(2-f) - 4*A,
			}
			sum := 0.0
			for j := 0; j < 4; j++ {
				src := int(x0) - 1 + j
				if p.excludeOutside && (src < 0 || src >= in) {
					cs[j] = 0
				}
				sum += cs[j]
				idx[j] = clampIdx(src)
			}
			for j := 0; j < 4; j++ {
				if p.excludeOutside && sum != 0 {
					cs[j] /= sum
				}
				w[j] = cs[j]
			}
		}
	}
	return t, nil
}

// resizeNearest gathers elements through the per-axis nearest index tables.
func resizeNearest(c *Call, x *Value, sizes []int64, taps []*axisTaps, extrap float64) (*Value, error) {
	rank := len(sizes)
	total, _ := numElements(sizes)
	inStr := stridesOf(x.Shape)
	idx, err := scratchSlice[int](c, total)
	if err != nil {
		return nil, err
	}
	anyExtrap := false
	parallel.For(c.Threads(), total, 4096, func(lo, hi int) {
		coord := make([]int, rank)
		for i := lo; i < hi; i++ {
			r := i
			for d := rank - 1; d >= 0; d-- {
				coord[d] = r % int(sizes[d])
				r /= int(sizes[d])
			}
			off := 0
			for d := 0; d < rank; d++ {
				t := taps[d]
				if t.extrap != nil && t.extrap[coord[d]] {
					off = -1
					break
				}
				off += t.idx[coord[d]] * inStr[d]
			}
			idx[i] = off
		}
	})
	for _, i := range idx {
		if i < 0 {
			anyExtrap = true
			break
		}
	}
	out, err := c.Alloc(x.DType, sizes)
	if err != nil {
		return nil, err
	}
	takeOrZero(c.Threads(), out.Data, x.Data, idx)
	if anyExtrap && extrap != 0 {
		for i, j := range idx {
			if j < 0 {
				setFloat64(out, i, extrap)
			}
		}
	}
	return out, nil
}

// resizeAxis interpolates data (shape) along axis d with taps.
func resizeAxis(c *Call, data []float64, shape []int64, d int, t *axisTaps, extrap float64) ([]float64, error) {
	outer, in, inner := splitAxis(shape, d)
	out := len(t.extrap)
	if t.extrap == nil {
		out = len(t.idx) / t.n
	}
	res, err := scratchSlice[float64](c, outer*out*inner)
	if err != nil {
		return nil, err
	}
	parallel.For(c.Threads(), outer*out, max(1, 4096/max(1, inner*t.n)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, po := r/out, r%out
			dst := res[(o*out+po)*inner : (o*out+po+1)*inner]
			if t.extrap != nil && t.extrap[po] {
				for i := range dst {
					dst[i] = extrap
				}
				continue
			}
			for j := 0; j < t.n; j++ {
				w := t.w[po*t.n+j]
				if w == 0 {
					continue
				}
				src := data[(o*in+t.idx[po*t.n+j])*inner:]
				for i := range dst {
					dst[i] += w * src[i]
				}
			}
		}
	})
	return res, nil
}

// antialiasTaps builds ONNX Runtime's antialiasing filter for one axis (Pillow's
// resampling): the linear (triangle, support 1) or cubic (support 2) kernel is
// widened by 1/scale when downsampling; taps outside the input are folded into the
// edge pixels, or dropped and renormalized with exclude_outside. Weights are float32
// like ONNX Runtime's; 8-bit inputs get them rounded to 22-bit fixed point.
func antialiasTaps(p resizeParams, in, out int, rscale float32, roi [2]float64) (*axisTaps, error) {
	if in == 0 {
		return nil, fmt.Errorf("cannot resize an empty axis to %d", out)
	}
	supportSize := float32(2)
	a := float32(p.cubicA)
	filter := func(x float32) float32 {
		x = float32(math.Abs(float64(x)))
		if x < 1 {
			return 1 - x
		}
		return 0
	}
	if p.mode == "cubic" {
		supportSize = 4
		filter = func(x float32) float32 {
			x = float32(math.Abs(float64(x)))
			if x < 1 {
				return ((a+2)*x-(a+3))*x*x + 1
			}
			if x < 2 {
				return (((x-5)*x+8)*x - 4) * a
			}
			return 0
		}
	}
	scale := 1 / rscale
	support := supportSize * 0.5
	invScale := float32(1)
	if scale >= 1 {
		support *= scale
		invScale = 1 / scale
	}
	window := int(math.Ceil(float64(support)))*2 + 1
	if window > 1<<16 {
		return nil, fmt.Errorf("antialias window %d too large", window)
	}
	t := &axisTaps{n: window, fixed: p.fixedWeights, idx: make([]int, out*window), w: make([]float64, out*window)}
	if p.coord == "tf_crop_and_resize" {
		t.extrap = make([]bool, out)
	}
	buf := make([]float32, window)
	for i := 0; i < out; i++ {
		center := float32(i) + 0.5
		if scale != 1 {
			xo, _ := originalCoord(p, i, in, out, float64(rscale), roi)
			center = float32(xo) + 0.5
		}
		if t.extrap != nil {
			t.extrap[i] = center-0.5 < 0 || center-0.5 > float32(in-1)
		}
		xminReal := int(math.Floor(float64(center - support + 0.5)))
		xmaxReal := int(math.Floor(float64(center + support + 0.5)))
		xmaxReal = xminReal + max(0, min(window, xmaxReal-xminReal))
		xminCut, xmaxCut := max(0, min(in, xminReal)), max(0, min(in, xmaxReal))
		xmin, xmax := xminReal, xmaxReal
		if p.excludeOutside {
			xmin, xmax = xminCut, xmaxCut
		}
		clear(buf)
		var total float32
		count := xmax - xmin
		for x := 0; x < count; x++ {
			w := filter((float32(x+xmin) - center + 0.5) * invScale)
			buf[x] = w
			total += w
		}
		if !p.excludeOutside && xminCut < xmaxCut {
			neg := max(0, min(count-1, -xmin))
			for x := 0; x < neg; x++ {
				buf[neg] += buf[x]
			}
			bound := max(0, min(count-1, count+xmin-in))
			for x := count - bound; x < count; x++ {
				buf[count-bound-1] += buf[x]
			}
			if neg|bound > 0 {
				for x := 0; x < xmaxCut-xminCut; x++ {
					buf[x] = buf[x+neg]
				}
			}
		}
		inv := float32(1)
		if total != 0 {
			inv = 1 / total
		}
		for x := 0; x < window; x++ {
			t.idx[i*window+x] = min(in-1, xminCut+x)
			if x < xmaxCut-xminCut {
				w := buf[x] * inv
				if p.fixedWeights {
					t.w[i*window+x] = math.Round(float64(w) * (1 << 22))
				} else {
					t.w[i*window+x] = float64(w)
				}
			}
		}
	}
	return t, nil
}
