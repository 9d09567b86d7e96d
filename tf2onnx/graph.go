package tf2onnx

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// Opset is the ONNX default-domain opset of converted graphs (HardSwish needs 14;
// Reduce* still take axes as attributes).
const Opset = 14

// ONNX element types.
const (
	elemFloat = graph.ElemFloat
	elemUint8 = graph.ElemUint8
	elemInt8  = graph.ElemInt8
	elemInt32 = graph.ElemInt32
	elemInt64 = graph.ElemInt64
)

// Options control a conversion. The zero value converts with defaults.
type Options struct {
	// Raw skips the cleanup passes (transpose fusion, identity and dead-node removal).
	Raw bool
}

// errOp marks an operator instance that cannot be converted; the converter collects
// them into a graph.UnsupportedError under name.
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

// builder accumulates an ONNX graph; names are cleaned of ':' and ' ', which
// TensorFlow names carry.
type builder struct {
	graph.Builder
}

var nameCleaner = strings.NewReplacer(":", "_", " ", "_")

func newBuilder() *builder {
	b := &builder{}
	b.Names.Clean = func(base string) string {
		if base = nameCleaner.Replace(base); base == "" {
			return "t"
		}
		return base
	}
	return b
}

// constant adds c as an initializer (float32 or int64).
func (b *builder) constant(base string, c *cval) string {
	if c.isInt {
		return b.IntData(base, elemInt64, c.shape, c.i)
	}
	return b.Float(base, c.shape, c.f)
}

// valueInfo describes a graph input or output. An unknown first dimension is the
// batch "N"; the other unknown ones stay anonymous, since one shared name would tell
// shape inference that an image's height equals its width.
func valueInfo(name string, elem int32, shape []int64) *onnxpb.ValueInfoProto {
	return graph.ValueInfo(name, elem, shape, func(axis int) string {
		if axis == 0 {
			return "N"
		}
		return ""
	})
}

func (b *builder) model(graphName, producer string) *onnxpb.ModelProto {
	return graph.Model(b.Graph(graphName), "refit tf2onnx ("+producer+")", Opset)
}

// Layout permutations between TensorFlow's NHWC and ONNX's NCHW.
var (
	toNCHW = []int64{0, 3, 1, 2}
	toNHWC = []int64{0, 2, 3, 1}
)

func (b *builder) transpose(x string, perm []int64) string {
	return b.Op("Transpose", x+"_t", []string{x}, graph.IntsAttr("perm", perm))
}

// activation applies a fused activation by name ("" or "NONE" for none).
func (b *builder) activation(x, kind, base string) (string, error) {
	switch kind {
	case "", "NONE", "Identity":
		return x, nil
	case "RELU", "Relu":
		return b.Op("Relu", base, []string{x}), nil
	case "RELU6", "Relu6":
		return b.clip(x, 0, 6, base), nil
	case "RELU_N1_TO_1":
		return b.clip(x, -1, 1, base), nil
	case "TANH", "Tanh":
		return b.Op("Tanh", base, []string{x}), nil
	case "Sigmoid":
		return b.Op("Sigmoid", base, []string{x}), nil
	case "Elu":
		return b.Op("Elu", base, []string{x}), nil
	}
	return "", unsupported("fused activation %s", kind)
}

func (b *builder) clip(x string, lo, hi float32, base string) string {
	return b.Op("Clip", base, []string{x, b.Float(base+"_min", nil, []float32{lo}), b.Float(base+"_max", nil, []float32{hi})})
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

// stridedSlice turns TensorFlow StridedSlice bounds, strides and masks into the
// inputs of an ONNX Slice over the leading len(begin) axes, and lists the axes the
// shrink mask removes. Its arguments are not modified.
func stridedSlice(begin, end, strides []int64, beginMask, endMask, shrink int64) (starts, ends, axes, steps, squeeze []int64, err error) {
	n := len(begin)
	if len(end) != n || len(strides) != n {
		return nil, nil, nil, nil, nil, fmt.Errorf("%w: begin %v, end %v, strides %v", refit.ErrFormat, begin, end, strides)
	}
	starts, ends, steps = slices.Clone(begin), slices.Clone(end), slices.Clone(strides)
	axes = make([]int64, n)
	for i := range n {
		axes[i] = int64(i)
		if steps[i] == 0 {
			return nil, nil, nil, nil, nil, fmt.Errorf("%w: stride 0", refit.ErrFormat)
		}
		if beginMask&(1<<i) != 0 {
			starts[i] = 0
			if steps[i] < 0 {
				starts[i] = math.MaxInt64
			}
		}
		if endMask&(1<<i) != 0 {
			ends[i] = math.MaxInt64
			if steps[i] < 0 {
				ends[i] = math.MinInt64
			}
		}
		if shrink&(1<<i) != 0 {
			ends[i] = starts[i] + 1
			if starts[i] == -1 {
				ends[i] = math.MaxInt64
			}
			steps[i] = 1
			squeeze = append(squeeze, int64(i))
		}
	}
	return starts, ends, axes, steps, squeeze, nil
}

// slice adds an ONNX Slice of x with constant starts, ends, axes and steps.
func (b *builder) slice(base, x string, starts, ends, axes, steps []int64) string {
	s1 := []int64{int64(len(starts))}
	return b.Op("Slice", base+"_slice", []string{x, b.IntData(base+"_starts", elemInt64, s1, starts),
		b.IntData(base+"_ends", elemInt64, s1, ends), b.IntData(base+"_axes", elemInt64, s1, axes), b.IntData(base+"_steps", elemInt64, s1, steps)})
}
