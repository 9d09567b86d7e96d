package onnxq

import (
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// ONNX TensorProto data type codes used here.
const (
	onnxFloat = 1
	onnxUint8 = 2
	onnxInt8  = 3
	onnxInt32 = 6
)

// graphEditor rewrites one graph: it knows initializers, producers, consumers and
// every name in use, so fresh names never collide.
type graphEditor struct {
	g        *onnxpb.GraphProto
	inits    map[string]*onnxpb.TensorProto
	names    map[string]bool
	producer map[string]*onnxpb.NodeProto
	uses     map[string]int // consumer count, graph outputs included
	graphOut map[string]bool
	newNodes map[*onnxpb.NodeProto][]*onnxpb.NodeProto // inserted before a node
	replaced map[*onnxpb.NodeProto][]*onnxpb.NodeProto // node -> its replacement
}

func newGraphEditor(g *onnxpb.GraphProto) *graphEditor {
	e := &graphEditor{g: g, inits: map[string]*onnxpb.TensorProto{}, names: map[string]bool{},
		producer: map[string]*onnxpb.NodeProto{}, uses: map[string]int{}, graphOut: map[string]bool{},
		newNodes: map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}, replaced: map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}}
	for _, t := range g.GetInitializer() {
		e.inits[t.GetName()] = t
		e.names[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		e.names[vi.GetName()] = true
	}
	for _, vi := range g.GetOutput() {
		e.graphOut[vi.GetName()] = true
		e.uses[vi.GetName()]++
	}
	for _, n := range g.GetNode() {
		e.names[n.GetName()] = true
		for _, in := range n.GetInput() {
			e.uses[in]++
		}
		for _, out := range n.GetOutput() {
			e.names[out] = true
			e.producer[out] = n
		}
	}
	return e
}

// fresh returns an unused name derived from base and reserves it.
func (e *graphEditor) fresh(base string) string {
	name := base
	for i := 1; e.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	e.names[name] = true
	return name
}

// constant returns the float32 value of an initializer, or nil.
func (e *graphEditor) constant(name string) *runtime.Value {
	tp := e.inits[name]
	if tp == nil {
		return nil
	}
	v, err := runtime.ValueFromProto(tp, nil)
	if err != nil || v.DType != tensor.F32 {
		return nil
	}
	return v
}

func (e *graphEditor) addInit(tp *onnxpb.TensorProto) string {
	e.g.Initializer = append(e.g.Initializer, tp)
	e.inits[tp.GetName()] = tp
	return tp.GetName()
}

// floatInit adds a float32 initializer.
func (e *graphEditor) floatInit(base string, dims []int64, v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return e.addInit(&onnxpb.TensorProto{Name: proto.String(e.fresh(base)), Dims: slices.Clone(dims), DataType: proto.Int32(onnxFloat), RawData: b})
}

// int8Init adds an int8 (signed) or uint8 initializer from values already in range.
func (e *graphEditor) int8Init(base string, dims []int64, v []int32, signed bool) string {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	dt := int32(onnxUint8)
	if signed {
		dt = onnxInt8
	}
	return e.addInit(&onnxpb.TensorProto{Name: proto.String(e.fresh(base)), Dims: slices.Clone(dims), DataType: proto.Int32(dt), RawData: b})
}

func (e *graphEditor) int32Init(base string, dims []int64, v []int32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return e.addInit(&onnxpb.TensorProto{Name: proto.String(e.fresh(base)), Dims: slices.Clone(dims), DataType: proto.Int32(onnxInt32), RawData: b})
}

func (e *graphEditor) bytesInit(base string, dims []int64, b []byte) string {
	return e.addInit(&onnxpb.TensorProto{Name: proto.String(e.fresh(base)), Dims: slices.Clone(dims), DataType: proto.Int32(onnxUint8), RawData: b})
}

// node builds a node with a fresh name.
func (e *graphEditor) node(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(e.fresh(name)), Input: in, Output: out, Attribute: attrs}
	for _, o := range out {
		e.names[o] = true
	}
	return n
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrInt(n *onnxpb.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

func attrFloat(n *onnxpb.NodeProto, name string, def float32) float32 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetF()
		}
	}
	return def
}

// commit rebuilds the node list: inserted nodes go before their anchor, replaced
// nodes are swapped for their replacements, and unused initializers are dropped.
// The result stays topologically ordered because inserted nodes only read values
// that exist before the anchor.
func (e *graphEditor) commit() {
	var nodes []*onnxpb.NodeProto
	for _, n := range e.g.GetNode() {
		nodes = append(nodes, e.newNodes[n]...)
		if r, ok := e.replaced[n]; ok {
			nodes = append(nodes, r...)
			continue
		}
		nodes = append(nodes, n)
	}
	e.g.Node = nodes
	used := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.GetInput() {
			used[in] = true
		}
	}
	for _, vi := range e.g.GetOutput() {
		used[vi.GetName()] = true
	}
	var inits []*onnxpb.TensorProto
	for _, t := range e.g.GetInitializer() {
		if used[t.GetName()] {
			inits = append(inits, t)
		}
	}
	e.g.Initializer = inits
	// Graph inputs that name dropped initializers (old-style models) go too.
	var ins []*onnxpb.ValueInfoProto
	for _, vi := range e.g.GetInput() {
		if _, isInit := e.inits[vi.GetName()]; isInit && !used[vi.GetName()] {
			continue
		}
		ins = append(ins, vi)
	}
	e.g.Input = ins
}

// ensureOpset makes the model import domain at version >= v.
func ensureOpset(mp *onnxpb.ModelProto, domain string, v int64) {
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == domain || (domain == "" && o.GetDomain() == "ai.onnx") {
			if o.GetVersion() < v {
				o.Version = proto.Int64(v)
			}
			return
		}
	}
	mp.OpsetImport = append(mp.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String(domain), Version: proto.Int64(v)})
}

func opsetVersion(mp *onnxpb.ModelProto, domain string) int64 {
	for _, o := range mp.GetOpsetImport() {
		if o.GetDomain() == domain || (domain == "" && o.GetDomain() == "ai.onnx") {
			return o.GetVersion()
		}
	}
	return 0
}

// nodeLabel names a node for reports and --exclude: its name, or op_index.
func nodeLabel(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return n.GetName()
	}
	return fmt.Sprintf("%s_%d", n.GetOpType(), i)
}

// matcher matches node labels against names or anchored regular expressions.
type matcher struct {
	exact map[string]bool
	res   []*regexp.Regexp
}

func newMatcher(patterns []string) (*matcher, error) {
	m := &matcher{exact: map[string]bool{}}
	for _, p := range patterns {
		m.exact[p] = true
		if strings.ContainsAny(p, `.*+?[](){}|^$\`) {
			re, err := regexp.Compile("^(?:" + p + ")$")
			if err != nil {
				return nil, fmt.Errorf("onnxq: exclude pattern %q: %w", p, err)
			}
			m.res = append(m.res, re)
		}
	}
	return m, nil
}

func (m *matcher) match(s string) bool {
	if m.exact[s] {
		return true
	}
	for _, re := range m.res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
