package tf2onnx

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/tensor"
)

// gNode is a GraphDef node as TF.js writes it in model.json.
type gNode struct {
	Name  string                     `json:"name"`
	Op    string                     `json:"op"`
	Input []string                   `json:"input"`
	Attr  map[string]json.RawMessage `json:"attr"`

	frame    *whileFrame // the loop behind a whileOp node (tf_control.go)
	branches *ifBranches // the branches behind an ifOp node (tf_functions.go)
}

type gAttr struct {
	S     string   `json:"s"`
	I     string   `json:"i"`
	F     *float64 `json:"f"`
	B     bool     `json:"b"`
	Type  string   `json:"type"`
	Shape *struct {
		Dim []struct {
			Size string `json:"size"`
		} `json:"dim"`
		UnknownRank bool `json:"unknownRank"`
	} `json:"shape"`
	List *struct {
		I []string  `json:"i"`
		S []string  `json:"s"`
		F []float64 `json:"f"`
	} `json:"list"`
	Tensor *struct {
		Dtype       string `json:"dtype"`
		TensorShape struct {
			Dim []struct {
				Size string `json:"size"`
			} `json:"dim"`
		} `json:"tensorShape"`
		FloatVal []float64 `json:"floatVal"`
		IntVal   []int64   `json:"intVal"`
		Int64Val []string  `json:"int64Val"`
	} `json:"tensor"`
}

func (n *gNode) attr(name string) (*gAttr, error) {
	raw, ok := n.Attr[name]
	if !ok {
		return nil, nil
	}
	var a gAttr
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("%w: node %q attr %q: %v", refit.ErrFormat, n.Name, name, err)
	}
	return &a, nil
}

func (n *gNode) str(name, def string) string {
	a, err := n.attr(name)
	if err != nil || a == nil || a.S == "" {
		return def
	}
	b, err := base64.StdEncoding.DecodeString(a.S)
	if err != nil {
		return def
	}
	return string(b)
}

func (n *gNode) strs(name string) []string {
	a, err := n.attr(name)
	if err != nil || a == nil || a.List == nil {
		return nil
	}
	var out []string
	for _, s := range a.List.S {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

func (n *gNode) integer(name string, def int64) int64 {
	a, err := n.attr(name)
	if err != nil || a == nil || a.I == "" {
		return def
	}
	v, err := strconv.ParseInt(a.I, 10, 64)
	if err != nil {
		return def
	}
	return v
}

// nhwc4 is a 4-element NHWC attribute (strides, dilations), all ones when absent or
// malformed, as TensorFlow defaults them.
func (n *gNode) nhwc4(name string) []int64 {
	if v := n.ints(name); len(v) == 4 {
		return v
	}
	return []int64{1, 1, 1, 1}
}

func (n *gNode) ints(name string) []int64 {
	a, err := n.attr(name)
	if err != nil || a == nil || a.List == nil {
		return nil
	}
	out := make([]int64, 0, len(a.List.I))
	for _, s := range a.List.I {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

func (n *gNode) float(name string, def float64) float64 {
	a, err := n.attr(name)
	if err != nil || a == nil || a.F == nil {
		return def
	}
	return *a.F
}

func (n *gNode) boolean(name string) bool {
	a, err := n.attr(name)
	return err == nil && a != nil && a.B
}

type tfjsConverter struct {
	b       *builder
	weights map[string]*tensor.Tensor
	nodes   map[string]*gNode
	names   map[string]string // TF output ("node" or "node:1") -> ONNX value
	consts  map[string]*cval
	failed  map[string]bool // nodes without a conversion; their outputs are placeholders
}

// TFJSGraph converts a TF.js graph model (name is its model.json in fsys, or "." for
// model.json) to ONNX. Const nodes read their values from the weight shards (quantized
// encodings dequantized by format/tfjs); Placeholders become graph inputs, nodes
// nobody consumes become outputs. Operators without a conversion are collected into
// a *graph.UnsupportedError.
func TFJSGraph(ctx context.Context, fsys fs.FS, name string, opts *Options) (*onnxpb.ModelProto, error) {
	if opts == nil {
		opts = &Options{}
	}
	m, err := tfjs.DecodeFS(fsys, name, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if name == "." || name == "" {
		name = tfjs.DefaultName
	}
	f, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, err
	}
	mj, err := tfjs.ParseModelJSON(f, f.Size())
	f.Close()
	if err != nil {
		return nil, err
	}
	var topo struct {
		Node    []*gNode  `json:"node"`
		Library *gLibrary `json:"library"` // tf_functions.go
	}
	if err := json.Unmarshal(mj.ModelTopology, &topo); err != nil || len(topo.Node) == 0 {
		return nil, fmt.Errorf("%w: tf2onnx: model.json has no graph nodes (a layers model?): %v", refit.ErrFormat, err)
	}
	if topo.Node, err = expandFunctions(topo.Node, topo.Library); err != nil {
		return nil, err
	}
	if topo.Node, err = extractConds(topo.Node); err != nil {
		return nil, err
	}
	if topo.Node, err = extractWhileFrames(topo.Node, 0); err != nil {
		return nil, err
	}
	c := &tfjsConverter{b: newBuilder(), weights: map[string]*tensor.Tensor{}, nodes: map[string]*gNode{},
		names: map[string]string{}, consts: map[string]*cval{}, failed: map[string]bool{}}
	for _, t := range m.Tensors {
		c.weights[t.Name] = t
	}
	consumed := map[string]bool{}
	for _, n := range topo.Node {
		if n == nil || n.Name == "" {
			return nil, fmt.Errorf("%w: tf2onnx: graph node without a name", refit.ErrFormat)
		}
		if _, dup := c.nodes[n.Name]; dup {
			return nil, fmt.Errorf("%w: tf2onnx: node %q repeats", refit.ErrFormat, n.Name)
		}
		c.nodes[n.Name] = n
		for _, in := range n.Input {
			consumed[strings.SplitN(strings.TrimPrefix(in, "^"), ":", 2)[0]] = true
		}
	}
	order, err := topoSort(topo.Node, c.nodes)
	if err != nil {
		return nil, err
	}
	bad := map[string]int{}
	for _, n := range order {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.convert(n); err != nil {
			if what, ok := isUnsupported(err); ok {
				key := n.Op
				if what != n.Op {
					key = n.Op + " (" + what + ")"
				}
				bad[key]++
				c.names[n.Name] = c.b.Names.Fresh("unconverted")
				c.failed[n.Name] = true
				continue
			}
			return nil, fmt.Errorf("tf2onnx: tfjs node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	if len(bad) > 0 {
		return nil, &graph.UnsupportedError{Converter: "tf2onnx", Kind: "tfjs operators", Counts: bad}
	}
	if err := c.graphOutputs(mj, order, consumed); err != nil {
		return nil, err
	}
	mp := c.b.model("tfjs", "tfjs graph")
	if opts.Raw {
		return mp, nil
	}
	out, _, err := optimize.Model(ctx, mp, &optimize.Options{Only: []string{"fuse-transposes", "eliminate-identity", "remove-dead"}})
	return out, err
}

// topoSort orders nodes so that every input comes first; it reports cycles and
// unknown inputs.
func topoSort(nodes []*gNode, byName map[string]*gNode) ([]*gNode, error) {
	state := map[string]int{} // 1 visiting, 2 done
	var order []*gNode
	visit := func(root *gNode) error {
		type frame struct {
			n *gNode
			i int
		}
		stack := []frame{{root, 0}}
		state[root.Name] = 1
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.i == len(top.n.Input) {
				state[top.n.Name] = 2
				order = append(order, top.n)
				stack = stack[:len(stack)-1]
				continue
			}
			in := strings.SplitN(strings.TrimPrefix(top.n.Input[top.i], "^"), ":", 2)[0]
			top.i++
			dep, ok := byName[in]
			if !ok {
				return fmt.Errorf("%w: tf2onnx: node %q reads unknown node %q", refit.ErrFormat, top.n.Name, in)
			}
			switch state[in] {
			case 1:
				return fmt.Errorf("%w: tf2onnx: cycle through node %q", refit.ErrFormat, in)
			case 0:
				state[in] = 1
				stack = append(stack, frame{dep, 0})
			}
		}
		return nil
	}
	for _, n := range nodes {
		if state[n.Name] == 0 {
			if err := visit(n); err != nil {
				return nil, err
			}
		}
	}
	return order, nil
}

// dataInputs returns n's inputs without control dependencies.
func dataInputs(n *gNode) []string {
	var out []string
	for _, in := range n.Input {
		if !strings.HasPrefix(in, "^") {
			out = append(out, in)
		}
	}
	return out
}

func (c *tfjsConverter) constant(ref string) (*cval, bool, error) {
	if v, ok := c.consts[ref]; ok {
		return v, true, nil
	}
	n, ok := c.nodes[strings.SplitN(ref, ":", 2)[0]]
	if !ok || n.Op != "Const" {
		return nil, false, nil
	}
	if t, ok := c.weights[n.Name]; ok {
		v, err := cvalFromTensor(t)
		if err != nil {
			return nil, false, err
		}
		c.consts[ref] = v
		return v, true, nil
	}
	a, err := n.attr("value")
	if err != nil || a == nil || a.Tensor == nil {
		return nil, false, fmt.Errorf("%w: Const %q has neither weights nor an inline value", refit.ErrFormat, n.Name)
	}
	v := &cval{}
	count := int64(1)
	for _, d := range a.Tensor.TensorShape.Dim {
		s, err := strconv.ParseInt(d.Size, 10, 64)
		if err != nil || s < 0 || s > 1<<20 {
			return nil, false, fmt.Errorf("%w: Const %q dim %q", refit.ErrFormat, n.Name, d.Size)
		}
		v.shape = append(v.shape, s)
		count *= s
		if count > 1<<20 {
			return nil, false, fmt.Errorf("%w: Const %q too large inline", refit.ErrFormat, n.Name)
		}
	}
	switch {
	case len(a.Tensor.FloatVal) > 0:
		for range count {
			v.f = append(v.f, float32(a.Tensor.FloatVal[min(len(v.f), len(a.Tensor.FloatVal)-1)]))
		}
	case len(a.Tensor.IntVal) > 0:
		v.isInt = true
		for range count {
			v.i = append(v.i, a.Tensor.IntVal[min(len(v.i), len(a.Tensor.IntVal)-1)])
		}
	default:
		return nil, false, unsupported("inline Const of type %s", a.Tensor.Dtype)
	}
	c.consts[ref] = v
	return v, true, nil
}

func (c *tfjsConverter) value(ref string) (string, error) {
	ref = strings.TrimSuffix(ref, ":0")
	if v, ok := c.names[ref]; ok {
		return v, nil
	}
	if base := strings.SplitN(ref, ":", 2)[0]; c.failed[base] {
		return c.names[base], nil
	}
	v, ok, err := c.constant(ref)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%w: value %q is not produced by a converted node", refit.ErrFormat, ref)
	}
	name := c.b.constant(ref, v)
	c.names[ref] = name
	return name, nil
}

func (c *tfjsConverter) inputs(n *gNode, want int) ([]string, error) {
	ins := dataInputs(n)
	if len(ins) < want {
		return nil, fmt.Errorf("%w: %d inputs, want %d", refit.ErrFormat, len(ins), want)
	}
	return ins, nil
}

func (c *tfjsConverter) constInput(ref string) (*cval, error) {
	v, ok, err := c.constant(strings.TrimSuffix(ref, ":0"))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unsupported("non-constant %s", ref)
	}
	return v, nil
}

var tfjsUnary = map[string]string{"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Elu": "Elu",
	"Identity": "Identity", "Exp": "Exp", "Sqrt": "Sqrt", "Neg": "Neg", "Abs": "Abs", "Log": "Log",
	"Floor": "Floor", "Ceil": "Ceil", "Reciprocal": "Reciprocal", "Softplus": "Softplus"}

var tfjsBinary = map[string]string{"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Mul": "Mul",
	"Sub": "Sub", "RealDiv": "Div", "Div": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow"}

func (c *tfjsConverter) convert(n *gNode) error {
	base := n.Name
	if df := n.str("data_format", "NHWC"); df != "NHWC" {
		return unsupported("data_format %s", df)
	}
	if op, ok := tfjsUnary[n.Op]; ok {
		ins, err := c.inputs(n, 1)
		if err != nil {
			return err
		}
		if op == "Identity" {
			if v, ok, err := c.constant(strings.TrimSuffix(ins[0], ":0")); err != nil {
				return err
			} else if ok {
				c.consts[n.Name] = v
				return nil
			}
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op(op, base, []string{x})
		return nil
	}
	if op, ok := tfjsBinary[n.Op]; ok {
		ins, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		y, err := c.value(ins[1])
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op(op, base, []string{x, y})
		return nil
	}
	switch n.Op {
	case "Const", "NoOp":
	case "Placeholder":
		return c.placeholder(n)
	case "Relu6":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.clip(x, 0, 6, base)
	case "LeakyRelu":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("LeakyRelu", base, []string{x}, graph.FloatAttr("alpha", float32(n.float("alpha", 0.2))))
	case "Softmax":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Softmax", base, []string{x}, graph.IntAttr("axis", -1))
	case "Rsqrt":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Reciprocal", base, []string{c.b.Op("Sqrt", base+"_sqrt", []string{x})})
	case "Square":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Mul", base, []string{x, x})
	case "Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative":
		return c.conv(n)
	case "MatMul", "_FusedMatMul":
		return c.matmul(n)
	case "FusedBatchNorm", "FusedBatchNormV3":
		ins, err := c.inputs(n, 5)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		mul, add, err := c.batchNorm(ins[1:5], n.float("epsilon", 1e-3))
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Add", base, []string{c.b.Op("Mul", base+"_scale", []string{x, mul}), add})
	case "MaxPool", "AvgPool":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		k, s := n.ints("ksize"), n.ints("strides")
		if len(k) != 4 || len(s) != 4 {
			return fmt.Errorf("%w: ksize %v strides %v", refit.ErrFormat, k, s)
		}
		attrs := []*onnxpb.AttributeProto{graph.IntsAttr("kernel_shape", k[1:3]), graph.IntsAttr("strides", s[1:3])}
		attrs = append(attrs, padAttr(n.str("padding", "VALID")))
		op := map[string]string{"MaxPool": "MaxPool", "AvgPool": "AveragePool"}[n.Op]
		y := c.b.Op(op, base+"_nchw", []string{c.b.transpose(x, toNCHW)}, attrs...)
		c.names[n.Name] = c.b.transpose(y, toNHWC)
	case "Mean", "Sum", "Max", "Min", "Prod":
		ins, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		axes, err := c.constInput(ins[1])
		if err != nil {
			return err
		}
		keep := int64(0)
		if n.boolean("keep_dims") {
			keep = 1
		}
		ax := axes.ints()
		if n.Op == "Sum" {
			c.names[n.Name] = c.b.Op("ReduceSum", base, []string{x, c.b.IntData(base+"_axes", elemInt64, []int64{int64(len(ax))}, ax)}, graph.IntAttr("keepdims", keep))
			return nil
		}
		op := map[string]string{"Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd"}[n.Op]
		c.names[n.Name] = c.b.Op(op, base, []string{x}, graph.IntsAttr("axes", ax), graph.IntAttr("keepdims", keep))
	case "Reshape":
		ins, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		shape, err := c.value(ins[1])
		if err != nil {
			return err
		}
		if v, ok, _ := c.constant(strings.TrimSuffix(ins[1], ":0")); ok {
			shape = c.b.IntData(base+"_shape", elemInt64, []int64{int64(v.len())}, v.ints())
		} else {
			shape = c.b.Op("Cast", base+"_shape", []string{shape}, graph.IntAttr("to", elemInt64))
		}
		c.names[n.Name] = c.b.Op("Reshape", base, []string{x, shape})
	case "Squeeze":
		x, err := c.first(n)
		if err != nil {
			return err
		}
		dims := n.ints("squeeze_dims")
		if dims == nil {
			dims = n.ints("axis")
		}
		in := []string{x}
		if len(dims) > 0 {
			in = append(in, c.b.IntData(base+"_axes", elemInt64, []int64{int64(len(dims))}, dims))
		}
		c.names[n.Name] = c.b.Op("Squeeze", base, in)
	case "ExpandDims":
		ins, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		ax, err := c.constInput(ins[1])
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Unsqueeze", base, []string{x, c.b.IntData(base+"_axes", elemInt64, []int64{1}, ax.ints()[:1])})
	case "ConcatV2":
		ins := dataInputs(n)
		if len(ins) < 2 {
			return fmt.Errorf("%w: ConcatV2 with %d inputs", refit.ErrFormat, len(ins))
		}
		axis, err := c.constInput(ins[len(ins)-1])
		if err != nil {
			return err
		}
		var xs []string
		for _, in := range ins[:len(ins)-1] {
			x, err := c.value(in)
			if err != nil {
				return err
			}
			xs = append(xs, x)
		}
		c.names[n.Name] = c.b.Op("Concat", base, xs, graph.IntAttr("axis", axis.ints()[0]))
	case "Pad", "PadV2", "MirrorPad":
		return c.pad(n)
	case "Transpose":
		ins, err := c.inputs(n, 2)
		if err != nil {
			return err
		}
		x, err := c.value(ins[0])
		if err != nil {
			return err
		}
		perm, err := c.constInput(ins[1])
		if err != nil {
			return err
		}
		c.names[n.Name] = c.b.Op("Transpose", base, []string{x}, graph.IntsAttr("perm", perm.ints()))
	case "StridedSlice":
		return c.stridedSlice(n)
	case "ResizeBilinear", "ResizeNearestNeighbor":
		return c.resize(n)
	case whileOp:
		return c.whileLoop(n)
	case ifOp:
		return c.ifNode(n)
	default:
		if f, ok := tfjsOps[n.Op]; ok {
			return f(c, n)
		}
		if ok, err := c.controlOp(n); ok {
			return err
		}
		return unsupported("%s", n.Op)
	}
	return nil
}

func (c *tfjsConverter) first(n *gNode) (string, error) {
	ins, err := c.inputs(n, 1)
	if err != nil {
		return "", err
	}
	return c.value(ins[0])
}

func padAttr(padding string) *onnxpb.AttributeProto {
	if padding == "SAME" {
		return graph.StringAttr("auto_pad", "SAME_UPPER") // TensorFlow puts the odd pixel at the end
	}
	return graph.StringAttr("auto_pad", "VALID")
}

// batchNorm folds scale, offset, mean and variance into y = x*mul + add.
func (c *tfjsConverter) batchNorm(refs []string, eps float64) (string, string, error) {
	var p [4]*cval
	for i, r := range refs {
		v, err := c.constInput(r)
		if err != nil {
			return "", "", err
		}
		p[i] = v
	}
	sc, off, mean, vr := p[0].floats(), p[1].floats(), p[2].floats(), p[3].floats()
	k := len(sc)
	if len(off) != k || len(mean) != k || len(vr) != k {
		return "", "", fmt.Errorf("%w: batch norm parameters of %d, %d, %d, %d values", refit.ErrFormat, k, len(off), len(mean), len(vr))
	}
	mul, add := make([]float32, k), make([]float32, k)
	for i := range k {
		mul[i] = float32(float64(sc[i]) / math.Sqrt(float64(vr[i])+eps))
		add[i] = float32(float64(off[i]) - float64(mean[i])*float64(mul[i]))
	}
	return c.b.Float("bn_mul", []int64{int64(k)}, mul), c.b.Float("bn_add", []int64{int64(k)}, add), nil
}

// fused applies the fused_ops of a _Fused* node after its main op (y is NHWC or 2-D).
func (c *tfjsConverter) fused(n *gNode, y string, args []string) (string, error) {
	ops := n.strs("fused_ops")
	for i, op := range ops {
		switch op {
		case "BiasAdd", "Add", "AddV2":
			if len(args) < 1 {
				return "", fmt.Errorf("%w: fused %s without argument", refit.ErrFormat, op)
			}
			b, err := c.value(args[0])
			if err != nil {
				return "", err
			}
			y = c.b.Op("Add", n.Name+"_bias", []string{y, b})
		case "FusedBatchNorm":
			if len(args) < 4 {
				return "", fmt.Errorf("%w: fused batch norm with %d arguments", refit.ErrFormat, len(args))
			}
			mul, add, err := c.batchNorm(args[:4], n.float("epsilon", 1e-3))
			if err != nil {
				return "", err
			}
			y = c.b.Op("Add", n.Name+"_bn", []string{c.b.Op("Mul", n.Name+"_bn_scale", []string{y, mul}), add})
		case "Prelu":
			if len(args) < 2 {
				return "", fmt.Errorf("%w: fused Prelu without alpha", refit.ErrFormat)
			}
			a, err := c.value(args[1])
			if err != nil {
				return "", err
			}
			y = c.b.Op("PRelu", n.Name+"_prelu", []string{y, a})
		case "LeakyRelu":
			y = c.b.Op("LeakyRelu", n.Name+"_act", []string{y}, graph.FloatAttr("alpha", float32(n.float("leakyrelu_alpha", 0.2))))
		default:
			if i == 0 {
				return "", unsupported("fused op %s", op)
			}
			var err error
			if y, err = c.b.activation(y, op, n.Name+"_act"); err != nil {
				return "", err
			}
		}
	}
	return y, nil
}

func (c *tfjsConverter) conv(n *gNode) error {
	ins, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	w, err := c.constInput(ins[1])
	if err != nil {
		return err
	}
	if len(w.shape) != 4 || w.isInt {
		return fmt.Errorf("%w: filter of shape %v", refit.ErrFormat, w.shape)
	}
	depthwise := strings.Contains(n.Op, "Depthwise")
	group := int64(1)
	var wt *cval
	if depthwise { // [H, W, C, M] -> [C, M, H, W] viewed as [C*M, 1, H, W]
		if wt, err = w.transposed([]int{2, 3, 0, 1}); err != nil {
			return err
		}
		group = w.shape[2]
		wt.shape = []int64{w.shape[2] * w.shape[3], 1, w.shape[0], w.shape[1]}
	} else if wt, err = w.transposed([]int{3, 2, 0, 1}); err != nil { // HWIO -> OIHW
		return err
	}
	strides, dil := n.nhwc4("strides"), n.nhwc4("dilations")
	attrs := []*onnxpb.AttributeProto{graph.IntsAttr("kernel_shape", wt.shape[2:]), graph.IntsAttr("strides", strides[1:3]),
		graph.IntsAttr("dilations", dil[1:3]), graph.IntAttr("group", group)}
	switch p := n.str("padding", "VALID"); p {
	case "SAME", "VALID":
		attrs = append(attrs, padAttr(p))
	case "EXPLICIT":
		e := n.ints("explicit_paddings")
		if len(e) != 8 {
			return fmt.Errorf("%w: explicit_paddings %v", refit.ErrFormat, e)
		}
		attrs = append(attrs, graph.IntsAttr("pads", []int64{e[2], e[4], e[3], e[5]}))
	default:
		return unsupported("padding %s", p)
	}
	y := c.b.Op("Conv", n.Name+"_nchw", []string{c.b.transpose(x, toNCHW), c.b.constant(n.Name+"_w", wt)}, attrs...)
	y = c.b.transpose(y, toNHWC)
	if strings.Contains(n.Op, "Fused") {
		if y, err = c.fused(n, y, ins[2:]); err != nil {
			return err
		}
	}
	c.names[n.Name] = y
	return nil
}

func (c *tfjsConverter) matmul(n *gNode) error {
	ins, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	if n.boolean("transpose_a") {
		x = c.b.transpose(x, []int64{1, 0})
	}
	var w string
	if v, ok, err := c.constant(strings.TrimSuffix(ins[1], ":0")); err != nil {
		return err
	} else if ok && n.boolean("transpose_b") {
		vt, err := v.transposed([]int{1, 0})
		if err != nil {
			return err
		}
		w = c.b.constant(n.Name+"_w", vt)
	} else {
		if w, err = c.value(ins[1]); err != nil {
			return err
		}
		if n.boolean("transpose_b") {
			w = c.b.transpose(w, []int64{1, 0})
		}
	}
	y := c.b.Op("MatMul", n.Name+"_mm", []string{x, w})
	if n.Op == "_FusedMatMul" {
		if y, err = c.fused(n, y, ins[2:]); err != nil {
			return err
		}
	}
	c.names[n.Name] = y
	return nil
}

func (c *tfjsConverter) pad(n *gNode) error {
	ins, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	var padsIn string
	if p, ok, err := c.constant(strings.TrimSuffix(ins[1], ":0")); err != nil {
		return err
	} else if ok {
		pi := p.ints()
		if len(p.shape) != 2 || p.shape[1] != 2 || int64(len(pi)) != 2*p.shape[0] {
			return fmt.Errorf("%w: paddings of shape %v", refit.ErrFormat, p.shape)
		}
		rank := int(p.shape[0])
		pads := make([]int64, 2*rank)
		for i := range rank {
			pads[i], pads[rank+i] = pi[2*i], pi[2*i+1]
		}
		padsIn = c.b.IntData(n.Name+"_pads", elemInt64, []int64{int64(len(pads))}, pads)
	} else {
		// Computed paddings [rank, 2] (before, after per axis): ONNX wants all the
		// befores then all the afters, which is the transpose flattened.
		p, err := c.value(ins[1])
		if err != nil {
			return err
		}
		p = c.b.Op("Cast", n.Name+"_pads_i64", []string{p}, graph.IntAttr("to", elemInt64))
		p = c.b.Op("Transpose", n.Name+"_pads_t", []string{p}, graph.IntsAttr("perm", []int64{1, 0}))
		padsIn = c.b.Op("Reshape", n.Name+"_pads", []string{p, c.b.IntData(n.Name+"_pads_flat", elemInt64, []int64{1}, []int64{-1})})
	}
	in := []string{x, padsIn}
	var attrs []*onnxpb.AttributeProto
	switch n.Op {
	case "PadV2":
		if len(ins) > 2 {
			v, err := c.constInput(ins[2])
			if err != nil {
				return err
			}
			in = append(in, c.b.Float(n.Name+"_value", nil, v.floats()[:1]))
		}
	case "MirrorPad":
		if m := n.str("mode", "REFLECT"); m != "REFLECT" {
			return unsupported("mirror pad mode %s", m)
		}
		attrs = append(attrs, graph.StringAttr("mode", "reflect"))
	}
	c.names[n.Name] = c.b.Op("Pad", n.Name, in, attrs...)
	return nil
}

func (c *tfjsConverter) stridedSlice(n *gNode) error {
	ins, err := c.inputs(n, 4)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	var vals [3][]int64
	for k := range vals {
		v, err := c.constInput(ins[k+1])
		if err != nil {
			return err
		}
		vals[k] = v.ints()
	}
	if n.integer("ellipsis_mask", 0) != 0 || n.integer("new_axis_mask", 0) != 0 {
		return c.stridedSliceMasks(n, x, vals)
	}
	beginMask, endMask, shrink := n.integer("begin_mask", 0), n.integer("end_mask", 0), n.integer("shrink_axis_mask", 0)
	starts, ends, axes, steps, squeeze, err := stridedSlice(vals[0], vals[1], vals[2], beginMask, endMask, shrink)
	if err != nil {
		return err
	}
	y := c.b.slice(n.Name, x, starts, ends, axes, steps)
	if len(squeeze) > 0 {
		y = c.b.Op("Squeeze", n.Name, []string{y, c.b.IntData(n.Name+"_sq", elemInt64, []int64{int64(len(squeeze))}, squeeze)})
	}
	c.names[n.Name] = y
	return nil
}

func (c *tfjsConverter) resize(n *gNode) error {
	ins, err := c.inputs(n, 2)
	if err != nil {
		return err
	}
	x, err := c.value(ins[0])
	if err != nil {
		return err
	}
	hwIn, err := c.intValue(n.Name+"_hw", ins[1], 2)
	if err != nil {
		return err
	}
	align, half := n.boolean("align_corners"), n.boolean("half_pixel_centers")
	var attrs []*onnxpb.AttributeProto
	if n.Op == "ResizeBilinear" {
		mode := "asymmetric"
		if align {
			mode = "align_corners"
		} else if half {
			mode = "half_pixel"
		}
		attrs = append(attrs, graph.StringAttr("mode", "linear"), graph.StringAttr("coordinate_transformation_mode", mode))
	} else {
		mode, nearest := "asymmetric", "floor"
		if align {
			mode, nearest = "align_corners", "round_prefer_ceil"
		} else if half {
			mode = "tf_half_pixel_for_nn"
		}
		attrs = append(attrs, graph.StringAttr("mode", "nearest"), graph.StringAttr("coordinate_transformation_mode", mode), graph.StringAttr("nearest_mode", nearest))
	}
	xt := c.b.transpose(x, toNCHW)
	nc := c.b.Op("Slice", n.Name+"_nc", []string{c.b.Op("Shape", n.Name+"_shape", []string{xt}),
		c.b.IntData(n.Name+"_0", elemInt64, []int64{1}, []int64{0}), c.b.IntData(n.Name+"_2", elemInt64, []int64{1}, []int64{2})})
	sizes := c.b.Op("Concat", n.Name+"_sizes", []string{nc, hwIn}, graph.IntAttr("axis", 0))
	y := c.b.Op("Resize", n.Name+"_nchw", []string{xt, "", "", sizes}, attrs...)
	c.names[n.Name] = c.b.transpose(y, toNHWC)
	return nil
}
