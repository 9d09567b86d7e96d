package graph

import (
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// Builder accumulates a new graph. The zero value is ready; every name it makes
// comes from Names.
type Builder struct {
	Names        Names
	Nodes        []*onnxpb.NodeProto
	Initializers []*onnxpb.TensorProto
	Inputs       []*onnxpb.ValueInfoProto
	Outputs      []*onnxpb.ValueInfoProto
}

// Node appends a node with exactly these names (name "" leaves it unnamed) and
// reserves them.
func (b *Builder) Node(opType, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := NewNode(opType, name, inputs, outputs, attrs...)
	b.Names.Reserve(name)
	for _, o := range outputs {
		b.Names.Reserve(o)
	}
	b.Nodes = append(b.Nodes, n)
	return n
}

// Op appends a node with one output, a fresh name derived from base that names both
// the node and its output, and returns the output's name.
func (b *Builder) Op(opType, base string, inputs []string, attrs ...*onnxpb.AttributeProto) string {
	out := b.Names.Fresh(base)
	b.Node(opType, out, inputs, []string{out}, attrs...)
	return out
}

// OpN appends a node with len(want) outputs: output i gets the fresh name
// base_out<i> when want[i], else it is omitted (""; trailing omitted outputs are left
// off the node). The node is named Fresh(base). It returns the output names.
func (b *Builder) OpN(opType, base string, inputs []string, want []bool, attrs ...*onnxpb.AttributeProto) []string {
	names := make([]string, len(want))
	for i, w := range want {
		if w {
			names[i] = b.Names.Fresh(base + "_out" + strconv.Itoa(i))
		}
	}
	outs := names
	for len(outs) > 0 && outs[len(outs)-1] == "" {
		outs = outs[:len(outs)-1]
	}
	b.Node(opType, b.Names.Fresh(base), inputs, outs, attrs...)
	return names
}

// Initializer appends tp, reserves its name and returns it.
func (b *Builder) Initializer(tp *onnxpb.TensorProto) string {
	b.Names.Reserve(tp.GetName())
	b.Initializers = append(b.Initializers, tp)
	return tp.GetName()
}

// Float adds a float32 initializer named Fresh(base).
func (b *Builder) Float(base string, dims []int64, v []float32) string {
	return b.Initializer(FloatTensor(b.Names.Fresh(base), dims, v))
}

// Int64 adds an int64 initializer named Fresh(base).
func (b *Builder) Int64(base string, dims []int64, v []int64) string {
	return b.Initializer(Int64Tensor(b.Names.Fresh(base), dims, v))
}

// Int32 adds an int32 initializer named Fresh(base).
func (b *Builder) Int32(base string, dims []int64, v []int32) string {
	return b.Initializer(Int32Tensor(b.Names.Fresh(base), dims, v))
}

// IntData adds an integer initializer of element type elem named Fresh(base), its
// values in the typed fields (see IntTensor).
func (b *Builder) IntData(base string, elem int32, dims []int64, v []int64) string {
	return b.Initializer(IntTensor(b.Names.Fresh(base), elem, dims, v))
}

// Raw adds an initializer of element type elem holding raw bytes, named Fresh(base).
func (b *Builder) Raw(base string, elem int32, dims []int64, raw []byte) string {
	return b.Initializer(RawTensor(b.Names.Fresh(base), elem, dims, raw))
}

// Input declares a graph input and reserves its name.
func (b *Builder) Input(vi *onnxpb.ValueInfoProto) {
	b.Names.Reserve(vi.GetName())
	b.Inputs = append(b.Inputs, vi)
}

// Output declares a graph output.
func (b *Builder) Output(vi *onnxpb.ValueInfoProto) {
	b.Outputs = append(b.Outputs, vi)
}

// Graph assembles the graph built so far.
func (b *Builder) Graph(name string) *onnxpb.GraphProto {
	return &onnxpb.GraphProto{Name: proto.String(name), Node: b.Nodes, Initializer: b.Initializers,
		Input: b.Inputs, Output: b.Outputs}
}

// Model wraps g in a model of IR version 8 importing the default domain at opset;
// producer "" leaves the producer name unset.
func Model(g *onnxpb.GraphProto, producer string, opset int64) *onnxpb.ModelProto {
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph:       g,
	}
	if producer != "" {
		mp.ProducerName = proto.String(producer)
	}
	return mp
}

// NewNode makes a node with exactly these names; name "" leaves it unnamed.
func NewNode(opType, name string, inputs, outputs []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{OpType: proto.String(opType), Input: inputs, Output: outputs, Attribute: attrs}
	if name != "" {
		n.Name = proto.String(name)
	}
	return n
}

// SetDomain puts n in operator domain d ("" is the default domain).
func SetDomain(n *onnxpb.NodeProto, d string) { n.Domain = proto.String(d) }

// SetOpType changes n's operator.
func SetOpType(n *onnxpb.NodeProto, op string) { n.OpType = proto.String(op) }

// SetInput makes input slot i of n read name, adding omitted ("") inputs before it
// when n has fewer than i+1.
func SetInput(n *onnxpb.NodeProto, i int, name string) {
	for len(n.Input) <= i {
		n.Input = append(n.Input, "")
	}
	n.Input[i] = name
}

// SetInputs replaces n's inputs with a copy of names.
func SetInputs(n *onnxpb.NodeProto, names ...string) { n.Input = slices.Clone(names) }

// SetOutput makes output slot i of n write name, adding omitted ("") outputs before
// it when n has fewer than i+1.
func SetOutput(n *onnxpb.NodeProto, i int, name string) {
	for len(n.Output) <= i {
		n.Output = append(n.Output, "")
	}
	n.Output[i] = name
}
