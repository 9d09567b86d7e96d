package tf2onnx

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Opset is the ONNX default-domain opset of converted graphs (HardSwish needs 14;
// Reduce* still take axes as attributes).
const Opset = 14

// ONNX element types.
const (
	elemFloat = 1
	elemUint8 = 2
	elemInt8  = 3
	elemInt32 = 6
	elemInt64 = 7
)

// Options control a conversion. The zero value converts with defaults.
type Options struct {
	// Raw skips the cleanup passes (transpose fusion, identity and dead-node removal).
	Raw bool
}

// UnsupportedError lists the operators a model uses that have no conversion, with
// how often each occurs. It wraps refit.ErrUnsupported.
type UnsupportedError struct {
	Source string         // "tflite" or "tfjs"
	Ops    map[string]int // operator name -> occurrences
}

func (e *UnsupportedError) Error() string {
	names := slices.Sorted(maps.Keys(e.Ops))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s x%d", n, e.Ops[n])
	}
	return fmt.Sprintf("tf2onnx: %s operators without an ONNX conversion: %s", e.Source, strings.Join(parts, ", "))
}

// Unwrap makes errors.Is(err, refit.ErrUnsupported) hold.
func (e *UnsupportedError) Unwrap() error { return refit.ErrUnsupported }

// errOp marks an operator instance that cannot be converted; the converter collects
// them into an UnsupportedError under name.
type errOp struct{ name string }

func (e *errOp) Error() string { return "unsupported " + e.name }

func unsupported(format string, args ...any) error { return &errOp{fmt.Sprintf(format, args...)} }

func isUnsupported(err error) (string, bool) {
	var e *errOp
	if errors.As(err, &e) {
		return e.name, true
	}
	return "", false
}

// cval is a constant known at conversion time: float32 or integer data in row-major order.
type cval struct {
	shape []int64
	f     []float32
	i     []int64
	isInt bool
}

func (c *cval) len() int {
	if c.isInt {
		return len(c.i)
	}
	return len(c.f)
}

// ints returns the constant as integers (floats truncated).
func (c *cval) ints() []int64 {
	if c.isInt {
		return c.i
	}
	out := make([]int64, len(c.f))
	for i, v := range c.f {
		out[i] = int64(v)
	}
	return out
}

// floats returns the constant as float32.
func (c *cval) floats() []float32 {
	if !c.isInt {
		return c.f
	}
	out := make([]float32, len(c.i))
	for i, v := range c.i {
		out[i] = float32(v)
	}
	return out
}

// transposed returns c with axes permuted by perm.
func (c *cval) transposed(perm []int) (*cval, error) {
	if len(perm) != len(c.shape) {
		return nil, fmt.Errorf("transposing a rank-%d constant with %v", len(c.shape), perm)
	}
	n := len(c.shape)
	out := &cval{shape: make([]int64, n), isInt: c.isInt}
	for i, p := range perm {
		out.shape[i] = c.shape[p]
	}
	inStride := make([]int64, n)
	s := int64(1)
	for i := n - 1; i >= 0; i-- {
		inStride[i] = s
		s *= c.shape[i]
	}
	if s != int64(c.len()) {
		return nil, fmt.Errorf("constant of shape %v has %d values", c.shape, c.len())
	}
	total := int(s)
	if c.isInt {
		out.i = make([]int64, total)
	} else {
		out.f = make([]float32, total)
	}
	idx := make([]int64, n)
	for o := 0; o < total; o++ {
		src := int64(0)
		for i := range n {
			src += idx[i] * inStride[perm[i]]
		}
		if c.isInt {
			out.i[o] = c.i[src]
		} else {
			out.f[o] = c.f[src]
		}
		for i := n - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < out.shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// cvalFromTensor reads a tensor's values as a constant. Float types become float32,
// integer types int64.
func cvalFromTensor(t *tensor.Tensor) (*cval, error) {
	shape := slices.Clone([]int64(t.Shape))
	switch t.DType {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.F64:
		f, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		return &cval{shape: shape, f: f}, nil
	case tensor.I32, tensor.I64, tensor.I8, tensor.U8, tensor.I16, tensor.U16, tensor.U32, tensor.Bool:
		b, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		n := int(t.NumElements())
		es := t.DType.TypeSize()
		if len(b) != n*es {
			return nil, fmt.Errorf("tensor %q: %d bytes for %d values", t.Name, len(b), n)
		}
		out := make([]int64, n)
		for i := range out {
			p := b[i*es:]
			switch t.DType {
			case tensor.I32:
				out[i] = int64(int32(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24))
			case tensor.U32:
				out[i] = int64(uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24)
			case tensor.I64:
				var v uint64
				for k := 7; k >= 0; k-- {
					v = v<<8 | uint64(p[k])
				}
				out[i] = int64(v)
			case tensor.I8:
				out[i] = int64(int8(p[0]))
			case tensor.U8, tensor.Bool:
				out[i] = int64(p[0])
			case tensor.I16:
				out[i] = int64(int16(uint16(p[0]) | uint16(p[1])<<8))
			case tensor.U16:
				out[i] = int64(uint16(p[0]) | uint16(p[1])<<8)
			}
		}
		return &cval{shape: shape, i: out, isInt: true}, nil
	}
	return nil, unsupported("constant of type %v", t.DType)
}

// builder accumulates an ONNX graph.
type builder struct {
	nodes   []*onnxpb.NodeProto
	inits   []*onnxpb.TensorProto
	inputs  []*onnxpb.ValueInfoProto
	outputs []*onnxpb.ValueInfoProto
	used    map[string]bool
}

func newBuilder() *builder { return &builder{used: map[string]bool{}} }

// fresh returns an unused name derived from base.
func (b *builder) fresh(base string) string {
	base = strings.NewReplacer(":", "_", " ", "_").Replace(base)
	if base == "" {
		base = "t"
	}
	name := base
	for i := 1; b.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	b.used[name] = true
	return name
}

// op adds a node with one output named after base and returns the output name.
func (b *builder) op(opType, base string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	out := b.fresh(base)
	b.opTo(opType, out, inputs, attrs...)
	return out
}

// opTo adds a node writing the given output name.
func (b *builder) opTo(opType, out string, inputs []string, attrs ...*onnxpb.AttributeProto) {
	b.nodes = append(b.nodes, &onnxpb.NodeProto{OpType: proto.String(opType), Name: proto.String(out),
		Input: inputs, Output: []string{out}, Attribute: attrs})
}

func (b *builder) constFloat(base string, shape []int64, data []float32) string {
	name := b.fresh(base)
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		u := math.Float32bits(v)
		raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	b.inits = append(b.inits, &onnxpb.TensorProto{Name: proto.String(name), Dims: slices.Clone(shape),
		DataType: proto.Int32(elemFloat), RawData: raw})
	return name
}

func (b *builder) constInt64(base string, shape []int64, data []int64) string {
	name := b.fresh(base)
	b.inits = append(b.inits, &onnxpb.TensorProto{Name: proto.String(name), Dims: slices.Clone(shape),
		DataType: proto.Int32(elemInt64), Int64Data: slices.Clone(data)})
	return name
}

// constTyped adds an integer initializer of ONNX type elem (int8, uint8, int32, int64).
func (b *builder) constTyped(base string, elem int32, shape []int64, data []int64) string {
	if elem == elemInt64 {
		return b.constInt64(base, shape, data)
	}
	name := b.fresh(base)
	tp := &onnxpb.TensorProto{Name: proto.String(name), Dims: slices.Clone(shape), DataType: proto.Int32(elem)}
	for _, v := range data {
		tp.Int32Data = append(tp.Int32Data, int32(v))
	}
	b.inits = append(b.inits, tp)
	return name
}

// constant adds c as an initializer (float32 or int64).
func (b *builder) constant(base string, c *cval) string {
	if c.isInt {
		return b.constInt64(base, c.shape, c.i)
	}
	return b.constFloat(base, c.shape, c.f)
}

func (b *builder) input(name string, elem int32, shape []int64) {
	b.used[name] = true
	b.inputs = append(b.inputs, valueInfo(name, elem, shape))
}

func (b *builder) output(name string, elem int32, shape []int64) {
	b.outputs = append(b.outputs, valueInfo(name, elem, shape))
}

func valueInfo(name string, elem int32, shape []int64) *onnxpb.ValueInfoProto {
	ts := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem)}
	if shape != nil {
		ts.Shape = &onnxpb.TensorShapeProto{}
		for _, d := range shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			} else {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
			}
			ts.Shape.Dim = append(ts.Shape.Dim, dim)
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: ts}}}
}

func (b *builder) model(graphName, producer string) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("refit tf2onnx (" + producer + ")"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		Graph: &onnxpb.GraphProto{Name: proto.String(graphName), Node: b.nodes, Initializer: b.inits,
			Input: b.inputs, Output: b.outputs},
	}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInts(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: slices.Clone(v)}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func attrString(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// Layout permutations between TensorFlow's NHWC and ONNX's NCHW.
var (
	toNCHW = []int64{0, 3, 1, 2}
	toNHWC = []int64{0, 2, 3, 1}
)

func (b *builder) transpose(x string, perm []int64) string {
	return b.op("Transpose", x+"_t", []string{x}, attrInts("perm", perm))
}

// activation applies a fused activation by name ("" or "NONE" for none).
func (b *builder) activation(x, kind, base string) (string, error) {
	switch kind {
	case "", "NONE", "Identity":
		return x, nil
	case "RELU", "Relu":
		return b.op("Relu", base, []string{x}), nil
	case "RELU6", "Relu6":
		return b.clip(x, 0, 6, base), nil
	case "RELU_N1_TO_1":
		return b.clip(x, -1, 1, base), nil
	case "TANH", "Tanh":
		return b.op("Tanh", base, []string{x}), nil
	case "Sigmoid":
		return b.op("Sigmoid", base, []string{x}), nil
	case "Elu":
		return b.op("Elu", base, []string{x}), nil
	}
	return "", unsupported("fused activation %s", kind)
}

func (b *builder) clip(x string, lo, hi float32, base string) string {
	return b.op("Clip", base, []string{x, b.constFloat(base+"_min", nil, []float32{lo}), b.constFloat(base+"_max", nil, []float32{hi})})
}

// samePads returns TensorFlow's SAME padding (begin, end) for one spatial dim.
func samePads(in, k, stride, dilation int64) (int64, int64) {
	if stride < 1 {
		stride = 1
	}
	if dilation < 1 {
		dilation = 1
	}
	out := (in + stride - 1) / stride
	eff := (k-1)*dilation + 1
	total := max((out-1)*stride+eff-in, 0)
	return total / 2, total - total/2
}

// spatialPads returns ONNX pads [top, left, bottom, right] for NHWC input shape in.
func spatialPads(same bool, in []int64, kh, kw, sh, sw, dh, dw int64) ([]int64, error) {
	if !same {
		return []int64{0, 0, 0, 0}, nil
	}
	if len(in) != 4 || in[1] < 0 || in[2] < 0 {
		return nil, unsupported("SAME padding on input of unknown shape %v", in)
	}
	t, bm := samePads(in[1], kh, sh, dh)
	l, r := samePads(in[2], kw, sw, dw)
	return []int64{t, l, bm, r}, nil
}
