package tf2onnx

import (
	"fmt"
	"math"
	"strconv"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// tfjsOps converts the TensorFlow operators beyond the core set in tfjs_graph.go:
// multi-output nodes (Split, Unpack, TopKV2 ...), shape arithmetic, comparisons,
// gathers and the layers real TF.js graph models use. Each entry maps a node to
// ONNX nodes and records every output it produces in c.names ("node", "node:1" ...).
// Other files add their families from init.
var tfjsOps = map[string]func(*tfjsConverter, *gNode) error{}

func init() {
	for tf, op := range map[string]string{"Cos": "Cos", "Sin": "Sin", "Atan": "Atan", "Sign": "Sign",
		"Round": "Round", "LogicalNot": "Not", "Erf": "Erf", "Asin": "Asin", "Acos": "Acos", "Tan": "Tan"} {
		tfjsUnary[tf] = op
	}
	for tf, op := range map[string]string{"Greater": "Greater", "GreaterEqual": "GreaterOrEqual", "Less": "Less",
		"LessEqual": "LessOrEqual", "Equal": "Equal", "LogicalAnd": "And", "LogicalOr": "Or", "DivNoNan": "Div"} {
		tfjsBinary[tf] = op
	}
	for op, f := range map[string]func(*tfjsConverter, *gNode) error{
		"AddN":                (*tfjsConverter).addN,
		"Prelu":               (*tfjsConverter).prelu,
		"Pack":                (*tfjsConverter).pack,
		"Unpack":              (*tfjsConverter).unpack,
		"Split":               (*tfjsConverter).split,
		"SplitV":              (*tfjsConverter).splitV,
		"TopKV2":              (*tfjsConverter).topK,
		"Cast":                (*tfjsConverter).cast,
		"Shape":               (*tfjsConverter).shapeOp,
		"Size":                (*tfjsConverter).shapeOp,
		"GatherV2":            (*tfjsConverter).gather,
		"GatherNd":            (*tfjsConverter).gatherND,
		"Fill":                (*tfjsConverter).fill,
		"BroadcastTo":         (*tfjsConverter).broadcastTo,
		"ZerosLike":           (*tfjsConverter).zerosLike,
		"OnesLike":            (*tfjsConverter).zerosLike,
		"FloorDiv":            (*tfjsConverter).floorDiv,
		"FloorMod":            (*tfjsConverter).floorMod,
		"SquaredDifference":   (*tfjsConverter).squaredDifference,
		"NotEqual":            (*tfjsConverter).notEqual,
		"Select":              (*tfjsConverter).selectOp,
		"SelectV2":            (*tfjsConverter).selectOp,
		"Range":               (*tfjsConverter).rangeOp,
		"Tile":                (*tfjsConverter).tile,
		"ArgMax":              (*tfjsConverter).argMinMax,
		"ArgMin":              (*tfjsConverter).argMinMax,
		"Slice":               (*tfjsConverter).sliceOp,
		"BatchMatMul":         (*tfjsConverter).batchMatMul,
		"BatchMatMulV2":       (*tfjsConverter).batchMatMul,
		"DepthToSpace":        (*tfjsConverter).depthToSpace,
		"SpaceToDepth":        (*tfjsConverter).depthToSpace,
		"Atan2":               (*tfjsConverter).atan2,
		"Conv2DBackpropInput": (*tfjsConverter).conv2DBackpropInput,
		"SparseToDense":       (*tfjsConverter).sparseToDense,
		"Relu1":               (*tfjsConverter).relu1,
	} {
		tfjsOps[op] = f
	}
	for _, op := range []string{"NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5"} {
		tfjsOps[op] = (*tfjsConverter).nms
	}
}

// in returns the ONNX value of n's data input i.
func (c *tfjsConverter) in(n *gNode, i int) (string, error) {
	ins := dataInputs(n)
	if i >= len(ins) {
		return "", fmt.Errorf("%w: %d inputs, want at least %d", refit.ErrFormat, len(ins), i+1)
	}
	return c.value(ins[i])
}

// ins returns the ONNX values of n's first want data inputs.
func (c *tfjsConverter) ins(n *gNode, want int) ([]string, error) {
	refs, err := c.inputs(n, want)
	if err != nil {
		return nil, err
	}
	out := make([]string, want)
	for i := range want {
		if out[i], err = c.value(refs[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// constIntsIn returns data input i of n, which must be a constant, as integers.
func (c *tfjsConverter) constIntsIn(n *gNode, i int) ([]int64, error) {
	ins := dataInputs(n)
	if i >= len(ins) {
		return nil, fmt.Errorf("%w: %d inputs, want at least %d", refit.ErrFormat, len(ins), i+1)
	}
	v, err := c.constInput(ins[i])
	if err != nil {
		return nil, err
	}
	return v.ints(), nil
}

// intValue returns ref as an ONNX int64 tensor: an initializer when ref is constant
// (of want values when want > 0), else the computed value (already int64 inside).
func (c *tfjsConverter) intValue(base, ref string, want int) (string, error) {
	if v, ok, err := c.constant(trimZero(ref)); err != nil {
		return "", err
	} else if ok {
		ints := v.ints()
		if want > 0 && len(ints) != want {
			return "", fmt.Errorf("%w: %d values, want %d", refit.ErrFormat, len(ints), want)
		}
		return c.b.IntData(base, elemInt64, []int64{int64(len(ints))}, ints), nil
	}
	x, err := c.value(ref)
	if err != nil {
		return "", err
	}
	// A known length gives the shape to ONNX Runtime's inference, which otherwise
	// loses it inside If branches when an operand has unknown rank.
	n := int64(-1)
	if want > 0 {
		n = int64(want)
	}
	return c.b.Op("Reshape", base, []string{x, c.b.IntData(base+"_flat", elemInt64, []int64{1}, []int64{n})}), nil
}

func trimZero(ref string) string {
	if len(ref) > 2 && ref[len(ref)-2:] == ":0" {
		return ref[:len(ref)-2]
	}
	return ref
}

// setOutputs records the ONNX values of n's outputs 0, 1, ...
func (c *tfjsConverter) setOutputs(n *gNode, outs []string) {
	for k, o := range outs {
		if k == 0 {
			c.names[n.Name] = o
		}
		c.names[n.Name+":"+strconv.Itoa(k)] = o
	}
}

// scalarOf returns a scalar constant of the internal type of TF dtype.
func (c *tfjsConverter) scalarOf(base, dtype string, v float64) string {
	switch tfKind(dtype) {
	case elemInt64:
		return c.b.IntData(base, elemInt64, nil, []int64{int64(v)})
	case elemBool:
		return c.b.IntData(base, elemBool, nil, []int64{int64(v)})
	}
	return c.b.Float(base, nil, []float32{float32(v)})
}

func (c *tfjsConverter) ints1(base string, v ...int64) string {
	return c.b.IntData(base, elemInt64, []int64{int64(len(v))}, v)
}

func (c *tfjsConverter) addN(n *gNode) error {
	xs, err := c.ins(n, len(dataInputs(n)))
	if err != nil {
		return err
	}
	if len(xs) == 0 {
		return fmt.Errorf("%w: AddN without inputs", refit.ErrFormat)
	}
	if len(xs) == 1 {
		c.names[n.Name] = xs[0]
		return nil
	}
	if tfKind(n.dtype("T")) != elemFloat { // ONNX Sum is float-only
		y := xs[0]
		for i, x := range xs[1:] {
			y = c.b.Op("Add", n.Name+"_"+strconv.Itoa(i), []string{y, x})
		}
		c.names[n.Name] = y
		return nil
	}
	c.names[n.Name] = c.b.Op("Sum", n.Name, xs)
	return nil
}

func (c *tfjsConverter) prelu(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("PRelu", n.Name, xs)
	return nil
}

func (c *tfjsConverter) relu1(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.clip(x, -1, 1, n.Name)
	return nil
}

func (c *tfjsConverter) pack(n *gNode) error {
	refs := dataInputs(n)
	if len(refs) == 0 {
		return fmt.Errorf("%w: Pack without inputs", refit.ErrFormat)
	}
	axis := n.integer("axis", 0)
	// All-constant packs (shape vectors, mostly) fold into one constant.
	if axis == 0 {
		folded := &cval{isInt: true}
		for _, r := range refs {
			v, ok, err := c.constant(trimZero(r))
			if err != nil {
				return err
			}
			if !ok || !v.isInt || len(v.shape) != 0 || v.len() != 1 {
				folded = nil
				break
			}
			folded.i = append(folded.i, v.i[0])
		}
		if folded != nil {
			folded.shape = []int64{int64(len(folded.i))}
			c.consts[n.Name] = folded
			return nil
		}
	}
	ax := c.ints1(n.Name+"_axis", axis)
	var xs []string
	for _, r := range refs {
		x, err := c.value(r)
		if err != nil {
			return err
		}
		xs = append(xs, c.b.Op("Unsqueeze", n.Name+"_u", []string{x, ax}))
	}
	if len(xs) == 1 {
		c.names[n.Name] = xs[0]
		return nil
	}
	c.names[n.Name] = c.b.Op("Concat", n.Name, xs, graph.IntAttr("axis", axis))
	return nil
}

// splitInto adds a Split of x along axis into parts (sizes when non-nil) and returns its outputs.
func (c *tfjsConverter) splitInto(n *gNode, x string, axis int64, parts int, sizes []int64) []string {
	want := make([]bool, parts)
	for i := range want {
		want[i] = true
	}
	in := []string{x}
	if sizes != nil {
		in = append(in, c.ints1(n.Name+"_sizes", sizes...))
	}
	return c.b.OpN("Split", n.Name, in, want, graph.IntAttr("axis", axis))
}

func (c *tfjsConverter) unpack(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	num := n.integer("num", 0)
	if num < 1 || num > 1<<16 {
		return fmt.Errorf("%w: Unpack num %d", refit.ErrFormat, num)
	}
	axis := n.integer("axis", 0)
	if num == 1 {
		c.setOutputs(n, []string{c.b.Op("Squeeze", n.Name, []string{x, c.ints1(n.Name+"_axis", axis)})})
		return nil
	}
	parts := c.splitInto(n, x, axis, int(num), nil)
	ax := c.ints1(n.Name+"_axis", axis)
	outs := make([]string, len(parts)) // parts aliases the Split node's outputs
	for i, o := range parts {
		outs[i] = c.b.Op("Squeeze", n.Name+"_"+strconv.Itoa(i), []string{o, ax})
	}
	c.setOutputs(n, outs)
	return nil
}

func (c *tfjsConverter) split(n *gNode) error {
	dim, err := c.constIntsIn(n, 0)
	if err != nil {
		return err
	}
	x, err := c.in(n, 1)
	if err != nil {
		return err
	}
	num := n.integer("num_split", 0)
	if num < 1 || num > 1<<16 || len(dim) != 1 {
		return fmt.Errorf("%w: Split num_split %d, split_dim %v", refit.ErrFormat, num, dim)
	}
	if num == 1 {
		c.setOutputs(n, []string{x})
		return nil
	}
	c.setOutputs(n, c.splitInto(n, x, dim[0], int(num), nil))
	return nil
}

func (c *tfjsConverter) splitV(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	sizes, err := c.constIntsIn(n, 1)
	if err != nil {
		return err
	}
	dim, err := c.constIntsIn(n, 2)
	if err != nil {
		return err
	}
	if len(dim) != 1 || len(sizes) == 0 || len(sizes) > 1<<16 {
		return fmt.Errorf("%w: SplitV sizes %v, split_dim %v", refit.ErrFormat, sizes, dim)
	}
	inferred, known := -1, int64(0)
	for i, s := range sizes {
		switch {
		case s >= 0:
			known += s
		case s == -1 && inferred < 0:
			inferred = i
		default:
			return unsupported("SplitV sizes %v", sizes)
		}
	}
	if len(sizes) == 1 {
		c.setOutputs(n, []string{x})
		return nil
	}
	if inferred < 0 {
		c.setOutputs(n, c.splitInto(n, x, dim[0], len(sizes), sizes))
		return nil
	}
	// The -1 size is what the others leave of the split axis, known only at run time.
	axisLen := c.b.Op("Gather", n.Name+"_dim", []string{c.b.Op("Shape", n.Name+"_shape", []string{x}), c.ints1(n.Name+"_axis", dim[0])}, graph.IntAttr("axis", 0))
	rest := c.b.Op("Sub", n.Name+"_rest", []string{axisLen, c.ints1(n.Name+"_known", known)})
	var parts []string
	if inferred > 0 {
		parts = append(parts, c.ints1(n.Name+"_before", sizes[:inferred]...))
	}
	parts = append(parts, rest)
	if inferred < len(sizes)-1 {
		parts = append(parts, c.ints1(n.Name+"_after", sizes[inferred+1:]...))
	}
	split := c.b.Op("Concat", n.Name+"_split", parts, graph.IntAttr("axis", 0))
	want := make([]bool, len(sizes))
	for i := range want {
		want[i] = true
	}
	c.setOutputs(n, c.b.OpN("Split", n.Name, []string{x, split}, want, graph.IntAttr("axis", dim[0])))
	return nil
}

func (c *tfjsConverter) topK(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	ins := dataInputs(n)
	if len(ins) < 2 {
		return fmt.Errorf("%w: TopKV2 without k", refit.ErrFormat)
	}
	k, err := c.intValue(n.Name+"_k", ins[1], 1)
	if err != nil {
		return err
	}
	outs := c.b.OpN("TopK", n.Name, []string{x, k}, []bool{true, true}, graph.IntAttr("axis", -1),
		graph.IntAttr("largest", 1), graph.IntAttr("sorted", 1))
	c.setOutputs(n, outs)
	return nil
}

func (c *tfjsConverter) cast(n *gNode) error {
	ref := dataInputs(n)
	if len(ref) < 1 {
		return fmt.Errorf("%w: Cast without input", refit.ErrFormat)
	}
	to := tfKind(n.dtype("DstT"))
	if v, ok, err := c.constant(trimZero(ref[0])); err != nil {
		return err
	} else if ok && to != elemBool { // keep shape constants constant
		switch to {
		case elemInt64:
			c.consts[n.Name] = &cval{shape: v.shape, i: v.ints(), isInt: true}
		default:
			c.consts[n.Name] = &cval{shape: v.shape, f: v.floats()}
		}
		return nil
	}
	x, err := c.value(ref[0])
	if err != nil {
		return err
	}
	if tfKind(n.dtype("SrcT")) == to && n.dtype("SrcT") != "" {
		c.names[n.Name] = x
		return nil
	}
	c.names[n.Name] = c.b.Op("Cast", n.Name, []string{x}, graph.IntAttr("to", int64(to)))
	return nil
}

func (c *tfjsConverter) shapeOp(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op(n.Op, n.Name, []string{x})
	return nil
}

func (c *tfjsConverter) gather(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	axis, err := c.constIntsIn(n, 2)
	if err != nil {
		return err
	}
	if len(axis) != 1 {
		return fmt.Errorf("%w: GatherV2 axis %v", refit.ErrFormat, axis)
	}
	if bd := n.integer("batch_dims", 0); bd != 0 {
		return unsupported("GatherV2 batch_dims %d", bd)
	}
	c.names[n.Name] = c.b.Op("Gather", n.Name, xs, graph.IntAttr("axis", axis[0]))
	return nil
}

func (c *tfjsConverter) gatherND(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("GatherND", n.Name, xs)
	return nil
}

func (c *tfjsConverter) fill(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 2 {
		return fmt.Errorf("%w: Fill with %d inputs", refit.ErrFormat, len(ins))
	}
	dims, err := c.intValue(n.Name+"_dims", ins[0], 0)
	if err != nil {
		return err
	}
	v, err := c.value(ins[1])
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Expand", n.Name, []string{v, dims})
	return nil
}

func (c *tfjsConverter) broadcastTo(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 2 {
		return fmt.Errorf("%w: BroadcastTo with %d inputs", refit.ErrFormat, len(ins))
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	shape, err := c.intValue(n.Name+"_shape", ins[1], 0)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Expand", n.Name, []string{x, shape})
	return nil
}

func (c *tfjsConverter) zerosLike(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	v := 0.0
	if n.Op == "OnesLike" {
		v = 1
	}
	c.names[n.Name] = c.b.Op("Expand", n.Name, []string{c.scalarOf(n.Name+"_v", n.dtype("T"), v), c.b.Op("Shape", n.Name+"_shape", []string{x})})
	return nil
}

// floorDiv rounds toward negative infinity, as TF does; ONNX Div truncates integers.
func (c *tfjsConverter) floorDiv(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	if tfKind(n.dtype("T")) == elemFloat {
		c.names[n.Name] = c.b.Op("Floor", n.Name, []string{c.b.Op("Div", n.Name+"_div", xs)})
		return nil
	}
	// a - floormod(a, b) is an exact multiple of b.
	m := c.b.Op("Mod", n.Name+"_mod", xs, graph.IntAttr("fmod", 0))
	c.names[n.Name] = c.b.Op("Div", n.Name, []string{c.b.Op("Sub", n.Name+"_sub", []string{xs[0], m}), xs[1]})
	return nil
}

// floorMod takes the divisor's sign, as TF does.
func (c *tfjsConverter) floorMod(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	if tfKind(n.dtype("T")) != elemFloat {
		c.names[n.Name] = c.b.Op("Mod", n.Name, xs, graph.IntAttr("fmod", 0))
		return nil
	}
	q := c.b.Op("Floor", n.Name+"_q", []string{c.b.Op("Div", n.Name+"_div", xs)})
	c.names[n.Name] = c.b.Op("Sub", n.Name, []string{xs[0], c.b.Op("Mul", n.Name+"_m", []string{xs[1], q})})
	return nil
}

func (c *tfjsConverter) squaredDifference(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	d := c.b.Op("Sub", n.Name+"_d", xs)
	c.names[n.Name] = c.b.Op("Mul", n.Name, []string{d, d})
	return nil
}

func (c *tfjsConverter) notEqual(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Not", n.Name, []string{c.b.Op("Equal", n.Name+"_eq", xs)})
	return nil
}

func (c *tfjsConverter) selectOp(n *gNode) error {
	xs, err := c.ins(n, 3)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Where", n.Name, xs)
	return nil
}

func (c *tfjsConverter) rangeOp(n *gNode) error {
	xs, err := c.ins(n, 3)
	if err != nil {
		return err
	}
	// ONNX Range wants scalars; TF allows shape [1] too.
	scalar := c.ints1(n.Name + "_scalar_shape")
	for i := range xs {
		xs[i] = c.b.Op("Reshape", n.Name+"_s", []string{xs[i], scalar})
	}
	c.names[n.Name] = c.b.Op("Range", n.Name, xs)
	return nil
}

func (c *tfjsConverter) tile(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 2 {
		return fmt.Errorf("%w: Tile with %d inputs", refit.ErrFormat, len(ins))
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	reps, err := c.intValue(n.Name+"_reps", ins[1], 0)
	if err != nil {
		return err
	}
	c.names[n.Name] = c.b.Op("Tile", n.Name, []string{x, reps})
	return nil
}

func (c *tfjsConverter) argMinMax(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	axis, err := c.constIntsIn(n, 1)
	if err != nil {
		return err
	}
	if len(axis) != 1 {
		return fmt.Errorf("%w: %s axis %v", refit.ErrFormat, n.Op, axis)
	}
	c.names[n.Name] = c.b.Op(n.Op, n.Name, []string{x}, graph.IntAttr("axis", axis[0]), graph.IntAttr("keepdims", 0))
	return nil
}

// sliceOp converts Slice(x, begin, size), where size -1 means "to the end".
func (c *tfjsConverter) sliceOp(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 3 {
		return fmt.Errorf("%w: Slice with %d inputs", refit.ErrFormat, len(ins))
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	bv, bok, err := c.constant(trimZero(ins[1]))
	if err != nil {
		return err
	}
	sv, sok, err := c.constant(trimZero(ins[2]))
	if err != nil {
		return err
	}
	if bok && sok {
		begin, size := bv.ints(), sv.ints()
		if len(begin) != len(size) {
			return fmt.Errorf("%w: Slice begin %v, size %v", refit.ErrFormat, begin, size)
		}
		ends, axes, steps := make([]int64, len(begin)), make([]int64, len(begin)), make([]int64, len(begin))
		for i := range begin {
			axes[i], steps[i], ends[i] = int64(i), 1, begin[i]+size[i]
			if size[i] < 0 {
				ends[i] = math.MaxInt64
			}
		}
		c.names[n.Name] = c.b.slice(n.Name, x, begin, ends, axes, steps)
		return nil
	}
	begin, err := c.intValue(n.Name+"_begin", ins[1], 0)
	if err != nil {
		return err
	}
	size, err := c.intValue(n.Name+"_size", ins[2], 0)
	if err != nil {
		return err
	}
	toEnd := c.b.Op("Less", n.Name+"_to_end", []string{size, c.b.IntData(n.Name+"_zero", elemInt64, nil, []int64{0})})
	ends := c.b.Op("Where", n.Name+"_ends", []string{toEnd, c.b.IntData(n.Name+"_max", elemInt64, nil, []int64{math.MaxInt64}),
		c.b.Op("Add", n.Name+"_sum", []string{begin, size})})
	c.names[n.Name] = c.b.Op("Slice", n.Name, []string{x, begin, ends})
	return nil
}

func (c *tfjsConverter) batchMatMul(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	// A one-input Einsum swaps the last two axes whatever the rank (unknown here);
	// MatMul then broadcasts the batch axes as TF does.
	for i, adj := range []string{"adj_x", "adj_y"} {
		if n.boolean(adj) {
			xs[i] = c.b.Op("Einsum", n.Name+"_"+adj, []string{xs[i]}, graph.StringAttr("equation", "...ij->...ji"))
		}
	}
	c.names[n.Name] = c.b.Op("MatMul", n.Name, xs)
	return nil
}

// depthToSpace: TF's NHWC channel order (block row, block column, channel) is ONNX's DCR.
func (c *tfjsConverter) depthToSpace(n *gNode) error {
	x, err := c.in(n, 0)
	if err != nil {
		return err
	}
	bs := n.integer("block_size", 0)
	if bs < 1 {
		return fmt.Errorf("%w: %s block_size %d", refit.ErrFormat, n.Op, bs)
	}
	attrs := []*onnxpb.AttributeProto{graph.IntAttr("blocksize", bs)}
	if n.Op == "DepthToSpace" {
		attrs = append(attrs, graph.StringAttr("mode", "DCR"))
	}
	y := c.b.Op(n.Op, n.Name+"_nchw", []string{c.b.transpose(x, toNCHW)}, attrs...)
	c.names[n.Name] = c.b.transpose(y, toNHWC)
	return nil
}

// atan2 is atan(y/x) moved into the right quadrant; x == 0 gives ±inf and so ±pi/2.
func (c *tfjsConverter) atan2(n *gNode) error {
	xs, err := c.ins(n, 2)
	if err != nil {
		return err
	}
	y, x := xs[0], xs[1]
	a := c.b.Op("Atan", n.Name+"_atan", []string{c.b.Op("Div", n.Name+"_div", []string{y, x})})
	zero := c.b.Float(n.Name+"_zero", nil, []float32{0})
	pi := c.b.Float(n.Name+"_pi", nil, []float32{math.Pi})
	negPi := c.b.Float(n.Name+"_neg_pi", nil, []float32{-math.Pi})
	shift := c.b.Op("Where", n.Name+"_shift", []string{c.b.Op("GreaterOrEqual", n.Name+"_ypos", []string{y, zero}), pi, negPi})
	left := c.b.Op("Less", n.Name+"_xneg", []string{x, zero})
	c.names[n.Name] = c.b.Op("Where", n.Name, []string{left, c.b.Op("Add", n.Name+"_shifted", []string{a, shift}), a})
	return nil
}

// conv2DBackpropInput is a transposed convolution: ONNX ConvTranspose without padding
// gives the full output, from which TF's output (input_sizes) is cropped. SAME crops
// half of the excess at the start (floor), as TF's forward convolution pads.
func (c *tfjsConverter) conv2DBackpropInput(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 1 {
		return fmt.Errorf("%w: Conv2DBackpropInput without inputs", refit.ErrFormat)
	}
	sizes, err := c.intValue(n.Name+"_sizes", ins[0], 4)
	if err != nil {
		return err
	}
	if len(ins) < 3 {
		return fmt.Errorf("%w: Conv2DBackpropInput with %d inputs", refit.ErrFormat, len(ins))
	}
	w, err := c.constInput(ins[1])
	if err != nil {
		return err
	}
	if len(w.shape) != 4 || w.isInt {
		return fmt.Errorf("%w: filter of shape %v", refit.ErrFormat, w.shape)
	}
	x, err := c.value(ins[2])
	if err != nil {
		return err
	}
	wt, err := w.transposed([]int{3, 2, 0, 1}) // [H, W, out, in] -> [in, out, H, W]
	if err != nil {
		return err
	}
	strides, dil := n.nhwc4("strides"), n.nhwc4("dilations")
	pad := n.str("padding", "VALID")
	y := c.b.Op("ConvTranspose", n.Name+"_full", []string{c.b.transpose(x, toNCHW), c.b.constant(n.Name+"_w", wt)},
		graph.IntsAttr("kernel_shape", wt.shape[2:]), graph.IntsAttr("strides", strides[1:3]), graph.IntsAttr("dilations", dil[1:3]))
	out := c.b.Op("Slice", n.Name+"_out_hw", []string{sizes, c.ints1(n.Name+"_1", 1), c.ints1(n.Name+"_3", 3)})
	axes := c.ints1(n.Name+"_axes", 2, 3)
	// excess = full - out per spatial axis; a negative excess (an output larger than
	// the transposed convolution's reach, which TF fills with zeros) pads at the end.
	full := c.b.Op("Slice", n.Name+"_full_hw", []string{c.b.Op("Shape", n.Name+"_shape", []string{y}), c.ints1(n.Name+"_2", 2), c.ints1(n.Name+"_4", 4)})
	excess := c.b.Op("Sub", n.Name+"_excess", []string{full, out})
	zero2 := c.ints1(n.Name+"_zero2", 0, 0)
	short := c.b.Op("Max", n.Name+"_short", []string{c.b.Op("Neg", n.Name+"_neg", []string{excess}), zero2})
	y = c.b.Op("Pad", n.Name+"_pad", []string{y, c.b.Op("Concat", n.Name+"_pads", []string{c.ints1(n.Name+"_zero6", 0, 0, 0, 0, 0, 0), short}, graph.IntAttr("axis", 0))})
	var starts string
	switch pad {
	case "VALID":
		starts = zero2
	case "SAME":
		starts = c.b.Op("Div", n.Name+"_starts", []string{c.b.Op("Max", n.Name+"_excess_pos", []string{excess, zero2}), c.ints1(n.Name+"_two", 2, 2)})
	case "EXPLICIT":
		e := n.ints("explicit_paddings")
		if len(e) != 8 {
			return fmt.Errorf("%w: explicit_paddings %v", refit.ErrFormat, e)
		}
		starts = c.ints1(n.Name+"_starts", e[2], e[4])
	default:
		return unsupported("padding %s", pad)
	}
	ends := c.b.Op("Add", n.Name+"_ends", []string{starts, out})
	y = c.b.Op("Slice", n.Name+"_crop", []string{y, starts, ends, axes})
	c.names[n.Name] = c.b.transpose(y, toNHWC)
	return nil
}

// sparseToDense scatters values into a tensor of default_value.
func (c *tfjsConverter) sparseToDense(n *gNode) error {
	ins := dataInputs(n)
	if len(ins) < 4 {
		return fmt.Errorf("%w: SparseToDense with %d inputs", refit.ErrFormat, len(ins))
	}
	idx, err := c.value(ins[0])
	if err != nil {
		return err
	}
	shape, err := c.intValue(n.Name+"_shape", ins[1], 0)
	if err != nil {
		return err
	}
	vals, err := c.value(ins[2])
	if err != nil {
		return err
	}
	def, err := c.value(ins[3])
	if err != nil {
		return err
	}
	// Indices [N] or [N, rank] -> [N, rank]; values scalar or [N] -> [N].
	rank := c.b.Op("Shape", n.Name+"_rank", []string{shape})
	idx = c.b.Op("Reshape", n.Name+"_idx", []string{idx, c.b.Op("Concat", n.Name+"_idx_shape",
		[]string{c.ints1(n.Name+"_minus1", -1), rank}, graph.IntAttr("axis", 0))})
	count := c.b.Op("Slice", n.Name+"_count", []string{c.b.Op("Shape", n.Name+"_idx_dims", []string{idx}), c.ints1(n.Name+"_0", 0), c.ints1(n.Name+"_1", 1)})
	vals = c.b.Op("Expand", n.Name+"_vals", []string{vals, count})
	data := c.b.Op("Expand", n.Name+"_data", []string{def, shape})
	c.names[n.Name] = c.b.Op("ScatterND", n.Name, []string{data, idx, vals})
	return nil
}

// nms converts NonMaxSuppressionV3/V4/V5 (boxes [N, 4] as y1, x1, y2, x2; scores [N])
// to ONNX NonMaxSuppression on one batch and class. V4 and V5 also return the count
// of selected boxes, V5 their scores; pad_to_max_output_size pads with zeros.
func (c *tfjsConverter) nms(n *gNode) error {
	xs, err := c.ins(n, 5)
	if err != nil {
		return err
	}
	if n.Op == "NonMaxSuppressionV5" {
		if v, ok, _ := c.constant(trimZero(dataInputs(n)[5])); !ok || v.len() != 1 || v.floats()[0] != 0 {
			return unsupported("soft NMS (soft_nms_sigma not a constant 0)")
		}
	}
	boxes := c.b.Op("Unsqueeze", n.Name+"_boxes", []string{xs[0], c.ints1(n.Name+"_ax0", 0)})
	scores := c.b.Op("Unsqueeze", n.Name+"_scores", []string{xs[1], c.ints1(n.Name+"_ax01", 0, 1)})
	maxOut := c.b.Op("Reshape", n.Name+"_max", []string{xs[2], c.ints1(n.Name+"_one", 1)})
	iou := c.b.Op("Reshape", n.Name+"_iou", []string{xs[3], c.ints1(n.Name+"_one_f", 1)})
	// TF keeps scores above the threshold, as ONNX does (score > threshold).
	thr := c.b.Op("Reshape", n.Name+"_thr", []string{xs[4], c.ints1(n.Name+"_one_t", 1)})
	sel := c.b.Op("NonMaxSuppression", n.Name+"_sel", []string{boxes, scores, maxOut, iou, thr})
	idx := c.b.Op("Gather", n.Name+"_idx", []string{sel, c.b.IntData(n.Name+"_col", elemInt64, nil, []int64{2})}, graph.IntAttr("axis", 1))
	count := c.b.Op("Shape", n.Name+"_count", []string{idx})
	valid := c.b.Op("Squeeze", n.Name+"_valid", []string{count, c.ints1(n.Name+"_sq", 0)})
	selScores := c.b.Op("Gather", n.Name+"_sel_scores", []string{xs[1], idx}, graph.IntAttr("axis", 0))
	if n.boolean("pad_to_max_output_size") {
		short := c.b.Op("Sub", n.Name+"_short", []string{maxOut, count})
		pads := c.b.Op("Concat", n.Name+"_pads", []string{c.ints1(n.Name+"_p0", 0), short}, graph.IntAttr("axis", 0))
		idx = c.b.Op("Pad", n.Name+"_idx_pad", []string{idx, pads})
		selScores = c.b.Op("Pad", n.Name+"_scores_pad", []string{selScores, pads})
	}
	switch n.Op {
	case "NonMaxSuppressionV3":
		c.setOutputs(n, []string{idx})
	case "NonMaxSuppressionV4":
		c.setOutputs(n, []string{idx, valid})
	default:
		c.setOutputs(n, []string{idx, selScores, valid})
	}
	return nil
}

// stridedSliceMasks converts a StridedSlice with ellipsis or new-axis masks (constant
// begin, end and strides in vals) without knowing the input's rank: entries before the
// ellipsis address axes from the front, entries after it from the back (negative ONNX
// axes); new axes are inserted by one Unsqueeze at the end.
func (c *tfjsConverter) stridedSliceMasks(n *gNode, x string, vals [3][]int64) error {
	begin, end, strides := vals[0], vals[1], vals[2]
	if len(end) != len(begin) || len(strides) != len(begin) || len(begin) > 64 {
		return fmt.Errorf("%w: begin %v, end %v, strides %v", refit.ErrFormat, begin, end, strides)
	}
	bm, em := n.integer("begin_mask", 0), n.integer("end_mask", 0)
	shrink, newAxis, ellipsis := n.integer("shrink_axis_mask", 0), n.integer("new_axis_mask", 0), n.integer("ellipsis_mask", 0)
	ell := len(begin)
	for i := range begin {
		if ellipsis&(1<<i) != 0 {
			ell = i
			break
		}
	}
	var starts, ends, axes, steps, squeeze, unsqueeze []int64
	entry := func(i int, axis int64) error {
		st, en, _, sp, sq, err := stridedSlice(begin[i:i+1], end[i:i+1], strides[i:i+1], bm>>i&1, em>>i&1, shrink>>i&1)
		if err != nil {
			return err
		}
		starts, ends, axes, steps = append(starts, st[0]), append(ends, en[0]), append(axes, axis), append(steps, sp[0])
		if len(sq) > 0 {
			squeeze = append(squeeze, axis)
		}
		return nil
	}
	in, out := int64(0), int64(0)
	for i := 0; i < ell; i++ {
		if newAxis&(1<<i) != 0 {
			unsqueeze = append(unsqueeze, out)
			out++
			continue
		}
		if err := entry(i, in); err != nil {
			return err
		}
		if shrink&(1<<i) == 0 {
			out++
		}
		in++
	}
	in, out = 0, 0
	for i := len(begin) - 1; i > ell; i-- {
		if newAxis&(1<<i) != 0 {
			out++
			unsqueeze = append(unsqueeze, -out)
			continue
		}
		in++
		if err := entry(i, -in); err != nil {
			return err
		}
		if shrink&(1<<i) == 0 {
			out++
		}
	}
	y := x
	if len(starts) > 0 {
		y = c.b.slice(n.Name, x, starts, ends, axes, steps)
	}
	if len(squeeze) > 0 {
		y = c.b.Op("Squeeze", n.Name+"_sq", []string{y, c.ints1(n.Name+"_sq_axes", squeeze...)})
	}
	if len(unsqueeze) > 0 {
		y = c.b.Op("Unsqueeze", n.Name+"_unsq", []string{y, c.ints1(n.Name+"_unsq_axes", unsqueeze...)})
	}
	c.names[n.Name] = y
	return nil
}
