package tf2onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite"
	"github.com/refit-ml/refit/graph"
)

// MediaPipe's custom TFLite operators (mediapipe/util/tflite/operations), each
// written as a small ONNX subgraph. Their options are C structs copied verbatim into
// custom_options (little-endian int32 fields), not flexbuffers.

// tflPadding values of TfLitePadding.
const (
	tflPaddingSame  = 1
	tflPaddingValid = 2
)

// maxCustomDim caps the spatial sizes the custom-operator graphs build constant
// grids for: shapes come from the file, and a grid is allocated per dimension.
const maxCustomDim = 1 << 20

// customInts reads n little-endian int32 fields from a custom operator's options.
func customInts(op tflite.Operator, n int) ([]int32, error) {
	if len(op.Custom) < 4*n {
		return nil, fmt.Errorf("%w: %s options are %d bytes, want at least %d", refit.ErrFormat, op.Op, len(op.Custom), 4*n)
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(op.Custom[4*i:]))
	}
	return out, nil
}

func (c *tflConverter) custom(op tflite.Operator, base string) error {
	switch op.Op {
	case "CUSTOM:Convolution2DTransposeBias":
		return c.transposeConvBias(op, base)
	case "CUSTOM:MaxPoolingWithArgmax2D":
		return c.maxPoolArgmax(op, base)
	case "CUSTOM:MaxUnpooling2D":
		return c.maxUnpool(op, base)
	case "CUSTOM:TransformLandmarks":
		return c.transformLandmarks(op, base)
	case "CUSTOM:TransformTensorBilinear":
		return c.transformTensorBilinear(op, base)
	case "CUSTOM:Landmarks2TransformMatrix":
		return c.landmarksToTransformMatrix(op, base)
	}
	return unsupported("%s", op.Op)
}

// transposeConvBias converts Convolution2DTransposeBias: TFLite's TRANSPOSE_CONV with
// a bias input and the output size derived from the input (inputs: data NHWC,
// weights [O, H, W, I], bias [O]; options TfLiteTransposeConvParams {padding,
// stride_width, stride_height}). SAME padding removes max(0, k - (in-1)%s - 1)
// output rows, the smaller half at the start.
func (c *tflConverter) transposeConvBias(op tflite.Operator, base string) error {
	if len(op.Inputs) != 3 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op.Op, len(op.Inputs))
	}
	p, err := customInts(op, 3)
	if err != nil {
		return err
	}
	padding, sw, sh := p[0], int64(p[1]), int64(p[2])
	if padding != tflPaddingSame && padding != tflPaddingValid {
		return fmt.Errorf("%w: %s padding %d", refit.ErrFormat, op.Op, padding)
	}
	if sw < 1 || sh < 1 || sw > 1<<16 || sh > 1<<16 {
		return fmt.Errorf("%w: %s strides %d, %d", refit.ErrFormat, op.Op, sh, sw)
	}
	if err := c.requireFloat(op.Inputs[0]); err != nil {
		return err
	}
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	w, err := c.constIn(op, 1)
	if err != nil {
		return err
	}
	bias, err := c.constIn(op, 2)
	if err != nil {
		return err
	}
	in := c.shapeOf(op.Inputs[0])
	if len(w.shape) != 4 || w.isInt || len(in) != 4 || in[1] < 1 || in[2] < 1 || in[3] != w.shape[3] || int64(bias.len()) != w.shape[0] {
		return fmt.Errorf("%w: %s input %v, weights %v, %d biases", refit.ErrFormat, op.Op, in, w.shape, bias.len())
	}
	kh, kw := w.shape[1], w.shape[2]
	var padH, padW int64
	if padding == tflPaddingSame {
		padH = max(0, kh-(in[1]-1)%sh-1)
		padW = max(0, kw-(in[2]-1)%sw-1)
	}
	// weights [O, H, W, I] -> ONNX ConvTranspose [I, O, H, W]
	wt, err := w.transposed([]int{3, 0, 1, 2})
	if err != nil {
		return err
	}
	y := c.b.Op("ConvTranspose", base+"_nchw",
		[]string{c.b.transpose(x, toNCHW), c.b.constant(base+"_w", wt), c.b.Float(base+"_b", []int64{w.shape[0]}, bias.floats())},
		graph.IntsAttr("kernel_shape", []int64{kh, kw}), graph.IntsAttr("strides", []int64{sh, sw}),
		graph.IntsAttr("pads", []int64{padH / 2, padW / 2, padH - padH/2, padW - padW/2}))
	c.names[op.Outputs[0]] = c.b.transpose(y, toNHWC)
	return nil
}

// Helpers for the small graphs below: constants and rank-preserving pieces.

func (c *tflConverter) i64s(base string, v ...int64) string {
	return c.b.IntData(base, elemInt64, []int64{int64(len(v))}, v)
}

func (c *tflConverter) f32(base string, v float32) string {
	return c.b.Float(base, []int64{1, 1}, []float32{v})
}

// cols returns columns [from, to) of the rank-2 value x.
func (c *tflConverter) cols(base, x string, from, to int64) string {
	return c.b.slice(base, x, []int64{from}, []int64{to}, []int64{1}, []int64{1})
}

// affineRows returns the 2x2 linear part (transposed, for x @ A^T) and the
// translation [2] of the first two rows of a [1, 4, 4] MediaPipe transform matrix
// (rows x' = m0 x + m1 y + m3, y' = m4 x + m5 y + m7; column 2 multiplies z = 0).
func (c *tflConverter) affineRows(base, m string) (at, t string) {
	m2 := c.b.Op("Reshape", base+"_m", []string{m, c.i64s(base+"_m_shape", 4, 4)})
	rows := c.b.slice(base+"_rows", m2, []int64{0}, []int64{2}, []int64{0}, []int64{1})
	a := c.b.Op("Gather", base+"_a", []string{rows, c.i64s(base+"_a_idx", 0, 1)}, graph.IntAttr("axis", 1))
	at = c.b.Op("Transpose", base+"_at", []string{a}, graph.IntsAttr("perm", []int64{1, 0}))
	t = c.b.Op("Reshape", base+"_t", []string{c.cols(base+"_t_col", rows, 3, 4), c.i64s(base+"_t_shape", 2)})
	return at, t
}

// transformLandmarks converts TransformLandmarks (version 2: landmarks [1, N, D]
// with D = 2 or 3): x and y go through the affine rows of the matrix, z is kept.
func (c *tflConverter) transformLandmarks(op tflite.Operator, base string) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op.Op, len(op.Inputs))
	}
	in := c.shapeOf(op.Inputs[0])
	if len(in) != 3 || in[0] != 1 || (in[2] != 2 && in[2] != 3) {
		return unsupported("%s on landmarks of shape %v (version 1 or other dimensions)", op.Op, in)
	}
	l, err := c.in(op, 0)
	if err != nil {
		return err
	}
	m, err := c.in(op, 1)
	if err != nil {
		return err
	}
	at, t := c.affineRows(base, m)
	xy := l
	if in[2] == 3 {
		xy = c.b.slice(base+"_xy", l, []int64{0}, []int64{2}, []int64{2}, []int64{1})
	}
	y := c.b.Op("Add", base+"_xy_t", []string{c.b.Op("MatMul", base+"_xy_a", []string{xy, at}), t})
	if in[2] == 3 {
		z := c.b.slice(base+"_z", l, []int64{2}, []int64{3}, []int64{2}, []int64{1})
		y = c.b.Op("Concat", base, []string{y, z}, graph.IntAttr("axis", 2))
	}
	c.names[op.Outputs[0]] = y
	return nil
}

// transformTensorBilinear converts TransformTensorBilinear (version 2): output pixel
// (x, y) samples the input at M (x+0.5, y+0.5) - 0.5 bilinearly, and is 0 when that
// point lies outside [0, W-1] x [0, H-1]. The four neighbours are gathered from the
// input flattened to [H*W, C].
func (c *tflConverter) transformTensorBilinear(op tflite.Operator, base string) error {
	if len(op.Inputs) != 2 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op.Op, len(op.Inputs))
	}
	in, out := c.shapeOf(op.Inputs[0]), c.shapeOf(op.Outputs[0])
	if len(in) != 4 || len(out) != 4 || in[0] != 1 || out[0] != 1 || in[3] != out[3] || slices.Min(in) < 1 || slices.Min(out) < 1 ||
		slices.Max(in) > maxCustomDim || slices.Max(out) > maxCustomDim {
		return unsupported("%s from %v to %v", op.Op, in, out)
	}
	if len(op.Custom) > 0 {
		attrs, err := flexMap(op.Custom)
		if err != nil {
			return err
		}
		if h, w := attrs["output_height"], attrs["output_width"]; len(h) == 1 && len(w) == 1 && (int64(h[0]) != out[1] || int64(w[0]) != out[2]) {
			return fmt.Errorf("%w: %s output %v but options %gx%g", refit.ErrFormat, op.Op, out, h[0], w[0])
		}
	}
	h, w, ch := in[1], in[2], in[3]
	oh, ow := out[1], out[2]
	if oh*ow > 1<<22 || h*w > 1<<30 {
		return unsupported("%s of %v to %v", op.Op, in, out)
	}
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	m, err := c.in(op, 1)
	if err != nil {
		return err
	}
	// pixel centres of the output, homogeneous: [oh*ow, 3]
	k := oh * ow
	grid := make([]float32, 0, 3*k)
	for y := range oh {
		for x := range ow {
			grid = append(grid, float32(x)+0.5, float32(y)+0.5, 1)
		}
	}
	m2 := c.b.Op("Reshape", base+"_m", []string{m, c.i64s(base+"_m_shape", 4, 4)})
	rows := c.b.slice(base+"_rows", m2, []int64{0}, []int64{2}, []int64{0}, []int64{1})
	affine := c.b.Op("Gather", base+"_affine", []string{rows, c.i64s(base+"_affine_idx", 0, 1, 3)}, graph.IntAttr("axis", 1))
	at := c.b.Op("Transpose", base+"_affine_t", []string{affine}, graph.IntsAttr("perm", []int64{1, 0}))
	tc := c.b.Op("Sub", base+"_tc", []string{c.b.Op("MatMul", base+"_tc_c", []string{c.b.Float(base+"_grid", []int64{k, 3}, grid), at}), c.f32(base+"_half", 0.5)})
	tx, ty := c.cols(base+"_tx", tc, 0, 1), c.cols(base+"_ty", tc, 1, 2) // [k, 1]
	zero := c.f32(base+"_zero", 0)
	inside := func(v string, hi float32, name string) string {
		lo := c.b.Op("GreaterOrEqual", name+"_ge", []string{v, zero})
		up := c.b.Op("LessOrEqual", name+"_le", []string{v, c.f32(name+"_max", hi)})
		return c.b.Op("And", name+"_in", []string{lo, up})
	}
	mask := c.b.Op("Cast", base+"_mask", []string{c.b.Op("And", base+"_inside", []string{inside(tx, float32(w-1), base+"_x"), inside(ty, float32(h-1), base+"_y")})},
		graph.IntAttr("to", elemFloat))
	x0, y0 := c.b.Op("Floor", base+"_x0", []string{tx}), c.b.Op("Floor", base+"_y0", []string{ty})
	fx, fy := c.b.Op("Sub", base+"_fx", []string{tx, x0}), c.b.Op("Sub", base+"_fy", []string{ty, y0})
	one := c.f32(base+"_one", 1)
	clampIdx := func(v string, hi int64, name string) string {
		return c.b.clip(v, 0, float32(hi), name)
	}
	xs := [2]string{clampIdx(x0, w-1, base+"_x0c"), clampIdx(c.b.Op("Add", base+"_x1", []string{x0, one}), w-1, base+"_x1c")}
	ys := [2]string{clampIdx(y0, h-1, base+"_y0c"), clampIdx(c.b.Op("Add", base+"_y1", []string{y0, one}), h-1, base+"_y1c")}
	flat := c.b.Op("Reshape", base+"_flat", []string{x, c.i64s(base+"_flat_shape", h*w, ch)})
	width := c.f32(base+"_w", float32(w))
	corner := func(yi, xi int) string {
		name := fmt.Sprintf("%s_q%d%d", base, yi, xi)
		idx := c.b.Op("Add", name+"_idx", []string{c.b.Op("Mul", name+"_row", []string{ys[yi], width}), xs[xi]})
		idx = c.b.Op("Reshape", name+"_idx_flat", []string{c.b.Op("Cast", name+"_idx_i", []string{idx}, graph.IntAttr("to", elemInt64)), c.i64s(name+"_idx_shape", k)})
		return c.b.Op("Gather", name, []string{flat, idx}, graph.IntAttr("axis", 0)) // [k, C]
	}
	lerp := func(a, b, f, name string) string { // a + f (b - a)
		return c.b.Op("Add", name, []string{a, c.b.Op("Mul", name+"_f", []string{f, c.b.Op("Sub", name+"_d", []string{b, a})})})
	}
	upper := lerp(corner(0, 0), corner(0, 1), fx, base+"_upper")
	lower := lerp(corner(1, 0), corner(1, 1), fx, base+"_lower")
	y := c.b.Op("Mul", base+"_masked", []string{lerp(upper, lower, fy, base+"_lerp"), mask})
	c.names[op.Outputs[0]] = c.b.Op("Reshape", base, []string{y, c.i64s(base+"_shape", out...)})
	return nil
}

// landmarksToTransformMatrix converts Landmarks2TransformMatrix (version 2, the
// attributes left/right_rotation_idx, target_rotation_radians, subset_idxs,
// output_height/width, scale_x/y): the rotation r = target - atan2 of the
// left->right landmark vector, the box of the subset landmarks rotated by r, and
// the 4x4 matrix shift(centre) rot(-r) scale(box * scale / output) shift(-output/2).
// cos r and sin r come from the normalized vector, so no atan2 is needed.
func (c *tflConverter) landmarksToTransformMatrix(op tflite.Operator, base string) error {
	if len(op.Inputs) != 1 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op.Op, len(op.Inputs))
	}
	attrs, err := flexMap(op.Custom)
	if err != nil {
		return err
	}
	scalar := func(key string) (float64, error) {
		v := attrs[key]
		if len(v) != 1 {
			return 0, fmt.Errorf("%w: %s attribute %s has %d values", refit.ErrFormat, op.Op, key, len(v))
		}
		return v[0], nil
	}
	if _, v1 := attrs["landmarks_range"]; v1 {
		return unsupported("%s version 1", op.Op)
	}
	var p [7]float64
	for i, key := range []string{"left_rotation_idx", "right_rotation_idx", "target_rotation_radians", "output_height", "output_width", "scale_x", "scale_y"} {
		if p[i], err = scalar(key); err != nil {
			return err
		}
	}
	left, right, target, oh, ow, scaleX, scaleY := p[0], p[1], p[2], p[3], p[4], p[5], p[6]
	in := c.shapeOf(op.Inputs[0])
	if len(in) != 3 || in[0] != 1 || in[2] != 3 || in[1] < 1 {
		return unsupported("%s on landmarks of shape %v", op.Op, in)
	}
	n := float64(in[1])
	subset := attrs["subset_idxs"]
	if len(subset) == 0 { // pairs; an odd last index pairs with itself, the same points either way
		return fmt.Errorf("%w: %s subset_idxs of %d values", refit.ErrFormat, op.Op, len(subset))
	}
	idx := make([]int64, len(subset))
	for i, v := range append(slices.Clone(subset), left, right) {
		if v < 0 || v >= n || v != math.Trunc(v) {
			return fmt.Errorf("%w: %s landmark index %g of %d", refit.ErrFormat, op.Op, v, in[1])
		}
		if i < len(idx) {
			idx[i] = int64(v)
		}
	}
	if oh <= 0 || ow <= 0 || scaleX <= 0 || scaleY <= 0 {
		return fmt.Errorf("%w: %s output %gx%g, scale %g, %g", refit.ErrFormat, op.Op, oh, ow, scaleX, scaleY)
	}
	l, err := c.in(op, 0)
	if err != nil {
		return err
	}
	b := c.b
	op2 := func(kind, name, x, y string) string { return b.Op(kind, base+"_"+name, []string{x, y}) }
	xy := c.cols(base+"_xy", b.Op("Reshape", base+"_l", []string{l, c.i64s(base+"_l_shape", in[1], 3)}), 0, 2) // [N, 2]
	pick := func(name string, i ...int64) string {
		return b.Op("Gather", base+"_"+name, []string{xy, c.i64s(base+"_"+name+"_idx", i...)}, graph.IntAttr("axis", 0))
	}
	d := op2("Sub", "d", pick("right", int64(right)), pick("left", int64(left))) // [1, 2]
	dx, dy := c.cols(base+"_dx", d, 0, 1), c.cols(base+"_dy", d, 1, 2)
	hyp := b.Op("Sqrt", base+"_hyp", []string{op2("Add", "hyp2", op2("Mul", "dx2", dx, dx), op2("Mul", "dy2", dy, dy))})
	nonzero := op2("Greater", "nonzero", hyp, c.f32(base+"_zero", 0))
	cosT := b.Op("Where", base+"_cos_t", []string{nonzero, op2("Div", "dx_n", dx, hyp), c.f32(base+"_one", 1)})
	sinT := b.Op("Where", base+"_sin_t", []string{nonzero, op2("Div", "dy_n", dy, hyp), c.f32(base+"_zero2", 0)})
	k := func(name string, v float64) string { return c.f32(base+"_"+name, float32(v)) }
	// r = target - theta
	cosR := op2("Add", "cos_r", op2("Mul", "cc", k("cos_target", math.Cos(target)), cosT), op2("Mul", "ss", k("sin_target", math.Sin(target)), sinT))
	sinR := op2("Sub", "sin_r", op2("Mul", "sc", k("sin_target2", math.Sin(target)), cosT), op2("Mul", "cs", k("cos_target2", math.Cos(target)), sinT))
	pts := pick("subset", idx...) // [K, 2]
	px, py := c.cols(base+"_px", pts, 0, 1), c.cols(base+"_py", pts, 1, 2)
	rx := op2("Sub", "rx", op2("Mul", "rx1", cosR, px), op2("Mul", "rx2", sinR, py))
	ry := op2("Add", "ry", op2("Mul", "ry1", sinR, px), op2("Mul", "ry2", cosR, py))
	reduce := func(kind, name, v string) string {
		return b.Op(kind, base+"_"+name, []string{v}, graph.IntsAttr("axes", []int64{0}), graph.IntAttr("keepdims", 1))
	}
	maxX, minX, maxY, minY := reduce("ReduceMax", "max_x", rx), reduce("ReduceMin", "min_x", rx), reduce("ReduceMax", "max_y", ry), reduce("ReduceMin", "min_y", ry)
	half := k("half", 0.5)
	midX, midY := op2("Mul", "mid_x", op2("Add", "sum_x", maxX, minX), half), op2("Mul", "mid_y", op2("Add", "sum_y", maxY, minY), half)
	// back to the image frame: rot(-r) = [[c, s], [-s, c]]
	cx := op2("Add", "cx", op2("Mul", "cx1", cosR, midX), op2("Mul", "cx2", sinR, midY))
	cy := op2("Sub", "cy", op2("Mul", "cy1", cosR, midY), op2("Mul", "cy2", sinR, midX))
	sx := op2("Mul", "sx", op2("Sub", "w", maxX, minX), k("sx_k", scaleX/ow))
	sy := op2("Mul", "sy", op2("Sub", "h", maxY, minY), k("sy_k", scaleY/oh))
	a00, a01 := op2("Mul", "a00", cosR, sx), op2("Mul", "a01", sinR, sy)
	a10 := b.Op("Neg", base+"_a10", []string{op2("Mul", "a10n", sinR, sx)})
	a11 := op2("Mul", "a11", cosR, sy)
	hw, hh := k("hw", -ow/2), k("hh", -oh/2)
	tx := op2("Add", "tx", op2("Add", "tx1", op2("Mul", "tx2", a00, hw), op2("Mul", "tx3", a01, hh)), cx)
	ty := op2("Add", "ty", op2("Add", "ty1", op2("Mul", "ty2", a10, hw), op2("Mul", "ty3", a11, hh)), cy)
	z, o := k("z", 0), k("o", 1)
	m := b.Op("Concat", base+"_flat", []string{a00, a01, z, tx, a10, a11, z, ty, z, z, o, z, z, z, z, o}, graph.IntAttr("axis", 1))
	c.names[op.Outputs[0]] = b.Op("Reshape", base, []string{m, c.i64s(base+"_shape", 1, 4, 4)})
	return nil
}

// poolParams reads TfLitePoolParams {padding, stride_width, stride_height,
// filter_width, filter_height, activation} from custom options.
type poolParams struct {
	same           bool
	sw, sh, fw, fh int64
	act            int8
}

func readPoolParams(op tflite.Operator) (poolParams, error) {
	v, err := customInts(op, 6)
	if err != nil {
		return poolParams{}, err
	}
	p := poolParams{same: v[0] == tflPaddingSame, sw: int64(v[1]), sh: int64(v[2]), fw: int64(v[3]), fh: int64(v[4]), act: int8(v[5])}
	if v[0] != tflPaddingSame && v[0] != tflPaddingValid || min(p.sw, p.sh, p.fw, p.fh) < 1 || max(p.sw, p.sh, p.fw, p.fh) > 1<<16 || v[5] < 0 || v[5] > 6 {
		return poolParams{}, fmt.Errorf("%w: %s options %v", refit.ErrFormat, op.Op, v)
	}
	return p, nil
}

// tflPadBefore is TFLite's ComputePadding for dilation 1: half the total padding
// (rounded down) goes before, never negative.
func tflPadBefore(stride, in, filter, out int64) int64 {
	return max(0, ((out-1)*stride+filter-in)/2)
}

// maxPoolArgmax converts MaxPoolingWithArgmax2D: a max pool whose second output is
// the position of each maximum inside its window, max_y * filter_width + max_x, as
// float32 (plus 0.1, so that truncation recovers it). ONNX MaxPool's indices are
// flat NCHW positions; the window origin is subtracted to make them local.
func (c *tflConverter) maxPoolArgmax(op tflite.Operator, base string) error {
	if len(op.Inputs) != 1 || len(op.Outputs) != 2 {
		return fmt.Errorf("%w: %s with %d inputs, %d outputs", refit.ErrFormat, op.Op, len(op.Inputs), len(op.Outputs))
	}
	p, err := readPoolParams(op)
	if err != nil {
		return err
	}
	in := c.shapeOf(op.Inputs[0])
	if len(in) != 4 || slices.Min(in) < 1 || slices.Max(in) > maxCustomDim {
		return unsupported("%s on input of shape %v", op.Op, in)
	}
	h, w := in[1], in[2]
	outSize := func(n, f, s int64) int64 {
		if p.same {
			return (n + s - 1) / s
		}
		return (n - f + s) / s
	}
	oh, ow := outSize(h, p.fh, p.sh), outSize(w, p.fw, p.sw)
	if oh < 1 || ow < 1 {
		return fmt.Errorf("%w: %s window %dx%d on %v", refit.ErrFormat, op.Op, p.fh, p.fw, in)
	}
	pt, pl := tflPadBefore(p.sh, h, p.fh, oh), tflPadBefore(p.sw, w, p.fw, ow)
	pb, pr := max(0, (oh-1)*p.sh+p.fh-h-pt), max(0, (ow-1)*p.sw+p.fw-w-pl)
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	vals, idx := c.b.Names.Fresh(base+"_values"), c.b.Names.Fresh(base+"_indices")
	c.b.Node("MaxPool", vals, []string{c.b.transpose(x, toNCHW)}, []string{vals, idx},
		graph.IntsAttr("kernel_shape", []int64{p.fh, p.fw}), graph.IntsAttr("strides", []int64{p.sh, p.sw}), graph.IntsAttr("pads", []int64{pt, pl, pb, pr}))
	if err := c.set(op.Outputs[0], c.b.transpose(vals, toNHWC), p.act); err != nil {
		return err
	}
	row := c.b.Op("Div", base+"_row", []string{idx, c.b.IntData(base+"_w", elemInt64, nil, []int64{w})})
	y := c.b.Op("Mod", base+"_y", []string{row, c.b.IntData(base+"_h", elemInt64, nil, []int64{h})})
	xx := c.b.Op("Mod", base+"_x", []string{idx, c.b.IntData(base+"_w2", elemInt64, nil, []int64{w})})
	originY, originX := make([]int64, oh), make([]int64, ow)
	for i := range originY {
		originY[i] = int64(i)*p.sh - pt
	}
	for i := range originX {
		originX[i] = int64(i)*p.sw - pl
	}
	dy := c.b.Op("Sub", base+"_dy", []string{y, c.b.IntData(base+"_oy", elemInt64, []int64{1, 1, oh, 1}, originY)})
	dx := c.b.Op("Sub", base+"_dx", []string{xx, c.b.IntData(base+"_ox", elemInt64, []int64{1, 1, 1, ow}, originX)})
	local := c.b.Op("Add", base+"_local", []string{c.b.Op("Mul", base+"_dyw", []string{dy, c.b.IntData(base+"_fw", elemInt64, nil, []int64{p.fw})}), dx})
	f := c.b.Op("Add", base+"_idx_f", []string{c.b.Op("Cast", base+"_idx_c", []string{local}, graph.IntAttr("to", elemFloat)), c.b.Float(base+"_tenth", nil, []float32{0.1})})
	c.names[op.Outputs[1]] = c.b.transpose(f, toNHWC)
	return nil
}

// maxUnpool converts MaxUnpooling2D: the output, filter_height x filter_width times
// the input's size, is zero except where each input value lands, at its window's
// origin plus the local position its (truncated) index encodes; positions outside
// the output are dropped. The values are scattered into a flat buffer with one
// extra slot that takes the dropped ones.
func (c *tflConverter) maxUnpool(op tflite.Operator, base string) error {
	if len(op.Inputs) != 2 || len(op.Outputs) != 1 {
		return fmt.Errorf("%w: %s with %d inputs, %d outputs", refit.ErrFormat, op.Op, len(op.Inputs), len(op.Outputs))
	}
	p, err := readPoolParams(op)
	if err != nil {
		return err
	}
	in := c.shapeOf(op.Inputs[0])
	if len(in) != 4 || slices.Min(in) < 1 || slices.Max(in) > maxCustomDim || !slices.Equal(in, c.shapeOf(op.Inputs[1])) {
		return unsupported("%s on inputs of shape %v, %v", op.Op, in, c.shapeOf(op.Inputs[1]))
	}
	n, h, w, ch := in[0], in[1], in[2], in[3]
	oh, ow := h*p.fh, w*p.fw // each at most 2^36: the products below are checked one factor at a time
	size := int64(1)
	for _, d := range []int64{n, oh, ow, ch} {
		if size > (1<<31)/d {
			return unsupported("%s output of %v x %dx%d", op.Op, in, p.fh, p.fw)
		}
		size *= d
	}
	pt, pl := tflPadBefore(p.sh, oh, p.fh, h), tflPadBefore(p.sw, ow, p.fw, w)
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	ind, err := c.in(op, 1)
	if err != nil {
		return err
	}
	i64 := func(name string, shape []int64, v ...int64) string {
		return c.b.IntData(base+"_"+name, elemInt64, shape, v)
	}
	idx := c.b.Op("Cast", base+"_idx", []string{ind}, graph.IntAttr("to", elemInt64)) // truncates, as C's float-to-int
	my := c.b.Op("Div", base+"_my", []string{idx, i64("fw", nil, p.fw)})
	mx := c.b.Op("Sub", base+"_mx", []string{idx, c.b.Op("Mul", base+"_myw", []string{my, i64("fw2", nil, p.fw)})})
	grid := func(name string, count, stride, pad int64, shape []int64) string {
		v := make([]int64, count)
		for i := range v {
			v[i] = int64(i)*stride - pad
		}
		return i64(name, shape, v...)
	}
	oy := c.b.Op("Add", base+"_oy", []string{my, grid("gy", h, p.sh, pt, []int64{1, h, 1, 1})})
	ox := c.b.Op("Add", base+"_ox", []string{mx, grid("gx", w, p.sw, pl, []int64{1, 1, w, 1})})
	inRange := func(v string, hi int64, name string) string {
		ge := c.b.Op("GreaterOrEqual", base+"_"+name+"_ge", []string{v, i64(name+"_lo", nil, 0)})
		lt := c.b.Op("Less", base+"_"+name+"_lt", []string{v, i64(name+"_hi", nil, hi)})
		return c.b.Op("And", base+"_"+name+"_in", []string{ge, lt})
	}
	valid := c.b.Op("And", base+"_valid", []string{inRange(oy, oh, "y"), inRange(ox, ow, "x")})
	flat := c.b.Op("Add", base+"_t1", []string{c.b.Op("Mul", base+"_t0", []string{c.b.Op("Add", base+"_nrow", []string{grid("gn", n, oh, 0, []int64{n, 1, 1, 1}), oy}), i64("ow", nil, ow)}), ox})
	flat = c.b.Op("Add", base+"_t3", []string{c.b.Op("Mul", base+"_t2", []string{flat, i64("ch", nil, ch)}), grid("gc", ch, 1, 0, []int64{1, 1, 1, ch})})
	target := c.b.Op("Where", base+"_target", []string{valid, flat, i64("spill", nil, size)})
	target = c.b.Op("Reshape", base+"_target_col", []string{target, i64("col", []int64{2}, -1, 1)})
	zeros := c.b.Op("ConstantOfShape", base+"_zeros", []string{i64("size", []int64{1}, size+1)})
	updates := c.b.Op("Reshape", base+"_updates", []string{x, i64("flat", []int64{1}, -1)})
	out := c.b.Op("ScatterND", base+"_scatter", []string{zeros, target, updates})
	out = c.b.slice(base+"_trim", out, []int64{0}, []int64{size}, []int64{0}, []int64{1})
	c.names[op.Outputs[0]] = c.b.Op("Reshape", base, []string{out, i64("shape", []int64{4}, n, oh, ow, ch)})
	return nil
}
