package tf2onnx

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/graph"
)

func init() {
	tfjsOps["CropAndResize"] = (*tfjsConverter).cropAndResize
}

// cropAndResize samples crop_size grids from boxes of the images, as TF does: box
// (y1, x1, y2, x2) in normalized coordinates maps crop row i to image row
// y1*(H-1) + i*(y2-y1)*(H-1)/(ch-1) (the box centre when ch is 1); samples outside
// the image take extrapolation_value. Bilinear weights or the nearest pixel (rounding
// half up) are gathered with GatherND from clamped indices.
func (c *tfjsConverter) cropAndResize(n *gNode) error {
	xs, err := c.ins(n, 3)
	if err != nil {
		return err
	}
	crop, err := c.constIntsIn(n, 3)
	if err != nil {
		return err
	}
	if len(crop) != 2 || crop[0] < 1 || crop[1] < 1 || crop[0] > 1<<16 || crop[1] > 1<<16 {
		return fmt.Errorf("%w: CropAndResize crop_size %v", refit.ErrFormat, crop)
	}
	method := n.str("method", "bilinear")
	if method != "bilinear" && method != "nearest" {
		return unsupported("CropAndResize method %s", method)
	}
	img, boxes, boxInd := xs[0], xs[1], xs[2]
	base := n.Name
	op := func(kind, name string, in ...string) string { return c.b.Op(kind, base+"_"+name, in) }
	f := func(name string, v ...float32) string { return c.b.Float(base+"_"+name, []int64{int64(len(v))}, v) }
	shape := op("Shape", "shape", img)
	// Largest row and column index, as float and as int.
	hwMax := op("Sub", "hw_max", op("Slice", "hw", shape, c.ints1(base+"_1", 1), c.ints1(base+"_3", 3)), c.ints1(base+"_one", 1))
	hwMaxF := c.b.Op("Cast", base+"_hw_max_f", []string{hwMax}, graph.IntAttr("to", elemFloat))
	// axis coordinates: [N, size] sample positions along one image axis.
	axis := func(name string, k int64, size int64) (pos, valid string) {
		t := make([]float32, size)
		for i := range t {
			if size == 1 {
				t[i] = 0.5
			} else {
				t[i] = float32(i) / float32(size-1)
			}
		}
		lo := c.b.slice(base+"_"+name+"_lo", boxes, []int64{k}, []int64{k + 1}, []int64{1}, []int64{1})
		hi := c.b.slice(base+"_"+name+"_hi", boxes, []int64{k + 2}, []int64{k + 3}, []int64{1}, []int64{1})
		maxF := c.b.Op("Gather", base+"_"+name+"_max", []string{hwMaxF, c.b.IntData(base+"_"+name+"_k", elemInt64, nil, []int64{k})}, graph.IntAttr("axis", 0))
		pos = op("Mul", name+"_pos", op("Add", name+"_in", lo, op("Mul", name+"_step", f(name+"_t", t...), op("Sub", name+"_span", hi, lo))), maxF)
		valid = op("And", name+"_valid", op("GreaterOrEqual", name+"_ge", pos, f(name+"_zero", 0)), op("LessOrEqual", name+"_le", pos, maxF))
		return pos, valid
	}
	ys, vy := axis("y", 0, crop[0])
	xsPos, vx := axis("x", 1, crop[1])
	count := op("Shape", "count", boxInd)
	grid := c.b.Op("Concat", base+"_grid", []string{count, c.ints1(base+"_crop1", crop[0], crop[1], 1)}, graph.IntAttr("axis", 0))
	// index turns [N, size] float positions into clamped int64 indices shaped for the grid.
	index := func(name, pos string, k int64, unsq []int64) string {
		maxF := c.b.Op("Gather", base+"_"+name+"_maxk", []string{hwMaxF, c.b.IntData(base+"_"+name+"_kk", elemInt64, nil, []int64{k})}, graph.IntAttr("axis", 0))
		cl := op("Min", name+"_hi", op("Max", name+"_lo", pos, f(name+"_z", 0)), maxF)
		i := c.b.Op("Cast", base+"_"+name+"_int", []string{cl}, graph.IntAttr("to", elemInt64))
		return op("Expand", name+"_grid", op("Unsqueeze", name+"_u", i, c.ints1(base+"_"+name+"_ax", unsq...)), grid)
	}
	b := op("Expand", "b_grid", op("Unsqueeze", "b_u", boxInd, c.ints1(base+"_b_ax", 1, 2, 3)), grid)
	gather := func(name, yi, xi string) string {
		idx := c.b.Op("Concat", base+"_"+name+"_idx", []string{b, yi, xi}, graph.IntAttr("axis", 3))
		return op("GatherND", name, img, idx)
	}
	var out string
	if method == "nearest" {
		half := f("half", 0.5)
		yn := index("yn", op("Floor", "y_round", op("Add", "y_half", ys, half)), 0, []int64{2, 3})
		xn := index("xn", op("Floor", "x_round", op("Add", "x_half", xsPos, half)), 1, []int64{1, 3})
		out = gather("nearest", yn, xn)
	} else {
		yf, xf := op("Floor", "y_floor", ys), op("Floor", "x_floor", xsPos)
		top, bottom := index("top", yf, 0, []int64{2, 3}), index("bottom", op("Ceil", "y_ceil", ys), 0, []int64{2, 3})
		left, right := index("left", xf, 1, []int64{1, 3}), index("right", op("Ceil", "x_ceil", xsPos), 1, []int64{1, 3})
		yl := op("Unsqueeze", "y_lerp", op("Sub", "y_frac", ys, yf), c.ints1(base+"_yl_ax", 2, 3))
		xl := op("Unsqueeze", "x_lerp", op("Sub", "x_frac", xsPos, xf), c.ints1(base+"_xl_ax", 1, 3))
		lerp := func(name, a, z, w string) string {
			return op("Add", name, a, op("Mul", name+"_d", op("Sub", name+"_s", z, a), w))
		}
		t := lerp("top_row", gather("tl", top, left), gather("tr", top, right), xl)
		bm := lerp("bottom_row", gather("bl", bottom, left), gather("br", bottom, right), xl)
		out = lerp("bilinear", t, bm, yl)
	}
	valid := op("And", "valid", op("Unsqueeze", "vy", vy, c.ints1(base+"_vy_ax", 2, 3)), op("Unsqueeze", "vx", vx, c.ints1(base+"_vx_ax", 1, 3)))
	c.names[n.Name] = c.b.Op("Where", base, []string{valid, out, f("extrapolation", float32(n.float("extrapolation_value", 0)))})
	return nil
}

func init() {
	tfjsOps["SpaceToBatchND"] = (*tfjsConverter).spaceToBatch
	tfjsOps["BatchToSpaceND"] = (*tfjsConverter).batchToSpace
	tfjsOps["Where"] = (*tfjsConverter).whereIndices
}

// blockArgs reads the constant block_shape of a 4-D NHWC SpaceToBatchND /
// BatchToSpaceND (two spatial axes) and splits its paddings or crops [[h0, h1],
// [w0, w1]] (constant or computed) into begins [h0, w0] and ends [h1, w1].
func (c *tfjsConverter) blockArgs(n *gNode) (x string, block []int64, begins, ends string, err error) {
	if x, err = c.in(n, 0); err != nil {
		return
	}
	if block, err = c.constIntsIn(n, 1); err != nil {
		return
	}
	if len(block) != 2 || block[0] < 1 || block[1] < 1 {
		err = unsupported("%s with block_shape %v (two spatial axes only)", n.Op, block)
		return
	}
	ins := dataInputs(n)
	if len(ins) < 3 {
		err = fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, n.Op, len(ins))
		return
	}
	flat, err := c.intValue(n.Name+"_amounts", ins[2], 0)
	if err != nil {
		return
	}
	begins = c.dims(n.Name+"_begins", flat, 0, 2)
	ends = c.dims(n.Name+"_ends_amount", flat, 1, 3)
	return
}

// dims returns the int64 values of shape at the given positions, as a 1-D tensor.
func (c *tfjsConverter) dims(base, shape string, at ...int64) string {
	return c.b.Op("Gather", base, []string{shape, c.ints1(base+"_at", at...)}, graph.IntAttr("axis", 0))
}

// spaceToBatch pads H and W, then moves the block offsets into the batch axis:
// [B, H/bh, bh, W/bw, bw, C] -> [bh, bw, B, H/bh, W/bw, C] -> [bh*bw*B, H/bh, W/bw, C].
func (c *tfjsConverter) spaceToBatch(n *gNode) error {
	x, block, begins, ends, err := c.blockArgs(n)
	if err != nil {
		return err
	}
	base := n.Name
	pads := c.b.Op("Concat", base+"_pads", []string{c.ints1(base+"_z1", 0), begins, c.ints1(base+"_z2", 0, 0), ends, c.ints1(base+"_z3", 0)}, graph.IntAttr("axis", 0))
	x = c.b.Op("Pad", base+"_pad", []string{x, pads})
	shape := c.b.Op("Shape", base+"_shape", []string{x})
	hw := c.b.Op("Div", base+"_hw", []string{c.dims(base+"_hw_in", shape, 1, 2), c.ints1(base+"_block", block...)})
	h, w := c.dims(base+"_h", hw, 0), c.dims(base+"_w", hw, 1)
	s6 := c.b.Op("Concat", base+"_s6", []string{c.dims(base+"_b", shape, 0), h, c.ints1(base+"_bh", block[0]), w,
		c.ints1(base+"_bw", block[1]), c.dims(base+"_c", shape, 3)}, graph.IntAttr("axis", 0))
	y := c.b.Op("Reshape", base+"_r6", []string{x, s6})
	y = c.b.Op("Transpose", base+"_t6", []string{y}, graph.IntsAttr("perm", []int64{2, 4, 0, 1, 3, 5}))
	s4 := c.b.Op("Concat", base+"_s4", []string{c.ints1(base+"_m1", -1), h, w, c.dims(base+"_c4", shape, 3)}, graph.IntAttr("axis", 0))
	c.names[n.Name] = c.b.Op("Reshape", base, []string{y, s4})
	return nil
}

// batchToSpace inverts spaceToBatch, then crops:
// [bh, bw, B', H, W, C] -> [B', H, bh, W, bw, C] -> [B', H*bh, W*bw, C].
func (c *tfjsConverter) batchToSpace(n *gNode) error {
	x, block, begins, cropEnds, err := c.blockArgs(n)
	if err != nil {
		return err
	}
	base := n.Name
	shape := c.b.Op("Shape", base+"_shape", []string{x})
	hwc := c.dims(base+"_hwc", shape, 1, 2, 3)
	s6 := c.b.Op("Concat", base+"_s6", []string{c.ints1(base+"_blk", block[0], block[1], -1), hwc}, graph.IntAttr("axis", 0))
	y := c.b.Op("Reshape", base+"_r6", []string{x, s6})
	y = c.b.Op("Transpose", base+"_t6", []string{y}, graph.IntsAttr("perm", []int64{2, 3, 0, 4, 1, 5}))
	hw := c.b.Op("Mul", base+"_hw", []string{c.dims(base+"_hw_in", shape, 1, 2), c.ints1(base+"_block", block...)})
	s4 := c.b.Op("Concat", base+"_s4", []string{c.ints1(base+"_m1", -1), hw, c.dims(base+"_c", shape, 3)}, graph.IntAttr("axis", 0))
	y = c.b.Op("Reshape", base+"_r4", []string{y, s4})
	ends := c.b.Op("Sub", base+"_ends", []string{hw, cropEnds})
	c.names[n.Name] = c.b.Op("Slice", base, []string{y, begins, ends, c.ints1(base+"_axes", 1, 2)})
	return nil
}

// whereIndices is the one-input Where: the coordinates of true (non-zero) elements,
// [count, rank] in row-major order, as ONNX NonZero transposed.
func (c *tfjsConverter) whereIndices(n *gNode) error {
	if len(dataInputs(n)) != 1 {
		return c.selectOp(n)
	}
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Transpose", n.Name, []string{c.b.Op("NonZero", n.Name+"_nz", []string{x})}, graph.IntsAttr("perm", []int64{1, 0}))
	return nil
}
