package tf2onnx

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tflite"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/tensor"
)

// TFLite tensor types used here.
const (
	tflFloat32 = 0
	tflFloat16 = 1
	tflInt32   = 2
	tflUint8   = 3
	tflInt64   = 4
	tflInt8    = 9
)

var tflActivations = []string{"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"}

func tflActivation(code int8) string {
	if code >= 0 && int(code) < len(tflActivations) {
		return tflActivations[code]
	}
	return fmt.Sprintf("ACTIVATION_%d", code)
}

type tflConverter struct {
	b       *builder
	m       *refit.Model
	infos   []*tflite.TensorInfo // subgraph 0, by tensor index
	tensors map[string]*tensor.Tensor
	names   map[int32]string // ONNX value of each tensor index once produced
	consts  map[int32]*cval  // constants known at conversion time
	deq     map[int32]string // float (DequantizeLinear) value of each quantized activation
}

// TFLite converts the first subgraph of a .tflite model to ONNX. Activations stay
// NHWC as in TFLite; convolutions, pools and resizes are wrapped in Transposes that
// the cleanup passes cancel where they meet. Constant weights (float32, float16 behind
// DEQUANTIZE, int8/uint8 with quantization parameters) are converted to float32
// initializers. Operators without a conversion are reported together in an
// *graph.UnsupportedError.
func TFLite(ctx context.Context, r io.ReaderAt, size int64, opts *Options) (*onnxpb.ModelProto, error) {
	if opts == nil {
		opts = &Options{}
	}
	m, err := tflite.Decode(r, size, nil)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if size > tflite.MaxFlatbuffer {
		return nil, refit.Unsupportedf("tf2onnx", "a %d-byte tflite model", size)
	}
	f := m.Source.(*tflite.File)
	if len(f.Graphs) == 0 {
		return nil, fmt.Errorf("%w: tflite model has no subgraph", refit.ErrFormat)
	}
	g := f.Graphs[0]
	ops, inputs, outputs := g.Operators, g.Inputs, g.Outputs
	c := &tflConverter{b: newBuilder(), m: m, tensors: map[string]*tensor.Tensor{},
		names: map[int32]string{}, consts: map[int32]*cval{}, deq: map[int32]string{}}
	for i := range f.Tensors {
		if f.Tensors[i].Subgraph == 0 {
			c.infos = append(c.infos, &f.Tensors[i])
		}
	}
	for _, t := range m.Tensors {
		c.tensors[t.Name] = t
	}
	for _, in := range inputs {
		info, err := c.info(in)
		if err != nil {
			return nil, err
		}
		elem, err := tflElem(info.Type)
		if err != nil {
			return nil, fmt.Errorf("input %q: %w", info.Name, err)
		}
		name := c.b.Names.Fresh(info.Name)
		c.b.Input(valueInfo(name, elem, info.Shape))
		c.names[in] = name
	}
	bad := map[string]int{}
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.convert(op); err != nil {
			if name, ok := isUnsupported(err); ok {
				key := op.Op
				if name != op.Op {
					key = op.Op + " (" + name + ")"
				}
				bad[key]++
				for _, o := range op.Outputs { // let later operators convert, to list every gap
					if _, done := c.names[o]; !done && o >= 0 {
						c.names[o] = c.b.Names.Fresh("unconverted")
					}
				}
				continue
			}
			return nil, fmt.Errorf("tf2onnx: tflite %s: %w", op.Op, err)
		}
		if err := c.requantize(op); err != nil {
			return nil, fmt.Errorf("tf2onnx: tflite %s: %w", op.Op, err)
		}
	}
	if len(bad) > 0 {
		return nil, &graph.UnsupportedError{Converter: "tf2onnx", Kind: "tflite operators", Counts: bad}
	}
	for _, out := range outputs {
		info, err := c.info(out)
		if err != nil {
			return nil, err
		}
		v, err := c.value(out)
		if err != nil {
			return nil, err
		}
		elem, err := tflElem(info.Type)
		if err != nil {
			return nil, err
		}
		name := c.b.Names.Fresh(info.Name)
		c.b.Node("Identity", name, []string{v}, []string{name})
		c.b.Output(valueInfo(name, elem, info.Shape))
	}
	mp := c.b.model("tflite", "tflite")
	if opts.Raw {
		return mp, nil
	}
	out, _, err := optimize.Model(ctx, mp, &optimize.Options{Only: []string{"fuse-transposes", "eliminate-identity", "remove-dead"}})
	return out, err
}

func tflElem(t int8) (int32, error) {
	switch t {
	case tflFloat32:
		return elemFloat, nil
	case tflInt32:
		return elemInt32, nil
	case tflInt64:
		return elemInt64, nil
	case tflInt8:
		return elemInt8, nil
	case tflUint8:
		return elemUint8, nil
	}
	return 0, unsupported("tensor type %d", t)
}

func (c *tflConverter) info(i int32) (*tflite.TensorInfo, error) {
	if i < 0 || int(i) >= len(c.infos) {
		return nil, fmt.Errorf("%w: tflite tensor index %d of %d", refit.ErrFormat, i, len(c.infos))
	}
	return c.infos[i], nil
}

// constant returns tensor i's value if it is known at conversion time. Quantized
// integer constants are dequantized to float32 unless raw is set.
func (c *tflConverter) constant(i int32, raw bool) (*cval, bool, error) {
	if v, ok := c.consts[i]; ok && !raw {
		return v, true, nil
	}
	info, err := c.info(i)
	if err != nil {
		return nil, false, err
	}
	t, ok := c.tensors[info.Tensor]
	if info.Tensor == "" || !ok {
		return nil, false, nil
	}
	if q := info.Quantization; !raw && q != nil && len(q.Scale) > 0 && (t.DType == tensor.I8 || t.DType == tensor.U8 || t.DType == tensor.I16 || t.DType == tensor.I32) {
		if t, err = tflite.Dequantize(t, q); err != nil {
			return nil, false, err
		}
	}
	v, err := cvalFromTensor(t)
	if err != nil {
		return nil, false, err
	}
	if !raw {
		c.consts[i] = v
	}
	return v, true, nil
}

// value returns the ONNX value of tensor i, adding constants as initializers.
func (c *tflConverter) value(i int32) (string, error) {
	if n, ok := c.names[i]; ok {
		return n, nil
	}
	v, ok, err := c.constant(i, false)
	if err != nil {
		return "", err
	}
	if !ok {
		info, err := c.info(i)
		if err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: tensor %q is used before an operator produces it", refit.ErrFormat, info.Name)
	}
	info := c.infos[i]
	name := c.b.constant(info.Name, v)
	c.names[i] = name
	return name, nil
}

// set records x as the value of tensor i after applying a fused activation.
func (c *tflConverter) set(i int32, x string, act int8) error {
	info, err := c.info(i)
	if err != nil {
		return err
	}
	y, err := c.b.activation(x, tflActivation(act), info.Name)
	if err != nil {
		return err
	}
	c.names[i] = y
	return nil
}

// in returns the ONNX value of operator input k. A quantized (int8/uint8) activation
// comes back dequantized to float32: operators compute in float between
// DequantizeLinear and QuantizeLinear (QDQ), as ONNX Runtime's quantized graphs do.
func (c *tflConverter) in(op tflite.Operator, k int) (string, error) {
	if k >= len(op.Inputs) || op.Inputs[k] < 0 {
		return "", fmt.Errorf("%w: input %d missing", refit.ErrFormat, k)
	}
	i := op.Inputs[k]
	if v, ok := c.deq[i]; ok {
		return v, nil
	}
	x, err := c.value(i)
	if err != nil {
		return "", err
	}
	if _, isConst := c.consts[i]; isConst || !c.quantizedActivation(i) {
		return x, nil
	}
	info := c.infos[i]
	scale, zp, err := c.qparams(info, x+"_dq")
	if err != nil {
		return "", err
	}
	y := c.b.Op("DequantizeLinear", x+"_dq", []string{x, scale, zp})
	c.deq[i] = y
	return y, nil
}

// quantizedActivation reports whether tensor i is an int8/uint8 tensor with
// quantization parameters that operators produce (not a constant).
func (c *tflConverter) quantizedActivation(i int32) bool {
	if i < 0 || int(i) >= len(c.infos) {
		return false
	}
	info := c.infos[i]
	if _, isConst := c.tensors[info.Tensor]; isConst && info.Tensor != "" {
		return false
	}
	return (info.Type == tflInt8 || info.Type == tflUint8) && info.Quantization != nil && len(info.Quantization.Scale) > 0
}

// requantize quantizes the float results of op that TFLite stores as quantized
// activations (QuantizeLinear with the output tensor's scale and zero point).
func (c *tflConverter) requantize(op tflite.Operator) error {
	if op.Op == "QUANTIZE" {
		return nil // already a QuantizeLinear
	}
	for _, o := range op.Outputs {
		name, ok := c.names[o]
		if !ok || !c.quantizedActivation(o) {
			continue
		}
		scale, zp, err := c.qparams(c.infos[o], name+"_q")
		if err != nil {
			return err
		}
		q := c.b.Op("QuantizeLinear", name+"_q", []string{name, scale, zp})
		c.names[o] = q
	}
	return nil
}

// constIn returns input k, which must be a constant.
func (c *tflConverter) constIn(op tflite.Operator, k int) (*cval, error) {
	if k >= len(op.Inputs) || op.Inputs[k] < 0 {
		return nil, fmt.Errorf("%w: input %d missing", refit.ErrFormat, k)
	}
	v, ok, err := c.constant(op.Inputs[k], false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, unsupported("non-constant input %d", k)
	}
	return v, nil
}

func (c *tflConverter) shapeOf(i int32) []int64 {
	if i < 0 || int(i) >= len(c.infos) {
		return nil
	}
	return c.infos[i].Shape
}

func (c *tflConverter) outName(op tflite.Operator) string {
	if len(op.Outputs) > 0 && op.Outputs[0] >= 0 && int(op.Outputs[0]) < len(c.infos) {
		return c.infos[op.Outputs[0]].Name
	}
	return "out"
}

var tflBinary = map[string]string{"ADD": "Add", "MUL": "Mul", "SUB": "Sub", "DIV": "Div",
	"MAXIMUM": "Max", "MINIMUM": "Min", "SQUARED_DIFFERENCE": "", "POW": "Pow"}

var tflUnary = map[string]string{"LOGISTIC": "Sigmoid", "TANH": "Tanh", "RELU": "Relu",
	"HARD_SWISH": "HardSwish", "EXP": "Exp", "ABS": "Abs", "SQRT": "Sqrt", "NEG": "Neg",
	"LOG": "Log", "FLOOR": "Floor", "CEIL": "Ceil", "ELU": "Elu"}

func (c *tflConverter) convert(op tflite.Operator) error {
	if len(op.Outputs) == 0 {
		return fmt.Errorf("%w: operator without outputs", refit.ErrFormat)
	}
	out := op.Outputs[0]
	if _, err := c.info(out); err != nil {
		return err
	}
	base := c.outName(op)
	if onnxOp, ok := tflUnary[op.Op]; ok {
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op(onnxOp, base, []string{x})
		return nil
	}
	if onnxOp, ok := tflBinary[op.Op]; ok {
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		y, err := c.in(op, 1)
		if err != nil {
			return err
		}
		if op.Op == "SQUARED_DIFFERENCE" {
			d := c.b.Op("Sub", base+"_diff", []string{x, y})
			c.names[out] = c.b.Op("Mul", base, []string{d, d})
			return nil
		}
		return c.set(out, c.b.Op(onnxOp, base+"_pre", []string{x, y}), op.Options.Int8(0, 0))
	}
	if strings.HasPrefix(op.Op, "CUSTOM:") {
		return c.custom(op, base)
	}
	switch op.Op {
	case "CONV_2D", "DEPTHWISE_CONV_2D":
		return c.conv(op, base)
	case "FULLY_CONNECTED":
		return c.fullyConnected(op, base)
	case "AVERAGE_POOL_2D", "MAX_POOL_2D":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		o := op.Options
		sw, sh := int64(o.Int32(1, 1)), int64(o.Int32(2, 1))
		fw, fh := int64(o.Int32(3, 1)), int64(o.Int32(4, 1))
		pads, err := spatialPads(o.Int8(0, 0) == 0, c.shapeOf(op.Inputs[0]), fh, fw, sh, sw, 1, 1)
		if err != nil {
			return err
		}
		onnxOp := map[string]string{"AVERAGE_POOL_2D": "AveragePool", "MAX_POOL_2D": "MaxPool"}[op.Op]
		y := c.b.Op(onnxOp, base+"_nchw", []string{c.b.transpose(x, toNCHW)},
			graph.IntsAttr("kernel_shape", []int64{fh, fw}), graph.IntsAttr("strides", []int64{sh, sw}), graph.IntsAttr("pads", pads))
		return c.set(out, c.b.transpose(y, toNHWC), o.Int8(5, 0))
	case "RELU6":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		c.names[out] = c.b.clip(x, 0, 6, base)
	case "RELU_N1_TO_1":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		c.names[out] = c.b.clip(x, -1, 1, base)
	case "LEAKY_RELU":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op("LeakyRelu", base, []string{x}, graph.FloatAttr("alpha", op.Options.Float32(0, 0)))
	case "PRELU":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		a, err := c.in(op, 1)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op("PRelu", base, []string{x, a})
	case "RESHAPE", "SQUEEZE", "EXPAND_DIMS":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		shape := slices.Clone(c.shapeOf(out))
		if slices.Contains(shape, -1) || len(shape) == 0 && op.Op != "RESHAPE" {
			return unsupported("dynamic output shape %v", shape)
		}
		c.names[out] = c.b.Op("Reshape", base, []string{x, c.b.IntData(base+"_shape", elemInt64, []int64{int64(len(shape))}, shape)})
	case "SOFTMAX":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		if beta := op.Options.Float32(0, 1); beta != 1 {
			x = c.b.Op("Mul", base+"_beta", []string{x, c.b.Float(base+"_beta_v", nil, []float32{beta})})
		}
		c.names[out] = c.b.Op("Softmax", base, []string{x}, graph.IntAttr("axis", -1))
	case "LOG_SOFTMAX":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op("LogSoftmax", base, []string{x}, graph.IntAttr("axis", -1))
	case "CONCATENATION":
		var xs []string
		for k := range op.Inputs {
			x, err := c.in(op, k)
			if err != nil {
				return err
			}
			xs = append(xs, x)
		}
		return c.set(out, c.b.Op("Concat", base+"_pre", xs, graph.IntAttr("axis", int64(op.Options.Int32(0, 0)))), op.Options.Int8(1, 0))
	case "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		axes, err := c.constIn(op, 1)
		if err != nil {
			return err
		}
		keep := int64(0)
		if op.Options.Bool(0) {
			keep = 1
		}
		onnxOp := map[string]string{"MEAN": "ReduceMean", "SUM": "ReduceSum", "REDUCE_MAX": "ReduceMax", "REDUCE_MIN": "ReduceMin", "REDUCE_PROD": "ReduceProd"}[op.Op]
		if onnxOp == "ReduceSum" { // axes is an input from opset 13
			ax := axes.ints()
			c.names[out] = c.b.Op(onnxOp, base, []string{x, c.b.IntData(base+"_axes", elemInt64, []int64{int64(len(ax))}, ax)}, graph.IntAttr("keepdims", keep))
			return nil
		}
		c.names[out] = c.b.Op(onnxOp, base, []string{x}, graph.IntsAttr("axes", axes.ints()), graph.IntAttr("keepdims", keep))
	case "PAD", "PADV2", "MIRROR_PAD":
		return c.pad(op, base)
	case "TRANSPOSE":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		perm, err := c.constIn(op, 1)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op("Transpose", base, []string{x}, graph.IntsAttr("perm", perm.ints()))
	case "STRIDED_SLICE":
		return c.stridedSlice(op, base)
	case "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR":
		return c.resize(op, base)
	case "DEPTH_TO_SPACE", "SPACE_TO_DEPTH":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		attrs := []*onnxpb.AttributeProto{graph.IntAttr("blocksize", int64(op.Options.Int32(0, 1)))}
		onnxOp := "SpaceToDepth"
		if op.Op == "DEPTH_TO_SPACE" {
			onnxOp = "DepthToSpace"
			attrs = append(attrs, graph.StringAttr("mode", "DCR")) // TensorFlow's order
		}
		y := c.b.Op(onnxOp, base+"_nchw", []string{c.b.transpose(x, toNCHW)}, attrs...)
		c.names[out] = c.b.transpose(y, toNHWC)
	case "DENSIFY": // format/tflite densifies sparse constants
		v, err := c.constIn(op, 0)
		if err != nil {
			return err
		}
		c.consts[out] = v
	case "DEQUANTIZE":
		if v, ok, err := c.constant(op.Inputs[0], false); err != nil {
			return err
		} else if ok {
			if v.isInt {
				v = &cval{shape: v.shape, f: v.floats()}
			}
			c.consts[out] = v
			return nil
		}
		info, err := c.info(op.Inputs[0])
		if err != nil {
			return err
		}
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		if info.Type == tflFloat16 {
			c.names[out] = c.b.Op("Cast", base, []string{x}, graph.IntAttr("to", elemFloat))
			return nil
		}
		if !c.quantizedActivation(op.Inputs[0]) {
			return unsupported("DEQUANTIZE of type %d", info.Type)
		}
		c.names[out] = x // in dequantized it
	case "QUANTIZE":
		x, err := c.in(op, 0)
		if err != nil {
			return err
		}
		scale, zp, err := c.qparams(c.infos[out], base)
		if err != nil {
			return err
		}
		c.names[out] = c.b.Op("QuantizeLinear", base, []string{x, scale, zp})
	default:
		return unsupported("%s", op.Op)
	}
	return nil
}

// qparams adds the per-tensor scale and zero point of a quantized activation.
func (c *tflConverter) qparams(info *tflite.TensorInfo, base string) (string, string, error) {
	q := info.Quantization
	if q == nil || len(q.Scale) != 1 {
		return "", "", unsupported("per-channel or missing quantization on activation %q", info.Name)
	}
	var elem int32
	switch info.Type {
	case tflInt8:
		elem = elemInt8
	case tflUint8:
		elem = elemUint8
	default:
		return "", "", unsupported("quantized type %d", info.Type)
	}
	zp := int64(0)
	if len(q.ZeroPoint) > 0 {
		zp = q.ZeroPoint[0]
	}
	return c.b.Float(base+"_scale", nil, q.Scale[:1]), c.b.IntData(base+"_zp", elem, nil, []int64{zp}), nil
}

// requireFloat reports activations of other types as unsupported (integer kernels).
func (c *tflConverter) requireFloat(i int32) error {
	info, err := c.info(i)
	if err != nil {
		return err
	}
	if _, isConst := c.consts[i]; !isConst && info.Tensor == "" && info.Type != tflFloat32 && !c.quantizedActivation(i) {
		return unsupported("integer activations")
	}
	return nil
}

func (c *tflConverter) conv(op tflite.Operator, base string) error {
	if len(op.Inputs) < 2 {
		return fmt.Errorf("%w: %d inputs", refit.ErrFormat, len(op.Inputs))
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
	if len(w.shape) != 4 || w.isInt {
		return fmt.Errorf("%w: filter of shape %v", refit.ErrFormat, w.shape)
	}
	in := c.shapeOf(op.Inputs[0])
	if len(in) != 4 || in[3] <= 0 {
		return unsupported("input of shape %v", in)
	}
	o := op.Options
	depthwise := op.Op == "DEPTHWISE_CONV_2D"
	var wt *cval
	var perm []int
	group := int64(1)
	var act int8
	var dw, dh int64
	if depthwise {
		// filter [1, H, W, C*M] -> [C*M, 1, H, W], group = C
		perm = []int{3, 0, 1, 2}
		if wt, err = w.transposed(perm); err != nil {
			return err
		}
		group = in[3]
		if w.shape[3]%group != 0 {
			return fmt.Errorf("%w: depthwise filter %v for %d channels", refit.ErrFormat, w.shape, group)
		}
		act = o.Int8(4, 0)
		dw, dh = int64(o.Int32(5, 1)), int64(o.Int32(6, 1))
	} else {
		// filter [O, H, W, I] -> [O, I, H, W]
		perm = []int{0, 3, 1, 2}
		if wt, err = w.transposed(perm); err != nil {
			return err
		}
		if w.shape[3] != in[3] {
			if w.shape[3] <= 0 || in[3]%w.shape[3] != 0 {
				return fmt.Errorf("%w: filter %v for %d channels", refit.ErrFormat, w.shape, in[3])
			}
			group = in[3] / w.shape[3]
		}
		act = o.Int8(3, 0)
		dw, dh = int64(o.Int32(4, 1)), int64(o.Int32(5, 1))
	}
	sw, sh := int64(o.Int32(1, 1)), int64(o.Int32(2, 1))
	kh, kw := wt.shape[2], wt.shape[3]
	pads, err := spatialPads(o.Int8(0, 0) == 0, in, kh, kw, sh, sw, dh, dw)
	if err != nil {
		return err
	}
	wv, err := c.weight(op.Inputs[1], wt, perm, base+"_w")
	if err != nil {
		return err
	}
	inputs := []string{c.b.transpose(x, toNCHW), wv}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		bias, err := c.constIn(op, 2)
		if err != nil {
			return err
		}
		inputs = append(inputs, c.b.Float(base+"_b", []int64{int64(bias.len())}, bias.floats()))
	}
	y := c.b.Op("Conv", base+"_nchw", inputs, graph.IntsAttr("kernel_shape", []int64{kh, kw}),
		graph.IntsAttr("strides", []int64{sh, sw}), graph.IntsAttr("dilations", []int64{dh, dw}),
		graph.IntsAttr("pads", pads), graph.IntAttr("group", group))
	return c.set(op.Outputs[0], c.b.transpose(y, toNHWC), act)
}

func (c *tflConverter) fullyConnected(op tflite.Operator, base string) error {
	if len(op.Inputs) < 2 {
		return fmt.Errorf("%w: %d inputs", refit.ErrFormat, len(op.Inputs))
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
	if len(w.shape) != 2 || w.isInt {
		return fmt.Errorf("%w: weights of shape %v", refit.ErrFormat, w.shape)
	}
	n, k := w.shape[0], w.shape[1]
	if in := c.shapeOf(op.Inputs[0]); len(in) != 2 {
		x = c.b.Op("Reshape", base+"_flat", []string{x, c.b.IntData(base+"_flat_shape", elemInt64, []int64{2}, []int64{-1, k})})
	}
	wv, err := c.weight(op.Inputs[1], w, nil, base+"_w")
	if err != nil {
		return err
	}
	inputs := []string{x, wv}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		bias, err := c.constIn(op, 2)
		if err != nil {
			return err
		}
		inputs = append(inputs, c.b.Float(base+"_b", []int64{n}, bias.floats()))
	}
	y := c.b.Op("Gemm", base+"_gemm", inputs, graph.IntAttr("transB", 1))
	if shape := c.shapeOf(op.Outputs[0]); len(shape) != 2 && !slices.Contains(shape, -1) {
		y = c.b.Op("Reshape", base+"_shaped", []string{y, c.b.IntData(base+"_shape", elemInt64, []int64{int64(len(shape))}, shape)})
	}
	return c.set(op.Outputs[0], y, op.Options.Int8(0, 0))
}

func (c *tflConverter) pad(op tflite.Operator, base string) error {
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	p, err := c.constIn(op, 1)
	if err != nil {
		return err
	}
	pi := p.ints()
	if len(p.shape) != 2 || p.shape[1] != 2 || int64(len(pi)) != 2*p.shape[0] {
		return fmt.Errorf("%w: paddings of shape %v", refit.ErrFormat, p.shape)
	}
	rank := int(p.shape[0])
	pads := make([]int64, 2*rank)
	for i := range rank {
		pads[i], pads[rank+i] = pi[2*i], pi[2*i+1]
	}
	inputs := []string{x, c.b.IntData(base+"_pads", elemInt64, []int64{int64(len(pads))}, pads)}
	var attrs []*onnxpb.AttributeProto
	switch op.Op {
	case "PADV2":
		if len(op.Inputs) > 2 {
			v, err := c.constIn(op, 2)
			if err != nil {
				return err
			}
			inputs = append(inputs, c.b.Float(base+"_value", nil, v.floats()[:1]))
		}
	case "MIRROR_PAD":
		if op.Options.Int8(0, 0) != 0 {
			return unsupported("SYMMETRIC mirror padding")
		}
		attrs = append(attrs, graph.StringAttr("mode", "reflect"))
	}
	c.names[op.Outputs[0]] = c.b.Op("Pad", base, inputs, attrs...)
	return nil
}

func (c *tflConverter) stridedSlice(op tflite.Operator, base string) error {
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	var vals [3][]int64
	for k := range vals {
		v, err := c.constIn(op, k+1)
		if err != nil {
			return err
		}
		vals[k] = v.ints()
	}
	o := op.Options
	beginMask, endMask := o.Int32(0, 0), o.Int32(1, 0)
	if o.Int32(2, 0) != 0 || o.Int32(3, 0) != 0 || o.Bool(5) {
		return unsupported("ellipsis, new-axis or offset masks")
	}
	shrink := o.Int32(4, 0)
	starts, ends, axes, steps, _, err := stridedSlice(vals[0], vals[1], vals[2], int64(beginMask), int64(endMask), int64(shrink))
	if err != nil {
		return err
	}
	y := c.b.slice(base, x, starts, ends, axes, steps)
	if shrink != 0 {
		shape := c.shapeOf(op.Outputs[0])
		y = c.b.Op("Reshape", base, []string{y, c.b.IntData(base+"_shape", elemInt64, []int64{int64(len(shape))}, shape)})
	}
	c.names[op.Outputs[0]] = y
	return nil
}

func (c *tflConverter) resize(op tflite.Operator, base string) error {
	x, err := c.in(op, 0)
	if err != nil {
		return err
	}
	size, err := c.constIn(op, 1)
	if err != nil {
		return err
	}
	in := c.shapeOf(op.Inputs[0])
	hw := size.ints()
	if len(hw) != 2 || len(in) != 4 || in[0] < 0 || in[3] < 0 {
		return unsupported("resize of %v to %v", in, hw)
	}
	var alignCorners, halfPixel bool
	attrs := []*onnxpb.AttributeProto{}
	if op.Op == "RESIZE_BILINEAR" {
		alignCorners, halfPixel = op.Options.Bool(2), op.Options.Bool(3)
		attrs = append(attrs, graph.StringAttr("mode", "linear"))
		switch {
		case alignCorners:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "align_corners"))
		case halfPixel:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "half_pixel"))
		default:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "asymmetric"))
		}
	} else {
		alignCorners, halfPixel = op.Options.Bool(0), op.Options.Bool(1)
		attrs = append(attrs, graph.StringAttr("mode", "nearest"))
		switch {
		case alignCorners:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "align_corners"), graph.StringAttr("nearest_mode", "round_prefer_ceil"))
		case halfPixel:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "tf_half_pixel_for_nn"), graph.StringAttr("nearest_mode", "floor"))
		default:
			attrs = append(attrs, graph.StringAttr("coordinate_transformation_mode", "asymmetric"), graph.StringAttr("nearest_mode", "floor"))
		}
	}
	sizes := c.b.IntData(base+"_sizes", elemInt64, []int64{4}, []int64{in[0], in[3], hw[0], hw[1]})
	y := c.b.Op("Resize", base+"_nchw", []string{c.b.transpose(x, toNCHW), "", "", sizes}, attrs...)
	c.names[op.Outputs[0]] = c.b.transpose(y, toNHWC)
	return nil
}

// weight adds the constant weights of tensor i, already permuted to wt (float) by
// perm. Quantized int8/uint8 weights stay integers behind a DequantizeLinear with
// their scales (per channel along the permuted quantized dimension); others are
// float initializers.
func (c *tflConverter) weight(i int32, wt *cval, perm []int, base string) (string, error) {
	info, err := c.info(i)
	if err != nil {
		return "", err
	}
	q := info.Quantization
	if (info.Type != tflInt8 && info.Type != tflUint8) || q == nil || len(q.Scale) == 0 {
		return c.b.constant(base, wt), nil
	}
	raw, ok, err := c.constant(i, true)
	if err != nil {
		return "", err
	}
	if !ok || !raw.isInt {
		return c.b.constant(base, wt), nil
	}
	if perm != nil {
		if raw, err = raw.transposed(perm); err != nil {
			return "", err
		}
	}
	elem := int32(elemInt8)
	if info.Type == tflUint8 {
		elem = elemUint8
	}
	zps := q.ZeroPoint
	if len(zps) == 0 {
		zps = make([]int64, len(q.Scale))
	}
	if len(zps) != len(q.Scale) {
		return "", fmt.Errorf("%w: tensor %q has %d zero points for %d scales", refit.ErrFormat, info.Name, len(zps), len(q.Scale))
	}
	w := c.b.IntData(base+"_q", elem, raw.shape, raw.i)
	if len(q.Scale) == 1 {
		return c.b.Op("DequantizeLinear", base, []string{w, c.b.Float(base+"_scale", nil, q.Scale[:1]), c.b.IntData(base+"_zp", elem, nil, zps[:1])}), nil
	}
	axis := int(q.Dimension)
	if perm != nil {
		axis = slices.Index(perm, int(q.Dimension))
	}
	if axis < 0 || axis >= len(raw.shape) || raw.shape[axis] != int64(len(q.Scale)) {
		return "", fmt.Errorf("%w: tensor %q %v has %d scales along dimension %d", refit.ErrFormat, info.Name, info.Shape, len(q.Scale), q.Dimension)
	}
	n := []int64{int64(len(q.Scale))}
	return c.b.Op("DequantizeLinear", base, []string{w, c.b.Float(base+"_scale", n, q.Scale), c.b.IntData(base+"_zp", elem, n, zps)},
		graph.IntAttr("axis", int64(axis))), nil
}
