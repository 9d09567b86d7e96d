package runtime

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Reductions (Reduce*, ArgMax, ArgMin) and the softmax family.

func init() {
	for _, op := range []string{"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		Register(Op{Type: op, Since: 1, Kernel: reduceKernel(op, 18), ViaFloat32: true})
	}
	Register(Op{Type: "ReduceSum", Since: 1, Kernel: reduceKernel("ReduceSum", 13), ViaFloat32: true})
	registerAll(1, true, argKernel, "ArgMax", "ArgMin")
	registerAll(1, true, softmaxKernel, "Softmax", "LogSoftmax", "Hardmax")
	Register(Op{Type: "CumSum", Since: 11, Kernel: cumSumKernel, ViaFloat32: true})
}

// reduceAxes resolves the reduced axes: from the attribute before opset inputSince,
// from input 1 after; none means all unless noop_with_empty_axes.
func reduceAxes(c *Call, rank int, inputSince int64) ([]bool, error) {
	axes, ok, err := shapeInput(c, 1, "axes", inputSince)
	if err != nil {
		return nil, err
	}
	mask := make([]bool, rank)
	if !ok || len(axes) == 0 {
		noop, err := c.Node.Int("noop_with_empty_axes", 0)
		if err != nil {
			return nil, err
		}
		if noop != 0 && c.Opset >= inputSince {
			return mask, nil
		}
		for i := range mask {
			mask[i] = true
		}
		return mask, nil
	}
	for _, a := range axes {
		i, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		mask[i] = true
	}
	return mask, nil
}

// reduceIndex maps each input element to its output element.
func reduceIndex(c *Call, shape []int64, mask []bool) (out []int64, idx []int, outLen int, err error) {
	outFull := slices.Clone(shape)
	for i, m := range mask {
		if m {
			outFull[i] = 1
		}
	}
	ostr := stridesOf(outFull)
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	if idx, err = scratchSlice[int](c, n); err != nil {
		return nil, nil, 0, err
	}
	counter := make([]int, len(shape))
	off := 0
	for i := 0; i < n; i++ {
		idx[i] = off
		for k := len(shape) - 1; k >= 0; k-- {
			counter[k]++
			if !mask[k] {
				off += ostr[k]
			}
			if counter[k] < int(shape[k]) {
				break
			}
			if !mask[k] {
				off -= ostr[k] * counter[k]
			}
			counter[k] = 0
		}
	}
	outLen = 1
	for _, d := range outFull {
		outLen *= int(d)
	}
	return outFull, idx, outLen, nil
}

func reduceKernel(op string, inputSince int64) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		keep, err := c.Node.Int("keepdims", 1)
		if err != nil {
			return nil, err
		}
		mask, err := reduceAxes(c, len(x.Shape), inputSince)
		if err != nil {
			return nil, err
		}
		if out, ok, err := reduceSumContiguous(c, op, x, mask, keep != 0); ok || err != nil {
			return []*Value{out}, err
		}
		full, idx, n, err := reduceIndex(c, x.Shape, mask)
		if err != nil {
			return nil, err
		}
		vals, err := c.float64s(x)
		if err != nil {
			return nil, err
		}
		acc, err := scratchSlice[float64](c, n)
		if err != nil {
			return nil, err
		}
		init := 0.0
		switch op {
		case "ReduceMax", "ReduceLogSumExp":
			init = math.Inf(-1)
		case "ReduceMin":
			init = math.Inf(1)
		case "ReduceProd":
			init = 1
		}
		for i := range acc {
			acc[i] = init
		}
		count, err := scratchSlice[int](c, n)
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			o := idx[i]
			count[o]++
			switch op {
			case "ReduceSum", "ReduceMean", "ReduceLogSum":
				acc[o] += v
			case "ReduceMax", "ReduceLogSumExp":
				if v > acc[o] || v != v {
					acc[o] = v
				}
			case "ReduceMin":
				if v < acc[o] || v != v {
					acc[o] = v
				}
			case "ReduceProd":
				acc[o] *= v
			case "ReduceL1":
				acc[o] += math.Abs(v)
			case "ReduceL2", "ReduceSumSquare":
				acc[o] += v * v
			}
		}
		if op == "ReduceLogSumExp" {
			mx := slices.Clone(acc)
			clear(acc)
			for i, v := range vals {
				if !math.IsInf(mx[idx[i]], 0) {
					acc[idx[i]] += math.Exp(v - mx[idx[i]])
				}
			}
			for i := range acc {
				if math.IsInf(mx[i], 0) {
					acc[i] = mx[i]
				} else {
					acc[i] = mx[i] + math.Log(acc[i])
				}
			}
		}
		for i := range acc {
			switch op {
			case "ReduceMean":
				acc[i] /= float64(count[i])
			case "ReduceL2":
				acc[i] = math.Sqrt(acc[i])
			case "ReduceLogSum":
				acc[i] = math.Log(acc[i])
			}
		}
		shape := full
		if keep == 0 {
			shape = []int64{}
			for i, d := range x.Shape {
				if !mask[i] {
					shape = append(shape, d)
				}
			}
		}
		out, err := c.Alloc(x.DType, shape)
		if err != nil {
			return nil, err
		}
		for i, v := range acc {
			if x.DType.Integer() {
				setInt64(out, i, int64(v))
			} else {
				setFloat64(out, i, v)
			}
		}
		return []*Value{out}, nil
	}
}

// reduceSumContiguous is ReduceSum and ReduceMean of float32 over one run of
// adjacent axes, x viewed as [outer, dim, inner], in parallel and without the
// generic path's index table and float64 copy of x (a transformer's mean pooling
// spent 0.24 ms there on 32k values). It adds in float64 in the generic path's
// order, so the results are identical. ok is false where it does not apply.
func reduceSumContiguous(c *Call, op string, x *Value, mask []bool, keep bool) (out *Value, ok bool, err error) {
	xs, isF32 := x.Data.([]float32)
	if !isF32 || (op != "ReduceSum" && op != "ReduceMean") {
		return nil, false, nil
	}
	first, last := slices.Index(mask, true), -1
	for i, m := range mask {
		if m {
			last = i
		}
	}
	if first < 0 || slices.Contains(mask[first:last+1], false) || slices.Contains(x.Shape, 0) {
		return nil, false, nil
	}
	outer, dim, inner := 1, 1, 1
	var shape []int64
	for i, d := range x.Shape {
		switch {
		case i < first:
			outer *= int(d)
		case i <= last:
			dim *= int(d)
			if keep {
				shape = append(shape, 1)
			}
			continue
		default:
			inner *= int(d)
		}
		shape = append(shape, d)
	}
	if out, err = c.allocRaw(tensor.F32, shape); err != nil {
		return nil, true, err
	}
	ys := out.Data.([]float32)
	scale := 1.0
	if op == "ReduceMean" {
		scale = float64(dim)
	}
	// Pieces are ranges of outputs; each adds its columns row by row of the reduced
	// block, which reads x in order.
	parallel.For(c.Threads(), outer*inner, max(1, 4096/dim), func(lo, hi int) {
		acc := make([]float64, min(hi-lo, inner))
		for o := lo; o < hi; {
			p, q0 := o/inner, o%inner
			q1 := min(inner, q0+hi-o)
			a := acc[:q1-q0]
			clear(a)
			for k := 0; k < dim; k++ {
				row := xs[(p*dim+k)*inner+q0 : (p*dim+k)*inner+q1]
				for j, v := range row {
					a[j] += float64(v)
				}
			}
			for j, v := range a {
				if op == "ReduceMean" {
					v /= scale
				}
				ys[p*inner+q0+j] = float32(v)
			}
			o += q1 - q0
		}
	})
	return out, true, nil
}

func argKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		var a attrs
		axis64 := a.int(c.Node, "axis", 0)
		keep := a.int(c.Node, "keepdims", 1)
		last := a.int(c.Node, "select_last_index", 0) != 0
		if a.err != nil {
			return nil, a.err
		}
		axis, err := normAxis(axis64, len(x.Shape))
		if err != nil {
			return nil, err
		}
		outer, inner := 1, 1
		for _, d := range x.Shape[:axis] {
			outer *= int(d)
		}
		for _, d := range x.Shape[axis+1:] {
			inner *= int(d)
		}
		dim := int(x.Shape[axis])
		if dim == 0 {
			return nil, fmt.Errorf("%s over an empty axis", op)
		}
		shape := slices.Clone(x.Shape)
		shape[axis] = 1
		if keep == 0 {
			shape = slices.Delete(shape, axis, axis+1)
		}
		out, err := c.Alloc(tensor.I64, shape)
		if err != nil {
			return nil, err
		}
		o := out.Data.([]int64)
		for p := 0; p < outer; p++ {
			for q := 0; q < inner; q++ {
				best, bi := 0.0, 0
				for i := 0; i < dim; i++ {
					v := elemFloat64(x, (p*dim+i)*inner+q)
					better := i == 0 || (op == "ArgMax" && v > best) || (op == "ArgMin" && v < best) || (last && v == best)
					if better {
						best, bi = v, i
					}
				}
				o[p*inner+q] = int64(bi)
			}
		}
		return []*Value{out}, nil
	}
}

func softmaxKernel(op string) Kernel {
	return func(c *Call) ([]*Value, error) {
		x := c.Input(0)
		xs, ok := x.Data.([]float32)
		if !ok {
			if x.DType != tensor.F64 {
				return nil, fmt.Errorf("%s needs a float input, have %v", op, x.DType)
			}
			r, err := castValue(c, x, tensor.F32)
			if err != nil {
				return nil, err
			}
			xs = r.Data.([]float32)
		}
		def := int64(-1)
		if c.Opset < 13 {
			def = 1
		}
		axis64, err := c.Node.Int("axis", def)
		if err != nil {
			return nil, err
		}
		r := len(x.Shape)
		if r == 0 {
			r = 1
		}
		axis, err := normAxis(axis64, r)
		if err != nil {
			return nil, err
		}
		// Opset < 13 coerces to 2-D at axis; 13 and later reduce along one axis.
		outer, dim, inner := 1, 1, 1
		for i, d := range x.Shape {
			switch {
			case i < axis:
				outer *= int(d)
			case i == axis || c.Opset < 13:
				dim *= int(d)
			default:
				inner *= int(d)
			}
		}
		out, err := c.Alloc(tensor.F32, x.Shape)
		if err != nil {
			return nil, err
		}
		ys := out.Data.([]float32)
		if dim == 0 {
			outer = 0
		}
		if inner == 1 && op != "Hardmax" {
			softmaxRows(c.Threads(), ys, xs, outer, dim, op == "LogSoftmax")
			if x.DType == tensor.F64 {
				r, err := castValue(c, out, tensor.F64)
				if err != nil {
					return nil, err
				}
				return []*Value{r}, nil
			}
			return []*Value{out}, nil
		}
		parallel.For(c.Threads(), outer*inner, 64, func(lo, hi int) {
			for pq := lo; pq < hi; pq++ {
				p, q := pq/inner, pq%inner
				base := p*dim*inner + q
				mx, mi := math.Inf(-1), 0
				for i := 0; i < dim; i++ {
					if v := float64(xs[base+i*inner]); v > mx {
						mx, mi = v, i
					}
				}
				if op == "Hardmax" {
					for i := 0; i < dim; i++ {
						ys[base+i*inner] = 0
					}
					ys[base+mi*inner] = 1
					continue
				}
				sum := 0.0
				for i := 0; i < dim; i++ {
					sum += math.Exp(float64(xs[base+i*inner]) - mx)
				}
				for i := 0; i < dim; i++ {
					v := float64(xs[base+i*inner]) - mx
					if op == "Softmax" {
						ys[base+i*inner] = float32(math.Exp(v) / sum)
					} else {
						ys[base+i*inner] = float32(v - math.Log(sum))
					}
				}
			}
		})
		if x.DType == tensor.F64 {
			r, err := castValue(c, out, tensor.F64)
			if err != nil {
				return nil, err
			}
			return []*Value{r}, nil
		}
		return []*Value{out}, nil
	}
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
	out, err := c.Alloc(x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
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
