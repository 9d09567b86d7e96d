package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Operators that rearrange elements without arithmetic on them (Col2Im sums overlaps):
// DepthToSpace, SpaceToDepth, ReverseSequence, Col2Im and CenterCropPad. They build an
// index map and move elements with takeOrZero, so they serve every dtype.

func init() {
	Register(Op{Type: "DepthToSpace", Since: 1, Kernel: depthToSpaceKernel})
	Register(Op{Type: "SpaceToDepth", Since: 1, Kernel: spaceToDepthKernel})
	Register(Op{Type: "ReverseSequence", Since: 10, Kernel: reverseSequenceKernel})
	Register(Op{Type: "Col2Im", Since: 18, Kernel: col2ImKernel, ViaFloat32: true})
	Register(Op{Type: "CenterCropPad", Since: 18, Kernel: centerCropPadKernel})
}

func depthToSpaceKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) != 4 {
		return nil, fmt.Errorf("input must be [N, C, H, W], have %v", x)
	}
	var a attrs
	bs := a.int(c.Node, "blocksize", 0)
	mode := a.str(c.Node, "mode", "DCR")
	if a.err != nil {
		return nil, a.err
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if bs <= 0 || C%(bs*bs) != 0 {
		return nil, fmt.Errorf("blocksize %d must divide channels %d in squares", bs, C)
	}
	if mode != "DCR" && mode != "CRD" {
		return nil, fmt.Errorf("mode %q: want DCR or CRD", mode)
	}
	oc := C / (bs * bs)
	shape := []int64{N, oc, H * bs, W * bs}
	total, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	idx, err := scratchSlice[int](c, total)
	if err != nil {
		return nil, err
	}
	b, h, w, cc := int(bs), int(H), int(W), int(oc)
	i := 0
	for n := 0; n < int(N); n++ {
		for ch := 0; ch < cc; ch++ {
			for y := 0; y < h*b; y++ {
				for xx := 0; xx < w*b; xx++ {
					by, bx := y%b, xx%b
					var src int
					if mode == "DCR" {
						src = (by*b+bx)*cc + ch
					} else {
						src = ch*b*b + by*b + bx
					}
					idx[i] = ((n*int(C)+src)*h+y/b)*w + xx/b
					i++
				}
			}
		}
	}
	r, err := gatherValue(c, x, shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

func spaceToDepthKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) != 4 {
		return nil, fmt.Errorf("input must be [N, C, H, W], have %v", x)
	}
	bs, err := c.Node.Int("blocksize", 0)
	if err != nil {
		return nil, err
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if bs <= 0 || H%bs != 0 || W%bs != 0 {
		return nil, fmt.Errorf("blocksize %d must divide H %d and W %d", bs, H, W)
	}
	shape := []int64{N, C * bs * bs, H / bs, W / bs}
	total, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	idx, err := scratchSlice[int](c, total)
	if err != nil {
		return nil, err
	}
	b, oh, ow := int(bs), int(H/bs), int(W/bs)
	i := 0
	for n := 0; n < int(N); n++ {
		for oc := 0; oc < int(C)*b*b; oc++ {
			by, bx, ch := oc/int(C)/b, oc/int(C)%b, oc%int(C)
			for y := 0; y < oh; y++ {
				for xx := 0; xx < ow; xx++ {
					idx[i] = ((n*int(C)+ch)*int(H)+y*b+by)*int(W) + xx*b + bx
					i++
				}
			}
		}
	}
	r, err := gatherValue(c, x, shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

func reverseSequenceKernel(c *Call) ([]*Value, error) {
	x, lens := c.Input(0), c.Input(1)
	if x == nil || lens == nil || len(x.Shape) < 2 {
		return nil, fmt.Errorf("needs input of rank >= 2 and sequence_lens")
	}
	var a attrs
	batchAxis := a.int(c.Node, "batch_axis", 1)
	timeAxis := a.int(c.Node, "time_axis", 0)
	if a.err != nil {
		return nil, a.err
	}
	if !(batchAxis == 0 && timeAxis == 1 || batchAxis == 1 && timeAxis == 0) {
		return nil, fmt.Errorf("batch_axis %d and time_axis %d must be 0 and 1", batchAxis, timeAxis)
	}
	sl, err := lens.AsInt64s()
	if err != nil {
		return nil, err
	}
	B, T := x.Shape[batchAxis], x.Shape[timeAxis]
	if int64(len(sl)) != B {
		return nil, fmt.Errorf("sequence_lens %v must hold batch size %d values", lens, B)
	}
	st := stridesOf(x.Shape)
	idx, err := scratchSlice[int](c, x.Len())
	if err != nil {
		return nil, err
	}
	for i := range idx {
		b := i / st[batchAxis] % int(B)
		t := i / st[timeAxis] % int(T)
		l := int(clamp(sl[b], 0, T))
		if t < l {
			idx[i] = i + (l-1-2*t)*st[timeAxis]
		} else {
			idx[i] = i
		}
	}
	r, err := gatherValue(c, x, x.Shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

// col2ImKernel sums the columns of input [N, C*prod(block), L] back into images
// [N, C, image_shape...], the inverse layout of im2col.
func col2ImKernel(c *Call) ([]*Value, error) {
	x, imgV, blkV := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || imgV == nil || blkV == nil || x.DType != tensor.F32 || len(x.Shape) != 3 {
		return nil, fmt.Errorf("needs float input [N, C*prod(block_shape), L], image_shape and block_shape")
	}
	img, err := imgV.AsInt64s()
	if err != nil {
		return nil, err
	}
	blk, err := blkV.AsInt64s()
	if err != nil {
		return nil, err
	}
	nd := len(img)
	if nd == 0 || len(blk) != nd {
		return nil, fmt.Errorf("image_shape %v and block_shape %v must have the same nonzero length", img, blk)
	}
	ones := make([]int64, nd)
	for i := range ones {
		ones[i] = 1
	}
	var a attrs
	dil := a.ints(c.Node, "dilations", ones)
	str := a.ints(c.Node, "strides", ones)
	pads := a.ints(c.Node, "pads", make([]int64, 2*nd))
	if a.err != nil {
		return nil, a.err
	}
	if len(dil) != nd || len(str) != nd || len(pads) != 2*nd {
		return nil, fmt.Errorf("dilations %v, strides %v, pads %v do not match %d dims", dil, str, pads, nd)
	}
	kn, L := 1, 1
	blocks := make([]int64, nd)
	for d := 0; d < nd; d++ {
		if img[d] <= 0 || blk[d] <= 0 || dil[d] <= 0 || str[d] <= 0 || img[d] > 1<<24 || blk[d] > 1<<24 {
			return nil, fmt.Errorf("image_shape %v, block_shape %v, dilations %v and strides %v must be positive", img, blk, dil, str)
		}
		ext := (blk[d]-1)*dil[d] + 1
		span := img[d] + pads[d] + pads[nd+d] - ext
		if span < 0 {
			return nil, fmt.Errorf("block %v does not fit image %v with pads %v", blk, img, pads)
		}
		blocks[d] = span/str[d] + 1
		kn *= int(blk[d])
		L *= int(blocks[d])
	}
	N, CK := int(x.Shape[0]), int(x.Shape[1])
	if CK%kn != 0 || int(x.Shape[2]) != L {
		return nil, fmt.Errorf("input %v must be [N, C*%d, %d]", x, kn, L)
	}
	C := CK / kn
	shape := append([]int64{int64(N), int64(C)}, img...)
	if _, err := numElements(shape); err != nil {
		return nil, err
	}
	out, err := c.Alloc(tensor.F32, shape)
	if err != nil {
		return nil, err
	}
	xs, ys := x.Data.([]float32), out.Data.([]float32)
	imgStr := stridesOf(img)
	imgSize := 1
	for _, d := range img {
		imgSize *= int(d)
	}
	parallel.For(c.Threads(), N*C, 1, func(lo, hi int) {
		kidx, bidx := make([]int, nd), make([]int, nd)
		for nc := lo; nc < hi; nc++ {
			dst := ys[nc*imgSize : (nc+1)*imgSize]
			for k := 0; k < kn; k++ {
				r := k
				for d := nd - 1; d >= 0; d-- {
					kidx[d] = r % int(blk[d])
					r /= int(blk[d])
				}
				src := xs[(nc*kn+k)*L : (nc*kn+k+1)*L]
				for l := 0; l < L; l++ {
					r := l
					for d := nd - 1; d >= 0; d-- {
						bidx[d] = r % int(blocks[d])
						r /= int(blocks[d])
					}
					off, ok := 0, true
					for d := 0; d < nd; d++ {
						p := bidx[d]*int(str[d]) - int(pads[d]) + kidx[d]*int(dil[d])
						if p < 0 || p >= int(img[d]) {
							ok = false
							break
						}
						off += p * imgStr[d]
					}
					if ok {
						dst[off] += src[l]
					}
				}
			}
		}
	})
	return []*Value{out}, nil
}

// centerCropPadKernel crops or zero-pads each listed axis to the requested size,
// keeping the content centered (the extra element goes to the end).
func centerCropPadKernel(c *Call) ([]*Value, error) {
	x, sv := c.Input(0), c.Input(1)
	if x == nil || sv == nil {
		return nil, fmt.Errorf("needs input_data and shape")
	}
	target, err := sv.AsInt64s()
	if err != nil {
		return nil, err
	}
	rank := len(x.Shape)
	axes, err := c.Node.Ints("axes", nil)
	if err != nil {
		return nil, err
	}
	if axes == nil {
		for i := 0; i < rank; i++ {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) != len(target) {
		return nil, fmt.Errorf("shape %v must have one entry per axis %v", target, axes)
	}
	shape := slices.Clone(x.Shape)
	offset := make([]int, rank) // input index = output index + offset
	for i, a := range axes {
		ax, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if target[i] < 0 || target[i] > 1<<31 {
			return nil, fmt.Errorf("size %d out of range", target[i])
		}
		in := x.Shape[ax]
		if target[i] <= in {
			offset[ax] = int((in - target[i]) / 2)
		} else {
			offset[ax] = -int((target[i] - in) / 2)
		}
		shape[ax] = target[i]
	}
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	st := stridesOf(x.Shape)
	idx, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, err
	}
	coord := make([]int, rank)
	for i := range idx {
		r := i
		for d := rank - 1; d >= 0; d-- {
			coord[d] = r % int(shape[d])
			r /= int(shape[d])
		}
		off := 0
		for d := 0; d < rank; d++ {
			p := coord[d] + offset[d]
			if p < 0 || p >= int(x.Shape[d]) {
				off = -1
				break
			}
			off += p * st[d]
		}
		idx[i] = off
	}
	r, err := gatherValue(c, x, shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}
