package onnx

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Summary describes a model for people (refit inspect): data only, the CLI prints it.
type Summary struct {
	IRVersion       int64
	Producer        string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	GraphName       string
	Opsets          []Opset
	Inputs          []Value // graph inputs that are not initializers
	Outputs         []Value
	Operators       []OpCount // every node, subgraphs and functions included; most used first
	Initializers    []Initializer
	Metadata        [][2]string // metadata_props in file order
	Nodes           int
	Functions       int
}

// Opset is one imported operator set.
type Opset struct {
	Domain  string // "ai.onnx" for the default domain
	Version int64
}

// Value is a graph input or output.
type Value struct {
	Name string
	Type string   // e.g. "tensor(float)", "seq(tensor(int64))"
	Dims []string // per dimension: a number, a symbolic name, or "?"; nil when unranked
}

// OpCount counts the nodes of one operator.
type OpCount struct {
	Domain string
	OpType string
	Count  int
}

// Initializer is one weight of the top-level graph.
type Initializer struct {
	Name     string
	Type     string // ONNX element type name, e.g. "FLOAT"
	Shape    []int64
	Bytes    int64  // data size, -1 when the type has no fixed size (strings)
	External string // external data file, "" when stored in the model
}

// Summary summarizes f's model.
func (f *File) Summary() *Summary { return Summarize(f.Proto) }

// Summarize describes mp.
func Summarize(mp *onnxpb.ModelProto) *Summary {
	g := mp.GetGraph()
	s := &Summary{
		IRVersion: mp.GetIrVersion(), Producer: mp.GetProducerName(), ProducerVersion: mp.GetProducerVersion(),
		Domain: mp.GetDomain(), ModelVersion: mp.GetModelVersion(), GraphName: g.GetName(),
		Nodes: len(g.GetNode()), Functions: len(mp.GetFunctions()),
	}
	for _, op := range mp.GetOpsetImport() {
		s.Opsets = append(s.Opsets, Opset{opsetDomain(op.GetDomain()), op.GetVersion()})
	}
	inits := map[string]bool{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = true
		in := Initializer{Name: tp.GetName(), Type: TypeName(tp.GetDataType()), Shape: tp.Dims, Bytes: -1}
		if d, err := DTypeOf(tp.GetDataType()); err == nil {
			if n, err := tensor.ByteSize(d, tensor.Shape(tp.Dims)); err == nil {
				in.Bytes = n
			}
		}
		if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
			in.External = "?"
			for _, kv := range tp.GetExternalData() {
				if kv.GetKey() == "location" {
					in.External = kv.GetValue()
				}
			}
		}
		s.Initializers = append(s.Initializers, in)
	}
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			s.Inputs = append(s.Inputs, valueOf(vi))
		}
	}
	for _, vi := range g.GetOutput() {
		s.Outputs = append(s.Outputs, valueOf(vi))
	}
	counts := map[[2]string]int{}
	var count func(nodes []*onnxpb.NodeProto)
	count = func(nodes []*onnxpb.NodeProto) {
		for _, n := range nodes {
			counts[[2]string{opsetDomain(n.GetDomain()), n.GetOpType()}]++
			for _, a := range n.Attribute {
				if a.G != nil {
					count(a.G.Node)
				}
				for _, sg := range a.Graphs {
					count(sg.Node)
				}
			}
		}
	}
	count(g.GetNode())
	for _, fn := range mp.GetFunctions() {
		count(fn.Node)
	}
	for k, c := range counts {
		s.Operators = append(s.Operators, OpCount{Domain: k[0], OpType: k[1], Count: c})
	}
	slices.SortFunc(s.Operators, func(a, b OpCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.OpType, b.OpType))
	})
	for _, kv := range mp.GetMetadataProps() {
		s.Metadata = append(s.Metadata, [2]string{kv.GetKey(), kv.GetValue()})
	}
	return s
}

func valueOf(vi *onnxpb.ValueInfoProto) Value {
	v := Value{Name: vi.GetName(), Type: TypeString(vi.GetType())}
	var shape *onnxpb.TensorShapeProto
	switch t := vi.GetType().GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		shape = t.TensorType.GetShape()
	case *onnxpb.TypeProto_SparseTensorType:
		shape = t.SparseTensorType.GetShape()
	}
	if shape != nil {
		v.Dims = make([]string, 0, len(shape.Dim))
		for _, d := range shape.Dim {
			switch x := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				v.Dims = append(v.Dims, strconv.FormatInt(x.DimValue, 10))
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				v.Dims = append(v.Dims, x.DimParam)
			default:
				v.Dims = append(v.Dims, "?")
			}
		}
	}
	return v
}

// TypeString writes a TypeProto the way ONNX tools print types: "tensor(float)",
// "seq(tensor(int64))", "map(string,tensor(float))", "optional(...)".
func TypeString(t *onnxpb.TypeProto) string {
	elem := func(e int32) string { return strings.ToLower(TypeName(e)) }
	switch v := t.GetValue().(type) {
	case *onnxpb.TypeProto_TensorType:
		return "tensor(" + elem(v.TensorType.GetElemType()) + ")"
	case *onnxpb.TypeProto_SparseTensorType:
		return "sparse_tensor(" + elem(v.SparseTensorType.GetElemType()) + ")"
	case *onnxpb.TypeProto_SequenceType:
		return "seq(" + TypeString(v.SequenceType.GetElemType()) + ")"
	case *onnxpb.TypeProto_MapType:
		return "map(" + elem(v.MapType.GetKeyType()) + "," + TypeString(v.MapType.GetValueType()) + ")"
	case *onnxpb.TypeProto_OptionalType:
		return "optional(" + TypeString(v.OptionalType.GetElemType()) + ")"
	case *onnxpb.TypeProto_OpaqueType:
		return fmt.Sprintf("opaque(%s,%s)", v.OpaqueType.GetDomain(), v.OpaqueType.GetName())
	}
	return "?"
}
