package runtime

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Assorted operators: TopK, NonZero, CumSum, OneHot, DepthToSpace, SpaceToDepth, Trilu,
// Compress, ReverseSequence, Unique, MeanVarianceNormalization, EyeLike, Shrink, Det,
// Einsum and NonMaxSuppression. Data-movement ops build an index map and move elements
// with takeOrZero, so they serve every dtype.

func init() {
	Register(Op{Type: "TopK", Since: 1, Kernel: topKKernel})
	Register(Op{Type: "NonZero", Since: 9, Kernel: nonZeroKernel})
	Register(Op{Type: "CumSum", Since: 11, Kernel: cumSumKernel, ViaFloat32: true})
	Register(Op{Type: "OneHot", Since: 9, Kernel: oneHotKernel})
	Register(Op{Type: "DepthToSpace", Since: 1, Kernel: depthToSpaceKernel})
	Register(Op{Type: "SpaceToDepth", Since: 1, Kernel: spaceToDepthKernel})
	Register(Op{Type: "Trilu", Since: 14, Kernel: triluKernel})
	Register(Op{Type: "Compress", Since: 9, Kernel: compressKernel})
	Register(Op{Type: "ReverseSequence", Since: 10, Kernel: reverseSequenceKernel})
	Register(Op{Type: "Unique", Since: 11, Kernel: uniqueKernel})
	Register(Op{Type: "MeanVarianceNormalization", Since: 9, Kernel: mvnKernel, ViaFloat32: true})
	Register(Op{Type: "EyeLike", Since: 9, Kernel: eyeLikeKernel})
	Register(Op{Type: "Shrink", Since: 9, Kernel: shrinkKernel, ViaFloat32: true})
	Register(Op{Type: "Det", Since: 11, Kernel: detKernel, ViaFloat32: true})
	Register(Op{Type: "Einsum", Since: 12, Kernel: einsumKernel, ViaFloat32: true})
	Register(Op{Type: "NonMaxSuppression", Since: 10, Kernel: nmsKernel})
}

// takeOrZero sets dst[i] = src[idx[i]], leaving dst[i] zero where idx[i] < 0.
func takeOrZero(threads int, dst, src any, idx []int) {
	switch d := dst.(type) {
	case []float32:
		takeZ(threads, d, src.([]float32), idx)
	case []float64:
		takeZ(threads, d, src.([]float64), idx)
	case []uint16:
		takeZ(threads, d, src.([]uint16), idx)
	case []int8:
		takeZ(threads, d, src.([]int8), idx)
	case []int16:
		takeZ(threads, d, src.([]int16), idx)
	case []int32:
		takeZ(threads, d, src.([]int32), idx)
	case []int64:
		takeZ(threads, d, src.([]int64), idx)
	case []uint8:
		takeZ(threads, d, src.([]uint8), idx)
	case []uint32:
		takeZ(threads, d, src.([]uint32), idx)
	case []uint64:
		takeZ(threads, d, src.([]uint64), idx)
	case []bool:
		takeZ(threads, d, src.([]bool), idx)
	default:
		panic(fmt.Sprintf("takeOrZero: unsupported %T", dst))
	}
}

func takeZ[T any](threads int, dst, src []T, idx []int) {
	parallel.For(threads, len(dst), 32768, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if j := idx[i]; j >= 0 {
				dst[i] = src[j]
			}
		}
	})
}

// gatherValue returns a new value of shape holding v's elements at idx (-1 = zero).
func gatherValue(c *Call, v *Value, shape []int64, idx []int) *Value {
	out := c.Alloc(v.DType, shape)
	takeOrZero(c.Threads(), out.Data, v.Data, idx)
	return out
}

// splitAxis returns the products of the dims before, at and after axis.
func splitAxis(shape []int64, axis int) (outer, dim, inner int) {
	outer, inner = 1, 1
	for _, d := range shape[:axis] {
		outer *= int(d)
	}
	for _, d := range shape[axis+1:] {
		inner *= int(d)
	}
	return outer, int(shape[axis]), inner
}

// scalarInt reads a one-element integer input.
func scalarInt(v *Value, what string) (int64, error) {
	if v == nil || v.Len() != 1 {
		return 0, fmt.Errorf("%s must hold one value, have %v", what, v)
	}
	s, err := v.AsInt64s()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return s[0], nil
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
		return nil, fmt.Errorf("K=%d out of range for axis of size %d", k, dim)
	}
	K := int(k)
	shape := slices.Clone(x.Shape)
	shape[ax] = k
	vals := c.Alloc(x.DType, shape)
	inds := c.Alloc(tensor.I64, shape)
	idx := scratchSlice[int](c, outer*K*inner)
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
	out := c.Alloc(tensor.I64, []int64{int64(rank), int64(len(hits))})
	o := out.Data.([]int64)
	st := stridesOf(x.Shape)
	for j, h := range hits {
		for d := 0; d < rank; d++ {
			o[d*len(hits)+j] = int64(h / st[d] % int(x.Shape[d]))
		}
	}
	return []*Value{out}, nil
}

func cumSumKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) == 0 {
		return nil, fmt.Errorf("needs an input of rank >= 1")
	}
	axis, err := scalarInt(c.Input(1), "axis")
	if err != nil {
		return nil, err
	}
	var a attrs
	exclusive := a.int(c.Node, "exclusive", 0) != 0
	reverse := a.int(c.Node, "reverse", 0) != 0
	if a.err != nil {
		return nil, a.err
	}
	ax, err := normAxis(axis, len(x.Shape))
	if err != nil {
		return nil, err
	}
	outer, dim, inner := splitAxis(x.Shape, ax)
	out := c.Alloc(x.DType, x.Shape)
	switch d := x.Data.(type) {
	case []float32:
		cumSum(c.Threads(), out.Data.([]float32), d, outer, dim, inner, exclusive, reverse)
	case []float64:
		cumSum(c.Threads(), out.Data.([]float64), d, outer, dim, inner, exclusive, reverse)
	case []int32:
		cumSum(c.Threads(), out.Data.([]int32), d, outer, dim, inner, exclusive, reverse)
	case []int64:
		cumSum(c.Threads(), out.Data.([]int64), d, outer, dim, inner, exclusive, reverse)
	case []uint32:
		cumSum(c.Threads(), out.Data.([]uint32), d, outer, dim, inner, exclusive, reverse)
	case []uint64:
		cumSum(c.Threads(), out.Data.([]uint64), d, outer, dim, inner, exclusive, reverse)
	default:
		return nil, fmt.Errorf("CumSum is not defined for %v", x.DType)
	}
	return []*Value{out}, nil
}

func cumSum[T number](threads int, out, x []T, outer, dim, inner int, exclusive, reverse bool) {
	parallel.For(threads, outer*inner, 64, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			base := r/inner*dim*inner + r%inner
			var acc T
			for j := 0; j < dim; j++ {
				p := j
				if reverse {
					p = dim - 1 - j
				}
				i := base + p*inner
				if exclusive {
					out[i] = acc
					acc += x[i]
				} else {
					acc += x[i]
					out[i] = acc
				}
			}
		}
	})
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
	idx := scratchSlice[int](c, n) // 0 = off value, 1 = on value
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
	return []*Value{gatherValue(c, values, shape, idx)}, nil
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
	idx := scratchSlice[int](c, total)
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
	return []*Value{gatherValue(c, x, shape, idx)}, nil
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
	idx := scratchSlice[int](c, total)
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
	return []*Value{gatherValue(c, x, shape, idx)}, nil
}

func triluKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) < 2 {
		return nil, fmt.Errorf("input must have rank >= 2, have %v", x)
	}
	upper, err := c.Node.Int("upper", 1)
	if err != nil {
		return nil, err
	}
	var k int64
	if kv := c.Input(1); kv != nil {
		if k, err = scalarInt(kv, "k"); err != nil {
			return nil, err
		}
	}
	r, cols := int(x.Shape[len(x.Shape)-2]), int(x.Shape[len(x.Shape)-1])
	idx := scratchSlice[int](c, x.Len())
	for i := range idx {
		row, col := int64(i/cols%max(r, 1)), int64(i%cols)
		keep := col-row >= k
		if upper == 0 {
			keep = col-row <= k
		}
		if keep {
			idx[i] = i
		} else {
			idx[i] = -1
		}
	}
	return []*Value{gatherValue(c, x, x.Shape, idx)}, nil
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
		return []*Value{gatherValue(c, x, []int64{int64(len(idx))}, idx)}, nil
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
	idx := scratchSlice[int](c, outer*len(sel)*inner)[:0]
	for o := 0; o < outer; o++ {
		for _, s := range sel {
			for in := 0; in < inner; in++ {
				idx = append(idx, (o*dim+s)*inner+in)
			}
		}
	}
	return []*Value{gatherValue(c, x, shape, idx)}, nil
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
	idx := scratchSlice[int](c, x.Len())
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
	return []*Value{gatherValue(c, x, x.Shape, idx)}, nil
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
	idx := scratchSlice[int](c, outer*ng*inner)[:0]
	for o := 0; o < outer; o++ {
		for _, g := range perm {
			for in := 0; in < inner; in++ {
				idx = append(idx, (o*dim+firsts[g])*inner+in)
			}
		}
	}
	y := gatherValue(c, x, shape, idx)
	indices := c.Alloc(tensor.I64, []int64{int64(ng)})
	cnt := c.Alloc(tensor.I64, []int64{int64(ng)})
	for p, g := range perm {
		indices.Data.([]int64)[p] = int64(firsts[g])
		cnt.Data.([]int64)[p] = counts[g]
	}
	inverse := c.Alloc(tensor.I64, []int64{int64(dim)})
	for s := 0; s < dim; s++ {
		inverse.Data.([]int64)[s] = int64(pos[groupOf[s]])
	}
	return []*Value{y, indices, inverse, cnt}, nil
}

// mvnKernel follows ONNX's function body: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9).
func mvnKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("needs a float input")
	}
	axes, err := c.Node.Ints("axes", []int64{0, 2, 3})
	if err != nil {
		return nil, err
	}
	reduced := make([]bool, len(x.Shape))
	for _, a := range axes {
		ax, err := normAxis(a, len(x.Shape))
		if err != nil {
			return nil, err
		}
		reduced[ax] = true
	}
	// Group elements by their coordinates on the kept axes.
	st := stridesOf(x.Shape)
	n := x.Len()
	group := scratchSlice[int](c, n)
	ng := 1
	for d := range x.Shape {
		if !reduced[d] {
			ng *= int(x.Shape[d])
		}
	}
	for i := 0; i < n; i++ {
		g := 0
		for d := range x.Shape {
			if !reduced[d] {
				g = g*int(x.Shape[d]) + i/st[d]%int(x.Shape[d])
			}
		}
		group[i] = g
	}
	xs := c.float64s(x)
	sum, sq, cnt := make([]float64, ng), make([]float64, ng), make([]float64, ng)
	for i, v := range xs {
		sum[group[i]] += v
		sq[group[i]] += v * v
		cnt[group[i]]++
	}
	out := c.Alloc(x.DType, x.Shape)
	for i, v := range xs {
		g := group[i]
		mean := sum[g] / cnt[g]
		std := math.Sqrt(max(0, sq[g]/cnt[g]-mean*mean))
		setFloat64(out, i, (v-mean)/(std+1e-9))
	}
	return []*Value{out}, nil
}

func eyeLikeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) != 2 {
		return nil, fmt.Errorf("input must be 2-D, have %v", x)
	}
	var a attrs
	k := a.int(c.Node, "k", 0)
	code := a.int(c.Node, "dtype", 0)
	if a.err != nil {
		return nil, a.err
	}
	dt := x.DType
	if c.Node.Has("dtype") {
		var ok bool
		if dt, ok = dtypeFromONNX(int32(code)); !ok {
			return nil, fmt.Errorf("dtype %d: %w", code, errUnsupported)
		}
	}
	out := c.Alloc(dt, x.Shape)
	r, cols := x.Shape[0], x.Shape[1]
	for i := int64(0); i < r; i++ {
		if j := i + k; j >= 0 && j < cols {
			setFloat64(out, int(i*cols+j), 1)
		}
	}
	return []*Value{out}, nil
}

func shrinkKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil {
		return nil, fmt.Errorf("needs an input")
	}
	var a attrs
	lambd := float64(a.float(c.Node, "lambd", 0.5))
	bias := float64(a.float(c.Node, "bias", 0))
	if a.err != nil {
		return nil, a.err
	}
	if !x.DType.Float() && !x.DType.Integer() {
		return nil, fmt.Errorf("Shrink is not defined for %v", x.DType)
	}
	out := c.Alloc(x.DType, x.Shape)
	if xs, ok := x.Data.([]float32); ok {
		o := out.Data.([]float32)
		l, b := float32(lambd), float32(bias)
		for i, v := range xs {
			switch {
			case v < -l:
				o[i] = v + b
			case v > l:
				o[i] = v - b
			}
		}
		return []*Value{out}, nil
	}
	for i := 0; i < x.Len(); i++ {
		v := elemFloat64(x, i)
		switch {
		case v < -lambd:
			setFloat64(out, i, v+bias)
		case v > lambd:
			setFloat64(out, i, v-bias)
		}
	}
	return []*Value{out}, nil
}

func detKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) < 2 || x.Shape[len(x.Shape)-1] != x.Shape[len(x.Shape)-2] {
		return nil, fmt.Errorf("input must be [..., M, M], have %v", x)
	}
	if x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("Det is not defined for %v", x.DType)
	}
	m := int(x.Shape[len(x.Shape)-1])
	shape := x.Shape[:len(x.Shape)-2]
	out := c.Alloc(x.DType, shape)
	xs := c.float64s(x)
	a := make([]float64, m*m)
	for b := 0; b < out.Len(); b++ {
		copy(a, xs[b*m*m:(b+1)*m*m])
		setFloat64(out, b, luDet(a, m))
	}
	return []*Value{out}, nil
}

// luDet is the determinant by LU decomposition with partial pivoting; a is overwritten.
func luDet(a []float64, m int) float64 {
	det := 1.0
	for col := 0; col < m; col++ {
		p := col
		for r := col + 1; r < m; r++ {
			if math.Abs(a[r*m+col]) > math.Abs(a[p*m+col]) {
				p = r
			}
		}
		if a[p*m+col] == 0 {
			return 0
		}
		if p != col {
			for j := 0; j < m; j++ {
				a[p*m+j], a[col*m+j] = a[col*m+j], a[p*m+j]
			}
			det = -det
		}
		piv := a[col*m+col]
		det *= piv
		for r := col + 1; r < m; r++ {
			f := a[r*m+col] / piv
			for j := col; j < m; j++ {
				a[r*m+j] -= f * a[col*m+j]
			}
		}
	}
	return det
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
	out := c.Alloc(tensor.I64, []int64{int64(len(sel) / 3), 3})
	copy(out.Data.([]int64), sel)
	return []*Value{out}, nil
}

// einsumTerm is one operand's subscripts as labels: letters are 0..51, ellipsis
// dimensions are einsumEllipsis+j with j counted from the right of the broadcast batch.
type einsumTerm []int

const einsumEllipsis = 64

func einsumLabel(ch byte) (int, bool) {
	switch {
	case ch >= 'a' && ch <= 'z':
		return int(ch - 'a'), true
	case ch >= 'A' && ch <= 'Z':
		return 26 + int(ch-'A'), true
	}
	return 0, false
}

// parseEinsumTerm reads subscripts for an operand of the given rank (-1: the output,
// whose ellipsis has ell dims).
func parseEinsumTerm(s string, rank, ell int) (einsumTerm, int, error) {
	var letters []int
	dots := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if dots >= 0 || !strings.HasPrefix(s[i:], "...") {
				return nil, 0, fmt.Errorf("einsum term %q: bad ellipsis", s)
			}
			dots = len(letters)
			i += 2
			continue
		}
		l, ok := einsumLabel(s[i])
		if !ok {
			return nil, 0, fmt.Errorf("einsum term %q: bad character %q", s, s[i])
		}
		letters = append(letters, l)
	}
	e := 0
	if dots >= 0 {
		if rank >= 0 {
			e = rank - len(letters)
		} else {
			e = ell
		}
		if e < 0 {
			return nil, 0, fmt.Errorf("einsum term %q has more subscripts than rank %d", s, rank)
		}
	} else if rank >= 0 && len(letters) != rank {
		return nil, 0, fmt.Errorf("einsum term %q does not match rank %d", s, rank)
	}
	if dots < 0 {
		return letters, 0, nil
	}
	t := slices.Clone(letters[:dots])
	for j := 0; j < e; j++ {
		t = append(t, einsumEllipsis+ell-e+j)
	}
	return append(t, letters[dots:]...), e, nil
}

func einsumKernel(c *Call) ([]*Value, error) {
	eq, err := c.Node.String("equation", "")
	if err != nil {
		return nil, err
	}
	clean := make([]byte, 0, len(eq))
	for i := 0; i < len(eq); i++ {
		if eq[i] != ' ' {
			clean = append(clean, eq[i])
		}
	}
	eqs := string(clean)
	lhs, rhs, explicit := eqs, "", false
	if i := strings.Index(eqs, "->"); i >= 0 {
		lhs, rhs, explicit = eqs[:i], eqs[i+2:], true
	}
	parts := strings.Split(lhs, ",")
	if len(parts) != len(c.Inputs) {
		return nil, fmt.Errorf("equation %q names %d operands, node has %d inputs", eq, len(parts), len(c.Inputs))
	}
	var dt tensor.DType
	// First pass: ellipsis widths.
	ell := 0
	for i, p := range parts {
		x := c.Inputs[i]
		if x == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		if i == 0 {
			dt = x.DType
		} else if x.DType != dt {
			return nil, fmt.Errorf("inputs have types %v and %v", dt, x.DType)
		}
		_, e, err := parseEinsumTerm(p, len(x.Shape), 0)
		if err != nil {
			return nil, err
		}
		ell = max(ell, e)
	}
	if !dt.Float() && !dt.Integer() {
		return nil, fmt.Errorf("Einsum is not defined for %v", dt)
	}
	terms := make([]einsumTerm, len(parts))
	size := map[int]int64{}
	count := map[int]int{}
	for i, p := range parts {
		x := c.Inputs[i]
		t, _, err := parseEinsumTerm(p, len(x.Shape), ell)
		if err != nil {
			return nil, err
		}
		terms[i] = t
		for d, l := range t {
			n := x.Shape[d]
			if old, ok := size[l]; ok && old != n {
				if l >= einsumEllipsis && (old == 1 || n == 1) {
					if old == 1 {
						size[l] = n
					}
				} else {
					return nil, fmt.Errorf("equation %q: dimension sizes %d and %d disagree", eq, old, n)
				}
			} else if !ok {
				size[l] = n
			}
			count[l]++
		}
	}
	var out einsumTerm
	if explicit {
		if out, _, err = parseEinsumTerm(rhs, -1, ell); err != nil {
			return nil, err
		}
		for _, l := range out {
			if _, ok := size[l]; !ok {
				return nil, fmt.Errorf("equation %q: output label not in inputs", eq)
			}
		}
	} else {
		for j := 0; j < ell; j++ {
			out = append(out, einsumEllipsis+j)
		}
		for l := 0; l < 52; l++ {
			if count[l] == 1 {
				out = append(out, l)
			}
		}
	}
	inOut := map[int]bool{}
	for _, l := range out {
		if inOut[l] {
			return nil, fmt.Errorf("equation %q repeats an output label", eq)
		}
		inOut[l] = true
	}
	var sum []int
	for l := range size {
		if !inOut[l] {
			sum = append(sum, l)
		}
	}
	slices.Sort(sum)
	outShape := make([]int64, len(out))
	for i, l := range out {
		outShape[i] = size[l]
	}
	nOut, err := numElements(outShape)
	if err != nil {
		return nil, err
	}
	sumShape := make([]int64, len(sum))
	for i, l := range sum {
		sumShape[i] = size[l]
	}
	nSum, err := numElements(sumShape)
	if err != nil {
		return nil, err
	}
	if v, ok := einsumMatmul(c, terms, out, outShape, size, dt); ok {
		return []*Value{v}, nil
	}
	// Per operand, the stride of each output and summed label (summed over repeats).
	ops := len(terms)
	outStr := make([][]int, ops)
	sumStr := make([][]int, ops)
	data := make([][]float64, ops)
	for k, t := range terms {
		x := c.Inputs[k]
		st := stridesOf(x.Shape)
		labelStr := map[int]int{}
		for d, l := range t {
			if x.Shape[d] != 1 || size[l] == 1 {
				labelStr[l] += st[d]
			}
		}
		outStr[k] = make([]int, len(out))
		for i, l := range out {
			outStr[k][i] = labelStr[l]
		}
		sumStr[k] = make([]int, len(sum))
		for i, l := range sum {
			sumStr[k][i] = labelStr[l]
		}
		data[k] = c.float64s(x)
	}
	res := scratchSlice[float64](c, nOut)
	parallel.For(c.Threads(), nOut, max(1, 4096/max(1, nSum)), func(lo, hi int) {
		base := make([]int, ops)
		offs := make([]int, ops)
		sidx := make([]int, len(sum))
		for o := lo; o < hi; o++ {
			clear(base)
			r := o
			for i := len(out) - 1; i >= 0; i-- {
				d := r % int(outShape[i])
				r /= int(outShape[i])
				for k := range base {
					base[k] += d * outStr[k][i]
				}
			}
			copy(offs, base)
			clear(sidx)
			var acc float64
			for s := 0; s < nSum; s++ {
				p := 1.0
				for k := range offs {
					p *= data[k][offs[k]]
				}
				acc += p
				for i := len(sum) - 1; i >= 0; i-- {
					sidx[i]++
					for k := range offs {
						offs[k] += sumStr[k][i]
					}
					if sidx[i] < int(sumShape[i]) {
						break
					}
					for k := range offs {
						offs[k] -= sidx[i] * sumStr[k][i]
					}
					sidx[i] = 0
				}
			}
			res[o] = acc
		}
	})
	outV := c.Alloc(dt, outShape)
	for i, v := range res {
		setFloat64(outV, i, v)
	}
	return []*Value{outV}, nil
}

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
		return nil, fmt.Errorf("X %v must be [N, C, D1..Dn] and grid %v [N, O1..On, n]", x, grid)
	}
	if nd != 2 {
		if c.Opset < 20 || mode == "cubic" {
			return nil, fmt.Errorf("%d-D %s sampling: %w", nd, mode, errUnsupported)
		}
		return gridSampleND(c, x, grid, mode, padding, align)
	}
	N, C, H, W := int(x.Shape[0]), int(x.Shape[1]), int(x.Shape[2]), int(x.Shape[3])
	Ho, Wo := int(grid.Shape[1]), int(grid.Shape[2])
	out := c.Alloc(tensor.F32, []int64{int64(N), int64(C), int64(Ho), int64(Wo)})
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
		return nil, fmt.Errorf("X %v must be [N, C, H, W], rois %v [R, 4], batch_indices %v [R]", x, rois, bidx)
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
	out := c.Alloc(tensor.F32, []int64{int64(R), int64(C), oh, ow})
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

// einsumMatmul handles two-operand float32 contractions without repeated or
// broadcast labels as a batched matrix product: labels are sorted into batch (both
// operands and output), m (A and output), n (B and output) and k (A and B only),
// the operands are permuted to [batch, m, k] and [batch, k, n], and Sgemm runs per
// batch. It reports false when the equation does not have that form.
func einsumMatmul(c *Call, terms []einsumTerm, out einsumTerm, outShape []int64, size map[int]int64, dt tensor.DType) (*Value, bool) {
	if len(terms) != 2 || dt != tensor.F32 {
		return nil, false
	}
	a, b := c.Inputs[0], c.Inputs[1]
	inA, inB, inOut := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for _, l := range out {
		inOut[l] = true
	}
	for k, t := range terms {
		m := inA
		if k == 1 {
			m = inB
		}
		x := c.Inputs[k]
		for d, l := range t {
			if m[l] || x.Shape[d] != size[l] {
				return nil, false // diagonal or broadcast
			}
			m[l] = true
		}
	}
	var batch, ms, ns, ks []int
	for _, l := range out {
		switch {
		case inA[l] && inB[l]:
			batch = append(batch, l)
		case inA[l]:
			ms = append(ms, l)
		case inB[l]:
			ns = append(ns, l)
		default:
			return nil, false
		}
	}
	for _, l := range terms[0] {
		if !inOut[l] {
			if !inB[l] {
				return nil, false // summed over one operand only
			}
			ks = append(ks, l)
		}
	}
	for _, l := range terms[1] {
		if !inOut[l] && !inA[l] {
			return nil, false
		}
	}
	prod := func(ls []int) int {
		n := 1
		for _, l := range ls {
			n *= int(size[l])
		}
		return n
	}
	nb, M, N, K := prod(batch), prod(ms), prod(ns), prod(ks)
	if nb*M*K*N < 4096 {
		return nil, false // the loop is as fast for tiny problems
	}
	permFor := func(t einsumTerm, order []int) []int {
		p := make([]int, len(order))
		for i, l := range order {
			p[i] = slices.Index(t, l)
		}
		return p
	}
	aOrder := append(append(slices.Clone(batch), ms...), ks...)
	bOrder := append(append(slices.Clone(batch), ks...), ns...)
	ap := a
	if p := permFor(terms[0], aOrder); !isIdentityPerm(p) {
		ap = permuteValue(c, a, p)
	}
	bp := b
	if p := permFor(terms[1], bOrder); !isIdentityPerm(p) {
		bp = permuteValue(c, b, p)
	}
	resOrder := append(append(slices.Clone(batch), ms...), ns...)
	resShape := make([]int64, len(resOrder))
	for i, l := range resOrder {
		resShape[i] = size[l]
	}
	res := c.Alloc(tensor.F32, resShape)
	as, bs, rs := ap.Data.([]float32), bp.Data.([]float32), res.Data.([]float32)
	for i := 0; i < nb; i++ {
		Sgemm(c.Threads(), false, false, M, N, K, 1, as[i*M*K:], K, bs[i*K*N:], N, 0, rs[i*M*N:], N)
	}
	p := permFor(einsumTerm(resOrder), out)
	if isIdentityPerm(p) {
		return View(res, outShape), true
	}
	return permuteValue(c, res, p), true
}

func isIdentityPerm(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}

func init() {
	Register(Op{Type: "Col2Im", Since: 18, Kernel: col2ImKernel, ViaFloat32: true})
	Register(Op{Type: "CenterCropPad", Since: 18, Kernel: centerCropPadKernel})
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
	out := c.Alloc(tensor.F32, shape)
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
	idx := scratchSlice[int](c, n)
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
	return []*Value{gatherValue(c, x, shape, idx)}, nil
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

// Signal operators (opset 17): window functions, DFT, STFT and MelWeightMatrix.
// Transforms are direct O(n^2) sums in float64 per signal, run in parallel over
// signals; results are rounded to the input's float type.

func init() {
	for _, name := range []string{"HannWindow", "HammingWindow", "BlackmanWindow"} {
		Register(Op{Type: name, Since: 17, Kernel: windowKernel(name)})
	}
	Register(Op{Type: "DFT", Since: 17, Kernel: dftKernel, ViaFloat32: true})
	Register(Op{Type: "STFT", Since: 17, Kernel: stftKernel, ViaFloat32: true})
	Register(Op{Type: "MelWeightMatrix", Since: 17, Kernel: melWeightMatrixKernel})
}

func windowKernel(name string) Kernel {
	return func(c *Call) ([]*Value, error) {
		size, err := scalarInt(c.Input(0), "size")
		if err != nil {
			return nil, err
		}
		if size < 0 || size > 1<<28 {
			return nil, fmt.Errorf("size %d out of range", size)
		}
		var a attrs
		code := a.int(c.Node, "output_datatype", 1)
		periodic := a.int(c.Node, "periodic", 1) != 0
		if a.err != nil {
			return nil, a.err
		}
		dt, ok := dtypeFromONNX(int32(code))
		if !ok || dt == tensor.Bool {
			return nil, fmt.Errorf("output_datatype %d: %w", code, errUnsupported)
		}
		n := float64(size)
		if !periodic {
			n--
		}
		out := c.Alloc(dt, []int64{size})
		for i := int64(0); i < size; i++ {
			x := 2 * math.Pi * float64(i) / n
			var w float64
			switch name {
			case "HannWindow":
				w = 0.5 - 0.5*math.Cos(x)
			case "HammingWindow":
				w = 25.0/46 - (1-25.0/46)*math.Cos(x)
			default:
				w = 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
			}
			setFloat64(out, int(i), w)
		}
		return []*Value{out}, nil
	}
}

// twiddles returns cos and sin of -2*pi*j/n for j in [0, n).
func twiddles(n int) (cs, sn []float64) {
	cs, sn = make([]float64, n), make([]float64, n)
	for j := range cs {
		sn[j], cs[j] = math.Sincos(-2 * math.Pi * float64(j) / float64(n))
	}
	return cs, sn
}

// dft1 transforms the n complex samples (re, im) into len(out) bins using the
// twiddle tables of n; the inverse conjugates the twiddles and divides by n.
func dft1(re, im []float64, out []complex128, inverse bool, cs, sn []float64) {
	n := len(re)
	for k := range out {
		var sr, si float64
		j := 0
		for t := 0; t < n; t++ {
			c, s := cs[j], sn[j]
			if inverse {
				s = -s
			}
			sr += re[t]*c - im[t]*s
			si += re[t]*s + im[t]*c
			if j += k; j >= n {
				j %= n
			}
		}
		if inverse {
			sr, si = sr/float64(n), si/float64(n)
		}
		out[k] = complex(sr, si)
	}
}

func dftKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || x.DType != tensor.F32 && x.DType != tensor.F64 || len(x.Shape) < 2 {
		return nil, fmt.Errorf("input must be float [batch, ..., 1 or 2], have %v", x)
	}
	last := x.Shape[len(x.Shape)-1]
	if last != 1 && last != 2 {
		return nil, fmt.Errorf("input %v must end in 1 (real) or 2 (complex)", x)
	}
	var a attrs
	inverse := a.int(c.Node, "inverse", 0) != 0
	onesided := a.int(c.Node, "onesided", 0) != 0
	axis := a.int(c.Node, "axis", 1)
	if a.err != nil {
		return nil, a.err
	}
	if c.Opset >= 20 {
		axis = -2
		if v := c.Input(2); v != nil {
			var err error
			if axis, err = scalarInt(v, "axis"); err != nil {
				return nil, err
			}
		}
	}
	ax, err := normAxis(axis, len(x.Shape)-1)
	if err != nil {
		return nil, err
	}
	if ax == 0 && c.Opset < 20 {
		return nil, fmt.Errorf("axis 0 is the batch axis")
	}
	n := x.Shape[ax]
	if v := c.Input(1); v != nil && v.Len() > 0 {
		if n, err = scalarInt(v, "dft_length"); err != nil {
			return nil, err
		}
		if n <= 0 || n > 1<<20 {
			return nil, fmt.Errorf("dft_length %d out of range", n)
		}
	}
	if onesided && inverse {
		return nil, fmt.Errorf("onesided inverse DFT: %w", errUnsupported)
	}
	bins := n
	if onesided {
		bins = n/2 + 1
	}
	shape := slices.Clone(x.Shape)
	shape[ax], shape[len(shape)-1] = bins, 2
	if _, err := numElements(shape); err != nil {
		return nil, err
	}
	inShape := x.Shape[:len(x.Shape)-1]
	outer, inLen, inner := splitAxis(inShape, ax)
	xs := c.float64s(x)
	res := scratchSlice[float64](c, outer*int(bins)*inner*2)
	N := int(n)
	cs, sn := twiddles(N)
	parallel.For(c.Threads(), outer*inner, 1, func(lo, hi int) {
		re, im := make([]float64, N), make([]float64, N)
		spec := make([]complex128, bins)
		for r := lo; r < hi; r++ {
			o, in := r/inner, r%inner
			for t := 0; t < N; t++ {
				re[t], im[t] = 0, 0
				if t < inLen {
					p := ((o*inLen+t)*inner + in) * int(last)
					re[t] = xs[p]
					if last == 2 {
						im[t] = xs[p+1]
					}
				}
			}
			dft1(re, im, spec, inverse, cs, sn)
			for k, v := range spec {
				p := ((o*int(bins)+k)*inner + in) * 2
				res[p], res[p+1] = real(v), imag(v)
			}
		}
	})
	out := c.Alloc(x.DType, shape)
	for i, v := range res {
		setFloat64(out, i, v)
	}
	return []*Value{out}, nil
}

func stftKernel(c *Call) ([]*Value, error) {
	x, stepV, win, lenV := c.Input(0), c.Input(1), c.Input(2), c.Input(3)
	if x == nil || len(x.Shape) != 3 || x.Shape[2] != 1 && x.Shape[2] != 2 || x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("signal must be float [batch, length, 1 or 2], have %v", x)
	}
	step, err := scalarInt(stepV, "frame_step")
	if err != nil {
		return nil, err
	}
	onesided, err := c.Node.Int("onesided", 1)
	if err != nil {
		return nil, err
	}
	frameLen := int64(-1)
	if lenV != nil && lenV.Len() > 0 {
		if frameLen, err = scalarInt(lenV, "frame_length"); err != nil {
			return nil, err
		}
	}
	var window []float64
	if win != nil && win.Len() > 0 {
		window = win.AsFloat64s()
		if frameLen < 0 {
			frameLen = int64(len(window))
		} else if int64(len(window)) != frameLen {
			return nil, fmt.Errorf("window %v does not match frame_length %d", win, frameLen)
		}
	}
	B, L, comp := x.Shape[0], x.Shape[1], int(x.Shape[2])
	if frameLen <= 0 || frameLen > L || step <= 0 {
		return nil, fmt.Errorf("frame_length %d and frame_step %d do not fit signal length %d", frameLen, step, L)
	}
	if onesided != 0 && comp == 2 {
		return nil, fmt.Errorf("onesided STFT of a complex signal")
	}
	frames := (L-frameLen)/step + 1
	bins := frameLen
	if onesided != 0 {
		bins = frameLen/2 + 1
	}
	shape := []int64{B, frames, bins, 2}
	n, err := numElements(shape)
	if err != nil {
		return nil, err
	}
	xs := c.float64s(x)
	res := scratchSlice[float64](c, n)
	F, N := int(frameLen), int(bins)
	cs, sn := twiddles(F)
	parallel.For(c.Threads(), int(B*frames), 1, func(lo, hi int) {
		re, im := make([]float64, F), make([]float64, F)
		spec := make([]complex128, N)
		for r := lo; r < hi; r++ {
			b, f := r/int(frames), r%int(frames)
			for t := 0; t < F; t++ {
				p := (b*int(L) + f*int(step) + t) * comp
				w := 1.0
				if window != nil {
					w = window[t]
				}
				re[t], im[t] = xs[p]*w, 0
				if comp == 2 {
					im[t] = xs[p+1] * w
				}
			}
			dft1(re, im, spec, false, cs, sn)
			for k, v := range spec {
				res[(r*N+k)*2], res[(r*N+k)*2+1] = real(v), imag(v)
			}
		}
	})
	out := c.Alloc(x.DType, shape)
	for i, v := range res {
		setFloat64(out, i, v)
	}
	return []*Value{out}, nil
}

func melWeightMatrixKernel(c *Call) ([]*Value, error) {
	bins, err := scalarInt(c.Input(0), "num_mel_bins")
	if err != nil {
		return nil, err
	}
	dftLen, err := scalarInt(c.Input(1), "dft_length")
	if err != nil {
		return nil, err
	}
	rate, err := scalarInt(c.Input(2), "sample_rate")
	if err != nil {
		return nil, err
	}
	if c.Input(3) == nil || c.Input(4) == nil || c.Input(3).Len() != 1 || c.Input(4).Len() != 1 {
		return nil, fmt.Errorf("lower_edge_hertz and upper_edge_hertz must be scalars")
	}
	lowHz, highHz := elemFloat64(c.Input(3), 0), elemFloat64(c.Input(4), 0)
	code, err := c.Node.Int("output_datatype", 1)
	if err != nil {
		return nil, err
	}
	dt, ok := dtypeFromONNX(int32(code))
	if !ok || dt == tensor.Bool {
		return nil, fmt.Errorf("output_datatype %d: %w", code, errUnsupported)
	}
	if bins <= 0 || dftLen <= 0 || rate <= 0 || bins > 1<<16 || dftLen > 1<<24 {
		return nil, fmt.Errorf("num_mel_bins %d, dft_length %d and sample_rate %d must be positive", bins, dftLen, rate)
	}
	specBins := dftLen/2 + 1
	out := c.Alloc(dt, []int64{specBins, bins})
	lowMel := 2595 * math.Log10(1+lowHz/700)
	highMel := 2595 * math.Log10(1+highHz/700)
	step := (highMel - lowMel) / float64(bins+2)
	freq := make([]int64, bins+2)
	for i := range freq {
		hz := 700 * (math.Pow(10, (float64(i)*step+lowMel)/2595) - 1)
		f := math.Floor(float64(dftLen+1) * hz / float64(rate))
		if math.IsNaN(f) || math.Abs(f) > 1<<40 {
			return nil, fmt.Errorf("edge frequencies %v and %v Hz are out of range", lowHz, highHz)
		}
		freq[i] = int64(f)
	}
	set := func(j, i int64, v float64) {
		if j >= 0 && j < specBins {
			setFloat64(out, int(j*bins+i), v)
		}
	}
	for i := int64(0); i < bins; i++ {
		lo, center, hi := freq[i], freq[i+1], freq[i+2]
		if center == lo {
			set(center, i, 1)
		} else {
			for j := max(lo, 0); j <= min(center, specBins-1); j++ {
				set(j, i, float64(j-lo)/float64(center-lo))
			}
		}
		if hi > center {
			for j := max(center, 0); j < min(hi, specBins); j++ {
				set(j, i, float64(hi-j)/float64(hi-center))
			}
		}
	}
	return []*Value{out}, nil
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
	out := c.Alloc(tensor.F32, outShape)
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
