package half

import (
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Element types the rules name.
const (
	i32     = int32(onnxpb.TensorProto_INT32)
	i64     = int32(onnxpb.TensorProto_INT64)
	u8      = int32(onnxpb.TensorProto_UINT8)
	boolean = int32(onnxpb.TensorProto_BOOL)
	str     = int32(onnxpb.TensorProto_STRING)
)

// inferTypes records in s.types the element type of every value g defines: declared
// types first (inputs, initializers, value_info, outputs), then per-operator rules
// in node order. Values it cannot type stay unknown.
func inferTypes(g *onnxpb.GraphProto, s *scope) {
	declare := func(vs []*onnxpb.ValueInfoProto) {
		for _, v := range vs {
			if tt := tensorType(v.GetType()); tt != nil && tt.GetElemType() != 0 {
				s.types[v.GetName()] = tt.GetElemType()
			}
		}
	}
	declare(g.Input)
	for _, tp := range g.Initializer {
		s.types[tp.GetName()] = tp.GetDataType()
	}
	declare(g.ValueInfo)
	declare(g.Output)
	for _, n := range g.Node {
		outs := nodeTypes(n, s)
		for i, o := range n.Output {
			if o == "" {
				continue
			}
			if _, ok := s.types[o]; ok {
				continue // declared
			}
			if i < len(outs) && outs[i] != unknown {
				s.types[o] = outs[i]
			}
		}
	}
}

// nodeTypes infers the element types of n's outputs from its inputs and attributes.
func nodeTypes(n *onnxpb.NodeProto, s *scope) []int32 {
	in := func(i int) int32 {
		if i < len(n.Input) && n.Input[i] != "" {
			return s.typeOf(n.Input[i])
		}
		return unknown
	}
	all := func(t int32) []int32 {
		out := make([]int32, len(n.Output))
		for i := range out {
			out[i] = t
		}
		return out
	}
	attrType := func(name string, def int32) int32 {
		if a := graph.Attr(n, name); a != nil {
			return int32(a.GetI())
		}
		return def
	}
	first := unknown
	for i := range n.Input {
		if t := in(i); t != unknown {
			first = t
			break
		}
	}
	if !graph.IsDefaultDomain(n) {
		// Schemas of other domains are unknown here: their outputs are taken to have
		// their first typed input's type (a declared value_info overrides this).
		return all(first)
	}
	switch n.GetOpType() {
	case "Shape", "Size", "NonZero", "ArgMax", "ArgMin", "NonMaxSuppression", "SequenceLength":
		return all(i64)
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not",
		"IsNaN", "IsInf", "OptionalHasElement", "RegexFullMatch":
		return all(boolean)
	case "Cast":
		return all(castTo(n))
	case "CastLike", "Where", "DequantizeLinear":
		return all(in(1))
	case "OneHot":
		return all(in(2))
	case "QuantizeLinear":
		if t := in(2); t != unknown {
			return all(t)
		}
		return all(attrType("output_dtype", u8))
	case "DynamicQuantizeLinear":
		return []int32{u8, f32, u8}
	case "MatMulInteger", "ConvInteger":
		return all(i32)
	case "QLinearConv", "QLinearMatMul":
		return all(nonFloat)
	case "Constant":
		return all(constantType(n))
	case "ConstantOfShape":
		if v := graph.Tensor(n, "value"); v != nil {
			return all(v.GetDataType())
		}
		return all(f32)
	case "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli":
		return all(attrType("dtype", in(0)))
	case "RandomNormal", "RandomUniform", "SequenceEmpty":
		return all(attrType("dtype", f32))
	case "Multinomial":
		return all(attrType("dtype", i32))
	case "HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix":
		return all(attrType("output_datatype", f32))
	case "TfIdfVectorizer":
		return all(f32)
	case "StringSplit":
		return []int32{str, i64}
	case "TopK", "MaxPool", "Unique":
		out := all(i64)
		if len(out) > 0 {
			out[0] = in(0)
		}
		return out
	case "If":
		return subgraphOutputs(graph.Graph(n, "then_branch"), s, 0)
	case "Loop":
		return subgraphOutputs(graph.Graph(n, "body"), s, 1)
	case "Scan":
		return subgraphOutputs(graph.Graph(n, "body"), s, 0)
	}
	return all(first)
}

// subgraphOutputs infers a body's output types (from skip on) in a scope nested in s.
func subgraphOutputs(g *onnxpb.GraphProto, s *scope, skip int) []int32 {
	if g == nil {
		return nil
	}
	all, ok := s.bodies[g]
	if !ok {
		sub := &scope{parent: s, types: map[string]int32{}, bodies: s.bodies}
		inferTypes(g, sub)
		for _, o := range g.Output {
			all = append(all, sub.typeOf(o.GetName()))
		}
		s.bodies[g] = all
	}
	if skip > len(all) {
		return nil
	}
	return all[skip:]
}

func constantType(n *onnxpb.NodeProto) int32 {
	switch {
	case graph.Tensor(n, "value") != nil:
		return graph.Tensor(n, "value").GetDataType()
	case graph.Attr(n, "value_float") != nil, graph.Attr(n, "value_floats") != nil:
		return f32
	case graph.Attr(n, "value_int") != nil, graph.Attr(n, "value_ints") != nil:
		return i64
	case graph.Attr(n, "value_string") != nil, graph.Attr(n, "value_strings") != nil:
		return str
	}
	return unknown
}

// castTo is the element type a Cast node converts to: an int attribute, or before
// opset 6 a type name such as "FLOAT".
func castTo(n *onnxpb.NodeProto) int32 {
	a := graph.Attr(n, "to")
	if a == nil {
		return unknown
	}
	if a.GetType() == onnxpb.AttributeProto_STRING {
		return onnxpb.TensorProto_DataType_value[string(a.GetS())]
	}
	return int32(a.GetI())
}
