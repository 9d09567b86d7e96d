package runtime

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Operators that select or encode positions: TopK, NonZero, Compress, Unique, OneHot
// and NonMaxSuppression.

func init() {
	Register(Op{Type: "TopK", Since: 1, Kernel: topKKernel})
	Register(Op{Type: "NonZero", Since: 9, Kernel: nonZeroKernel})
	Register(Op{Type: "Compress", Since: 9, Kernel: compressKernel})
	Register(Op{Type: "Unique", Since: 11, Kernel: uniqueKernel})
	Register(Op{Type: "OneHot", Since: 9, Kernel: oneHotKernel})
	Register(Op{Type: "NonMaxSuppression", Since: 10, Kernel: nmsKernel})
}

// lessAt orders elements i and j of v: integers exactly, floats with NaN last.
func lessAt(v *Value, i, j int) int {
	if v.DType.Integer() || v.DType == tensor.Bool {
		if v.DType == tensor.U64 {
			d := v.Data.([]uint64)
			return cmp.Compare(d[i], d[j])
		}
		return cmp.Compare(elemInt64(v, i), elemInt64(v, j))
	}
	return cmp.Compare(elemFloat64(v, i), elemFloat64(v, j))
}

func topKKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) == 0 {
		return nil, fmt.Errorf("needs an input of rank >= 1")
	}
	var a attrs
	axis := a.int(c.Node, "axis", -1)
	largest := a.int(c.Node, "largest", 1) != 0
	k := int64(0)
	if c.Opset < 10 {
		k = a.int(c.Node, "k", -1)
	}
	if a.err != nil {
		return nil, a.err
	}
	if c.Opset >= 10 {
		var err error
		if k, err = scalarInt(c.Input(1), "K"); err != nil {
			return nil, err
		}
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	outer, dim, inner := splitAxis(x.Shape, ax)
	if k < 0 || k > int64(dim) {
		return nil, fmt.Errorf("k = %d out of range for axis of size %d", k, dim)
	}
	K := int(k)
	shape := slices.Clone(x.Shape)
	shape[ax] = k
	vals, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	inds, err := c.Alloc(tensor.I64, shape)
	if err != nil {
		return nil, err
	}
	idx, err := scratchSlice[int](c, outer*K*inner)
	if err != nil {
		return nil, err
	}
	out := inds.Data.([]int64)
	switch d := x.Data.(type) {
	case []float32:
		topKRows(c.Threads(), d, idx, out, outer, dim, inner, K, largest)
	case []float64:
		topKRows(c.Threads(), d, idx, out, outer, dim, inner, K, largest)
	case []int32:
		topKRows(c.Threads(), d, idx, out, outer, dim, inner, K, largest)
	case []int64:
		topKRows(c.Threads(), d, idx, out, outer, dim, inner, K, largest)
	default:
		parallel.For(c.Threads(), outer*inner, 16, func(lo, hi int) {
			order := make([]int, dim)
			for r := lo; r < hi; r++ {
				o, in := r/inner, r%inner
				base := o*dim*inner + in
				for i := range order {
					order[i] = i
				}
				// Stable: lower indices first among equal values, as ONNX Runtime does.
				sort.SliceStable(order, func(p, q int) bool {
					c := lessAt(x, base+order[p]*inner, base+order[q]*inner)
					if largest {
						return c > 0
					}
					return c < 0
				})
				for j := 0; j < K; j++ {
					dst := o*K*inner + j*inner + in
					idx[dst] = base + order[j]*inner
					out[dst] = int64(order[j])
				}
			}
		})
	}
	takeOrZero(c.Threads(), vals.Data, x.Data, idx)
	return []*Value{vals, inds}, nil
}

func isNonZero(v *Value, i int) bool {
	switch d := v.Data.(type) {
	case []bool:
		return d[i]
	case []float32:
		return d[i] != 0
	case []float64:
		return d[i] != 0
	case []uint16:
		if v.DType == tensor.U16 {
			return d[i] != 0
		}
		return d[i]&0x7fff != 0
	}
	return elemInt64(v, i) != 0
}

func nonZeroKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs an input")
	}
	var hits []int
	for i := 0; i < x.Len(); i++ {
		if isNonZero(x, i) {
			hits = append(hits, i)
		}
	}
	rank := len(x.Shape)
	out, err := c.Alloc(tensor.I64, []int64{int64(rank), int64(len(hits))})
	if err != nil {
		return nil, err
	}
	o := out.Data.([]int64)
	st := stridesOf(x.Shape)
	for j, h := range hits {
		for d := 0; d < rank; d++ {
			o[d*len(hits)+j] = int64(h / st[d] % int(x.Shape[d]))
		}
	}
	return []*Value{out}, nil
}

func oneHotKernel(c *Call) ([]*Value, error) {
	ind, depthV, values := c.Input(0), c.Input(1), c.Input(2)
	if ind == nil || depthV == nil || values == nil || values.Len() != 2 {
		return nil, fmt.Errorf("needs indices, depth and two values [off, on]")
	}
	if depthV.Len() != 1 {
		return nil, fmt.Errorf("depth must hold one value, have %v", depthV)
	}
	depth := int64(elemFloat64(depthV, 0))
	if depth <= 0 || depth > 1<<31 {
		return nil, fmt.Errorf("depth %d must be positive", depth)
	}
	axis, err := c.Node.Int("axis", -1)
	if err != nil {
		return nil, err
	}
	rank := len(ind.Shape) + 1
	ax, err := normAxis(axis, rank)
	if err != nil {
		return nil, err
	}
	shape := slices.Insert(slices.Clone(ind.Shape), ax, depth)
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	if err := c.checkElements(int64(n)); err != nil {
		return nil, err
	}
	outer, _, inner := splitAxis(shape, ax)
	idx, err := scratchSlice[int](c, n)
	if err != nil {
		return nil, err
	}
	for i := 0; i < ind.Len(); i++ {
		v := int64(elemFloat64(ind, i))
		if v < 0 {
			v += depth
		}
		if v < 0 || v >= depth {
			continue
		}
		o, in := i/inner, i%inner
		idx[(o*int(depth)+int(v))*inner+in] = 1
	}
	_ = outer
	r, err := gatherValue(c, values, shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

func compressKernel(c *Call) ([]*Value, error) {
	x, cond := c.Input(0), c.Input(1)
	if x == nil || cond == nil || cond.DType != tensor.Bool || len(cond.Shape) != 1 {
		return nil, fmt.Errorf("needs input and a 1-D bool condition")
	}
	cs := cond.Data.([]bool)
	if !c.Node.Has("axis") {
		var idx []int
		for i, keep := range cs {
			if i >= x.Len() {
				break
			}
			if keep {
				idx = append(idx, i)
			}
		}
		r, err := gatherValue(c, x, []int64{int64(len(idx))}, idx)
		if err != nil {
			return nil, err
		}
		return []*Value{r}, nil
	}
	axis, err := c.Node.Int("axis", 0)
	if err != nil {
		return nil, err
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	outer, dim, inner := splitAxis(x.Shape, ax)
	var sel []int
	for i, keep := range cs {
		if i < dim && keep {
			sel = append(sel, i)
		}
	}
	shape := slices.Clone(x.Shape)
	shape[ax] = int64(len(sel))
	idx, err := scratchSlice[int](c, outer*len(sel)*inner)
	if err != nil {
		return nil, err
	}
	idx = idx[:0]
	for o := 0; o < outer; o++ {
		for _, s := range sel {
			for in := 0; in < inner; in++ {
				idx = append(idx, (o*dim+s)*inner+in)
			}
		}
	}
	r, err := gatherValue(c, x, shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{r}, nil
}

func uniqueKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs an input")
	}
	sorted, err := c.Node.Int("sorted", 1)
	if err != nil {
		return nil, err
	}
	outer, dim, inner := 1, x.Len(), 1
	ax := -1
	if c.Node.Has("axis") {
		axis, err := c.Node.Int("axis", 0)
		if err != nil {
			return nil, err
		}
		if ax, err = normAxis(axis, len(x.Shape)); err != nil {
			return nil, err
		}
		outer, dim, inner = splitAxis(x.Shape, ax)
	}
	// Slice s is the elements (o, s, in) for all o, in; compare slices lexicographically.
	cmpSlices := func(s, t int) int {
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				if r := lessAt(x, (o*dim+s)*inner+in, (o*dim+t)*inner+in); r != 0 {
					return r
				}
			}
		}
		return 0
	}
	order := make([]int, dim)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(p, q int) bool { return cmpSlices(order[p], order[q]) < 0 })
	// Group equal slices; firsts[g] is the first occurrence of group g.
	groupOf := make([]int, dim)
	var firsts []int
	var counts []int64
	for i, s := range order {
		if i == 0 || cmpSlices(order[i-1], s) != 0 {
			firsts = append(firsts, s)
			counts = append(counts, 0)
		}
		g := len(firsts) - 1
		groupOf[s] = g
		counts[g]++
		firsts[g] = min(firsts[g], s)
	}
	ng := len(firsts)
	perm := make([]int, ng) // output position -> group
	for i := range perm {
		perm[i] = i
	}
	if sorted == 0 {
		sort.Slice(perm, func(p, q int) bool { return firsts[perm[p]] < firsts[perm[q]] })
	}
	pos := make([]int, ng)
	for p, g := range perm {
		pos[g] = p
	}
	var shape []int64
	if ax < 0 {
		shape = []int64{int64(ng)}
	} else {
		shape = slices.Clone(x.Shape)
		shape[ax] = int64(ng)
	}
	idx, err := scratchSlice[int](c, outer*ng*inner)
	if err != nil {
		return nil, err
	}
	idx = idx[:0]
	for o := 0; o < outer; o++ {
		for _, g := range perm {
			for in := 0; in < inner; in++ {
				idx = append(idx, (o*dim+firsts[g])*inner+in)
			}
		}
	}
	y, err := gatherValue(c, x, shape, idx)
	if err != nil {
		return nil, err
	}
	indices, err := c.Alloc(tensor.I64, []int64{int64(ng)})
	if err != nil {
		return nil, err
	}
	cnt, err := c.Alloc(tensor.I64, []int64{int64(ng)})
	if err != nil {
		return nil, err
	}
	for p, g := range perm {
		indices.Data.([]int64)[p] = int64(firsts[g])
		cnt.Data.([]int64)[p] = counts[g]
	}
	inverse, err := c.Alloc(tensor.I64, []int64{int64(dim)})
	if err != nil {
		return nil, err
	}
	for s := 0; s < dim; s++ {
		inverse.Data.([]int64)[s] = int64(pos[groupOf[s]])
	}
	return []*Value{y, indices, inverse, cnt}, nil
}

// nmsKernel selects boxes per (batch, class) greedily by descending score (ties: lower
// index first), dropping boxes whose IoU with a selected box exceeds iou_threshold, as
// ONNX Runtime does.
func nmsKernel(c *Call) ([]*Value, error) {
	boxes, scores := c.Input(0), c.Input(1)
	if boxes == nil || scores == nil || len(boxes.Shape) != 3 || boxes.Shape[2] != 4 || len(scores.Shape) != 3 {
		return nil, fmt.Errorf("boxes must be [B, N, 4] and scores [B, C, N], have %v and %v", boxes, scores)
	}
	B, N, C := int(boxes.Shape[0]), int(boxes.Shape[1]), int(scores.Shape[1])
	if scores.Shape[0] != int64(B) || scores.Shape[2] != int64(N) {
		return nil, fmt.Errorf("boxes %v and scores %v disagree", boxes, scores)
	}
	var maxOut int64
	if v := c.Input(2); v != nil && v.Len() > 0 {
		var err error
		if maxOut, err = scalarInt(v, "max_output_boxes_per_class"); err != nil {
			return nil, err
		}
	}
	iouTh, scoreTh := 0.0, math.Inf(-1)
	if v := c.Input(3); v != nil && v.Len() > 0 {
		iouTh = elemFloat64(v, 0)
	}
	if v := c.Input(4); v != nil && v.Len() > 0 {
		scoreTh = elemFloat64(v, 0)
	}
	centerBox, err := c.Node.Int("center_point_box", 0)
	if err != nil {
		return nil, err
	}
	bx, sc := boxes.AsFloat64s(), scores.AsFloat64s()
	corners := func(b, i int) (y1, x1, y2, x2 float64) {
		p := bx[(b*N+i)*4 : (b*N+i)*4+4]
		if centerBox != 0 {
			xc, yc, w, h := p[0], p[1], p[2], p[3]
			return yc - h/2, xc - w/2, yc + h/2, xc + w/2
		}
		return min(p[0], p[2]), min(p[1], p[3]), max(p[0], p[2]), max(p[1], p[3])
	}
	iou := func(b, i, j int) float64 {
		ay1, ax1, ay2, ax2 := corners(b, i)
		by1, bx1, by2, bx2 := corners(b, j)
		ih := max(0, min(ay2, by2)-max(ay1, by1))
		iw := max(0, min(ax2, bx2)-max(ax1, bx1))
		inter := ih * iw
		areaA, areaB := (ay2-ay1)*(ax2-ax1), (by2-by1)*(bx2-bx1)
		if areaA <= 0 || areaB <= 0 {
			return 0
		}
		return inter / (areaA + areaB - inter)
	}
	var sel []int64
	if maxOut > 0 {
		for b := 0; b < B; b++ {
			for cl := 0; cl < C; cl++ {
				s := sc[(b*C+cl)*N : (b*C+cl+1)*N]
				var cand []int
				for i, v := range s {
					if v > scoreTh {
						cand = append(cand, i)
					}
				}
				sort.SliceStable(cand, func(p, q int) bool { return s[cand[p]] > s[cand[q]] })
				var kept []int
				for _, i := range cand {
					if int64(len(kept)) >= maxOut {
						break
					}
					ok := true
					for _, j := range kept {
						if iou(b, i, j) > iouTh {
							ok = false
							break
						}
					}
					if ok {
						kept = append(kept, i)
						sel = append(sel, int64(b), int64(cl), int64(i))
					}
				}
			}
		}
	}
	out, err := c.Alloc(tensor.I64, []int64{int64(len(sel) / 3), 3})
	if err != nil {
		return nil, err
	}
	copy(out.Data.([]int64), sel)
	return []*Value{out}, nil
}

// topKRows selects the K largest (or smallest) elements of each row along the axis,
// sorted, ties going to the lower index. idx receives source offsets, out the indices.
func topKRows[T cmp.Ordered](threads int, x []T, idx []int, out []int64, outer, dim, inner, K int, largest bool) {
	type pair struct {
		v T
		i int
	}
	less := func(a, b pair) int {
		c := cmp.Compare(a.v, b.v)
		if largest {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.i, b.i)
	}
	if K == 0 {
		return
	}
	parallel.For(threads, outer*inner, 4, func(lo, hi int) {
		row := make([]pair, dim)
		for r := lo; r < hi; r++ {
			o, in := r/inner, r%inner
			base := o*dim*inner + in
			for i := range row {
				row[i] = pair{x[base+i*inner], i}
			}
			sel := row
			if K*16 < dim {
				// Keep the best K seen so far in a sorted window: O(dim * K) worst case
				// but near-linear for typical data, without sorting the whole row.
				sel = topKWindow(row, K, less)
			} else {
				slices.SortFunc(row, less)
			}
			for j := 0; j < K; j++ {
				dst := o*K*inner + j*inner + in
				idx[dst] = base + sel[j].i*inner
				out[dst] = int64(sel[j].i)
			}
		}
	})
}

// topKWindow returns the first K elements of row in less-order by insertion into a
// sorted window of size K.
func topKWindow[P any](row []P, K int, less func(a, b P) int) []P {
	win := make([]P, 0, K)
	for _, p := range row {
		if len(win) == K && less(p, win[K-1]) >= 0 {
			continue
		}
		pos, _ := slices.BinarySearchFunc(win, p, less)
		if len(win) < K {
			win = append(win, p)
		}
		copy(win[pos+1:], win[pos:len(win)-1])
		win[pos] = p
	}
	return win
}
