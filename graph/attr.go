package graph

import (
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// Attr returns the attribute of n called name, or nil.
func Attr(n *onnxpb.NodeProto, name string) *onnxpb.AttributeProto {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// Int returns the integer attribute name of n, or def when n has none.
func Int(n *onnxpb.NodeProto, name string, def int64) int64 {
	if a := Attr(n, name); a != nil {
		return a.GetI()
	}
	return def
}

// Float returns the float attribute name of n, or def when n has none.
func Float(n *onnxpb.NodeProto, name string, def float32) float32 {
	if a := Attr(n, name); a != nil {
		return a.GetF()
	}
	return def
}

// Ints returns the integer list attribute name of n, or def when n has none.
// The result aliases the node's list.
func Ints(n *onnxpb.NodeProto, name string, def []int64) []int64 {
	if a := Attr(n, name); a != nil {
		return a.GetInts()
	}
	return def
}

// Floats returns the float list attribute name of n, or def when n has none.
func Floats(n *onnxpb.NodeProto, name string, def []float32) []float32 {
	if a := Attr(n, name); a != nil {
		return a.GetFloats()
	}
	return def
}

// String returns the string attribute name of n, or def when n has none.
func String(n *onnxpb.NodeProto, name, def string) string {
	if a := Attr(n, name); a != nil {
		return string(a.GetS())
	}
	return def
}

// Tensor returns the tensor attribute name of n, or nil.
func Tensor(n *onnxpb.NodeProto, name string) *onnxpb.TensorProto {
	return Attr(n, name).GetT()
}

// Graph returns the graph attribute name of n, or nil.
func Graph(n *onnxpb.NodeProto, name string) *onnxpb.GraphProto {
	return Attr(n, name).GetG()
}

// Subgraphs returns every graph held by n's attributes (If branches, Loop and Scan
// bodies), in attribute order.
func Subgraphs(n *onnxpb.NodeProto) []*onnxpb.GraphProto {
	var out []*onnxpb.GraphProto
	for _, a := range n.GetAttribute() {
		if a.G != nil {
			out = append(out, a.G)
		}
		out = append(out, a.Graphs...)
	}
	return out
}

// IntAttr makes an INT attribute.
func IntAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

// FloatAttr makes a FLOAT attribute.
func FloatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// IntsAttr makes an INTS attribute holding a copy of v.
func IntsAttr(name string, v []int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: slices.Clone(v)}
}

// FloatsAttr makes a FLOATS attribute holding a copy of v.
func FloatsAttr(name string, v []float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: slices.Clone(v)}
}

// StringAttr makes a STRING attribute.
func StringAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

// StringsAttr makes a STRINGS attribute.
func StringsAttr(name string, v []string) *onnxpb.AttributeProto {
	s := make([][]byte, len(v))
	for i := range v {
		s[i] = []byte(v[i])
	}
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRINGS.Enum(), Strings: s}
}

// TensorAttr makes a TENSOR attribute.
func TensorAttr(name string, t *onnxpb.TensorProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: t}
}

// GraphAttr makes a GRAPH attribute.
func GraphAttr(name string, g *onnxpb.GraphProto) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_GRAPH.Enum(), G: g}
}

// SetAttr replaces n's attribute called a.Name with a, or appends a.
func SetAttr(n *onnxpb.NodeProto, a *onnxpb.AttributeProto) {
	for i, x := range n.Attribute {
		if x.GetName() == a.GetName() {
			n.Attribute[i] = a
			return
		}
	}
	n.Attribute = append(n.Attribute, a)
}

// SetInt sets n's integer attribute name to v.
func SetInt(n *onnxpb.NodeProto, name string, v int64) { SetAttr(n, IntAttr(name, v)) }

// SetFloat sets n's float attribute name to v.
func SetFloat(n *onnxpb.NodeProto, name string, v float32) { SetAttr(n, FloatAttr(name, v)) }

// SetInts sets n's integer list attribute name to a copy of v.
func SetInts(n *onnxpb.NodeProto, name string, v []int64) { SetAttr(n, IntsAttr(name, v)) }

// SetFloats sets n's float list attribute name to a copy of v.
func SetFloats(n *onnxpb.NodeProto, name string, v []float32) { SetAttr(n, FloatsAttr(name, v)) }

// SetString sets n's string attribute name to v.
func SetString(n *onnxpb.NodeProto, name, v string) { SetAttr(n, StringAttr(name, v)) }

// SetTensor sets n's tensor attribute name to t.
func SetTensor(n *onnxpb.NodeProto, name string, t *onnxpb.TensorProto) {
	SetAttr(n, TensorAttr(name, t))
}

// SetGraph sets n's graph attribute name to g.
func SetGraph(n *onnxpb.NodeProto, name string, g *onnxpb.GraphProto) { SetAttr(n, GraphAttr(name, g)) }

// IsDefaultDomain reports whether n is an operator of the standard ONNX domain.
func IsDefaultDomain(n *onnxpb.NodeProto) bool {
	d := n.GetDomain()
	return d == "" || d == "ai.onnx"
}

// DeleteAttrs removes n's attributes with these names. It does not write to the old
// attribute list, which a shallow copy of n may share.
func DeleteAttrs(n *onnxpb.NodeProto, names ...string) {
	var kept []*onnxpb.AttributeProto
	for _, a := range n.Attribute {
		if !slices.Contains(names, a.GetName()) {
			kept = append(kept, a)
		}
	}
	n.Attribute = kept
}

// NodeName names n for messages: its name, else "OpType->first output", else its
// operator.
func NodeName(n *onnxpb.NodeProto) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	if len(n.GetOutput()) > 0 {
		return n.GetOpType() + "->" + n.GetOutput()[0]
	}
	return n.GetOpType()
}
