package runtime

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// Graph is the runtime's own form of an ONNX graph, decoded from the protobuf once at
// Load. Subgraphs (If, Loop, Scan bodies) are Graphs held in node attributes.
type Graph struct {
	Name         string
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	Initializers map[string]*Value
	Nodes        []*Node

	plan *plan // execution order and lifetimes, made by compile
}

// ValueInfo is a declared graph input or output.
type ValueInfo struct {
	Name  string
	DType tensor.DType // Invalid when not declared
	Dims  []Dim        // nil when the shape is not declared
	// HasShape tells a declared scalar (Dims empty) from an undeclared shape.
	HasShape bool
}

// Dim is one declared dimension: a fixed size, or a symbolic name, or unknown (Size -1).
type Dim struct {
	Size  int64
	Param string
}

// Node is one operator application.
type Node struct {
	Name    string
	OpType  string
	Domain  string // "" is the default ONNX domain ("ai.onnx")
	Inputs  []string
	Outputs []string
	Attrs   map[string]*Attr

	kernel Kernel
	opset  int64
	noFold bool
	prep   prepared // per-node state derived from constant inputs (prepared.go)
	relu   bool     // a Relu fused into the node's output (fuse.go)
	owner  *Graph   // the graph whose node list holds the node, set by compile
}

// label names the node in error messages: its name, else its first output.
func (n *Node) label() string {
	name := n.Name
	if name == "" && len(n.Outputs) > 0 {
		name = "output " + n.Outputs[0]
	}
	return fmt.Sprintf("node %q (%s)", name, n.OpType)
}

// AttrKind tells which field of an Attr is set.
type AttrKind int

// Attribute kinds, matching ONNX's AttributeProto.AttributeType.
const (
	AttrUndefined AttrKind = iota
	AttrFloat
	AttrInt
	AttrString
	AttrTensor
	AttrGraph
	AttrFloats
	AttrInts
	AttrStrings
	AttrTensors
	AttrGraphs
)

var attrKindNames = [...]string{"undefined", "float", "int", "string", "tensor", "graph", "floats", "ints", "strings", "tensors", "graphs"}

func (k AttrKind) String() string {
	if int(k) < len(attrKindNames) {
		return attrKindNames[k]
	}
	return fmt.Sprintf("AttrKind(%d)", int(k))
}

// Attr is one node attribute.
type Attr struct {
	Name    string
	Kind    AttrKind
	Float   float32
	Int     int64
	String  string
	Tensor  *Value
	Graph   *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Value
	Graphs  []*Graph
}
