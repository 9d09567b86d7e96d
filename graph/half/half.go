package half

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// Options control Model. The zero value converts to float16, keeps float32 graph
// inputs and outputs and keeps DefaultKeep's operators in float32.
type Options struct {
	// DType is tensor.F16 (the default when zero) or tensor.BF16.
	DType tensor.DType
	// HalfIO makes the graph's float32 inputs and outputs half precision too
	// (keep_io_types=False). By default they stay float32.
	HalfIO bool
	// Keep lists more operator types to run in float32, added to DefaultKeep.
	Keep []string
	// KeepNodes lists node names to run in float32.
	KeepNodes []string
	// NoDefaultKeep drops DefaultKeep: only Keep, KeepNodes and non-default-domain
	// operators stay float32.
	NoDefaultKeep bool
}

// DefaultKeep maps the operators kept in float32 by default to the reason.
var DefaultKeep = map[string]string{
	// No float16 form in the ONNX schema (at least before opset 19).
	"Range":                     "no float16 form in its ONNX schema",
	"NonMaxSuppression":         "no float16 form in its ONNX schema",
	"Celu":                      "no float16 form in its ONNX schema",
	"IsInf":                     "float16 needs opset 20",
	"QLinearConv":               "float32 scales only",
	"QLinearMatMul":             "float32 scales only",
	"EyeLike":                   "no float16 kernel in ONNX Runtime's CPU provider",
	"MeanVarianceNormalization": "ONNX Runtime expands it with float32 constants",
	"QuantizeLinear":            "float16 scales need opset 19",
	"DequantizeLinear":          "float16 scales need opset 19",
	"DynamicQuantizeLinear":     "float32 only in its ONNX schema",
	"TfIdfVectorizer":           "float32 output only",
	"HannWindow":                "window generator: float32 output",
	"HammingWindow":             "window generator: float32 output",
	"BlackmanWindow":            "window generator: float32 output",
	"MelWeightMatrix":           "window generator: float32 output",
	// Coordinates and indices: half precision moves boxes and changes selections.
	"Resize":     "coordinate arithmetic (scales and roi stay float32)",
	"Upsample":   "coordinate arithmetic (scales stay float32)",
	"RoiAlign":   "box coordinates",
	"TopK":       "selection by value: ties and order change in half precision",
	"CumSum":     "long running sums lose precision",
	"GridSample": "sampling coordinates",
	// Random generators: their distributions are defined in float32.
	"RandomNormal":      "random generator",
	"RandomUniform":     "random generator",
	"RandomNormalLike":  "random generator",
	"RandomUniformLike": "random generator",
	"Multinomial":       "random generator",
	"Bernoulli":         "random generator",
}

// Report says what Model changed.
type Report struct {
	DType        string `json:"dtype"`
	HalfIO       bool   `json:"half_io"`
	Initializers int    `json:"initializers_converted"`
	Constants    int    `json:"constants_converted"`
	Values       int64  `json:"values_converted"`
	// Clamped counts finite values beyond the target's range, set to its largest
	// finite value; Underflow counts nonzero values that became zero.
	Clamped   int64 `json:"clamped"`
	Underflow int64 `json:"underflow_to_zero"`
	Casts     int   `json:"casts_inserted"`
	// Kept lists the nodes kept in float32 and why.
	Kept []KeptNode `json:"kept,omitempty"`
	// Untyped lists inputs of kept nodes whose type could not be inferred (not cast).
	Untyped []string `json:"untyped,omitempty"`
}

// KeptNode is one node left in float32.
type KeptNode struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Reason string `json:"reason"`
}

const (
	f32     = int32(onnxpb.TensorProto_FLOAT)
	unknown = int32(0)
	// nonFloat marks a value known not to be float32 whose exact type is not needed.
	nonFloat = int32(-1)
)

// Model returns a half-precision copy of mp; fsys is the model's folder for external
// data (nil when it has none). mp is not modified.
func Model(ctx context.Context, mp *onnxpb.ModelProto, fsys fs.FS, opts *Options) (*onnxpb.ModelProto, *Report, error) {
	if opts == nil {
		opts = &Options{}
	}
	d := opts.DType
	if d == tensor.Invalid {
		d = tensor.F16
	}
	if d != tensor.F16 && d != tensor.BF16 {
		return nil, nil, refit.Unsupportedf("half", "target %v: only f16 and bf16", d)
	}
	if mp.GetGraph() == nil {
		return nil, nil, fmt.Errorf("half: model has no graph: %w", refit.ErrFormat)
	}
	if v := graph.Opset(mp, ""); v != 0 && v < 6 {
		// Cast-1 names its type with a string, which ONNX Runtime cannot type-check.
		return nil, nil, refit.Unsupportedf("half", "opset %d: Casts need opset 6 or later; upgrade the model's opset first", v)
	}
	target, _ := onnx.ElemType(d)
	out := proto.Clone(mp).(*onnxpb.ModelProto)
	c := &converter{
		ctx: ctx, fsys: fsys, opts: opts, dtype: d, target: target,
		keepNodes: map[string]bool{},
		rep:       &Report{DType: d.String(), HalfIO: opts.HalfIO},
	}
	for _, n := range opts.KeepNodes {
		c.keepNodes[n] = true
	}
	c.keepOps = map[string]string{}
	if !opts.NoDefaultKeep {
		for k, v := range DefaultKeep {
			c.keepOps[k] = v
		}
	}
	for _, k := range opts.Keep {
		c.keepOps[k] = "kept by request"
	}
	reserveAll(&c.names, out.Graph)
	if err := c.graph(out.Graph, nil, true); err != nil {
		return nil, nil, err
	}
	if d == tensor.BF16 {
		// Cast to and from bfloat16 needs opset 13.
		if v := graph.Opset(out, ""); v != 0 && v < 13 {
			return nil, nil, refit.Unsupportedf("half", "bfloat16 needs opset 13 or later; the model has opset %d", v)
		}
	}
	return out, c.rep, nil
}

type converter struct {
	ctx       context.Context
	fsys      fs.FS
	opts      *Options
	dtype     tensor.DType
	target    int32
	keepOps   map[string]string
	keepNodes map[string]bool
	names     graph.Names
	rep       *Report
}

// scope is one graph being converted: the original element types of the values it
// defines, their type after conversion (native), and the Casts made in it.
type scope struct {
	parent *scope
	g      *onnxpb.GraphProto
	types  map[string]int32 // original element type (f32, nonFloat, unknown...)
	native map[string]int32 // element type after conversion of each float32 value
	casts  map[castKey]string
	// bodies caches the output types of subgraphs (shared by the whole model): each
	// body is typed once however deep it nests.
	bodies map[*onnxpb.GraphProto][]int32
	before map[*onnxpb.NodeProto][]*onnxpb.NodeProto
	tail   []*onnxpb.NodeProto
}

type castKey struct {
	name string
	to   int32
}

func (s *scope) typeOf(name string) int32 {
	for ; s != nil; s = s.parent {
		if t, ok := s.types[name]; ok {
			return t
		}
	}
	return unknown
}

func (s *scope) nativeOf(name string) (int32, bool) {
	for ; s != nil; s = s.parent {
		if t, ok := s.native[name]; ok {
			return t, true
		}
	}
	return 0, false
}

func (s *scope) castOf(k castKey) (string, bool) {
	for ; s != nil; s = s.parent {
		if n, ok := s.casts[k]; ok {
			return n, true
		}
	}
	return "", false
}

// kept returns why n stays float32, or "".
func (c *converter) kept(n *onnxpb.NodeProto) string {
	if len(graph.Subgraphs(n)) > 0 && graph.IsDefaultDomain(n) {
		return "" // If/Loop/Scan: their bodies are converted
	}
	if c.keepNodes[n.GetName()] && n.GetName() != "" {
		return "kept by request"
	}
	if !graph.IsDefaultDomain(n) {
		return "operator of domain " + n.GetDomain() + ": its float16 support is unknown"
	}
	if why := c.keepOps[n.GetOpType()]; why != "" {
		return why
	}
	switch n.GetOpType() {
	case "ScatterND", "ScatterElements":
		if r := graph.String(n, "reduction", "none"); r != "none" && !c.opts.NoDefaultKeep {
			return "ONNX Runtime's CPU provider has no float16 " + r + " reduction"
		}
	}
	return ""
}

// graph converts g in place. outer is the enclosing scope (nil for the main graph).
func (c *converter) graph(g *onnxpb.GraphProto, outer *scope, main bool) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	s := &scope{parent: outer, g: g, types: map[string]int32{}, native: map[string]int32{},
		casts: map[castKey]string{}, before: map[*onnxpb.NodeProto][]*onnxpb.NodeProto{}}
	if outer != nil {
		s.bodies = outer.bodies
	} else {
		s.bodies = map[*onnxpb.GraphProto][]int32{}
	}
	inferTypes(g, s)
	for _, sp := range g.SparseInitializer {
		if sp.GetValues().GetDataType() == f32 {
			return refit.Unsupportedf("half", "sparse float32 initializer %q", sp.GetValues().GetName())
		}
	}
	keptWhy := map[*onnxpb.NodeProto]string{}
	for _, n := range g.Node {
		if why := c.kept(n); why != "" {
			keptWhy[n] = why
			if len(graph.Subgraphs(n)) > 0 {
				return refit.Unsupportedf("half", "node %s (%s, domain %q) has subgraphs but no known float16 form", graph.NodeName(n), n.GetOpType(), n.GetDomain())
			}
		}
	}
	ioWant := c.target // what the graph's own float inputs and outputs are declared as
	if main && !c.opts.HalfIO {
		ioWant = f32
	}
	// Native types of the values defined here.
	inputs := map[string]bool{}
	for _, v := range g.Input {
		inputs[v.GetName()] = true
		if s.types[v.GetName()] == f32 {
			s.native[v.GetName()] = ioWant
		}
	}
	for _, n := range g.Node {
		to := c.target
		if keptWhy[n] != "" {
			to = f32
		}
		for _, o := range n.Output {
			if o != "" && s.types[o] == f32 {
				s.native[o] = to
			}
		}
	}
	for i, tp := range g.Initializer {
		name := tp.GetName()
		if tp.GetDataType() != f32 {
			continue
		}
		if inputs[name] {
			if s.native[name] == f32 {
				continue
			}
		} else if onlyFloat32Readers(g, name, keptWhy, main && !c.opts.HalfIO, c) {
			s.native[name] = f32
			continue
		}
		s.native[name] = c.target
		ntp, err := c.initializer(tp)
		if err != nil {
			return err
		}
		g.Initializer[i] = ntp
		c.rep.Initializers++
	}
	// Main graph outputs keep their names: a value whose type after conversion is not
	// the declared output type is renamed inside, and a Cast writes the output.
	var outCasts []*onnxpb.NodeProto
	if main {
		renamed := map[string]string{}
		for _, o := range g.Output {
			name := o.GetName()
			if s.typeOf(name) != f32 || renamed[name] != "" {
				continue
			}
			nat, _ := s.nativeOf(name)
			if nat == ioWant {
				continue
			}
			inner := c.names.Fresh(name + "_" + typeSuffix(nat))
			if !renameDefinition(g, name, inner) {
				return fmt.Errorf("half: output %q: cannot rename its definition", name)
			}
			renamed[name] = inner
			s.types[inner], s.native[inner] = f32, nat
			outCasts = append(outCasts, c.castNode(inner, name, ioWant))
		}
		for _, vi := range g.ValueInfo {
			if r := renamed[vi.GetName()]; r != "" {
				vi.Name = proto.String(r)
			}
		}
	}
	// Nodes: float inputs in the type each node computes in.
	for _, n := range g.Node {
		want := c.target
		if why := keptWhy[n]; why != "" {
			want = f32
			c.rep.Kept = append(c.rep.Kept, KeptNode{graph.NodeName(n), n.GetOpType(), why})
		}
		for i, in := range n.Input {
			if in == "" {
				continue
			}
			switch t := s.typeOf(in); {
			case t == f32:
				n.Input[i] = c.as(s, in, want, n)
			case t == unknown && want == f32:
				c.rep.Untyped = append(c.rep.Untyped, fmt.Sprintf("%s input %d (%s)", graph.NodeName(n), i, in))
			}
		}
		if keptWhy[n] != "" {
			continue
		}
		if err := c.attributes(n, s); err != nil {
			return err
		}
		for _, sg := range graph.Subgraphs(n) {
			if err := c.graph(sg, s, false); err != nil {
				return err
			}
		}
	}
	// Subgraph outputs are positional: point them at a Cast where needed.
	if !main {
		for _, o := range g.Output {
			if s.typeOf(o.GetName()) == f32 {
				o.Name = proto.String(c.as(s, o.GetName(), c.target, nil))
			}
		}
	}
	s.tail = append(s.tail, outCasts...)
	// Declared types.
	for _, v := range g.Input {
		if s.types[v.GetName()] == f32 {
			retype(v.GetType(), ioWant)
		}
	}
	for _, v := range g.Output {
		if s.typeOf(v.GetName()) == f32 || isF32Type(v.GetType()) {
			retype(v.GetType(), ioWant)
		}
	}
	for _, v := range g.ValueInfo {
		if !isF32Type(v.GetType()) {
			continue
		}
		if nat, ok := s.nativeOf(v.GetName()); ok {
			retype(v.GetType(), nat)
		}
	}
	nodes := make([]*onnxpb.NodeProto, 0, len(g.Node)+len(s.before)+len(s.tail))
	for _, n := range g.Node {
		nodes = append(nodes, s.before[n]...)
		nodes = append(nodes, n)
	}
	g.Node = append(nodes, s.tail...)
	return nil
}

// as returns a name holding value name in element type want, adding a Cast before
// node at (at the graph's end when at is nil) unless name already has that type.
func (c *converter) as(s *scope, name string, want int32, at *onnxpb.NodeProto) string {
	nat, ok := s.nativeOf(name)
	if !ok || nat == want {
		return name
	}
	k := castKey{name, want}
	if n, ok := s.castOf(k); ok {
		return n
	}
	out := c.names.Fresh(name + "_" + typeSuffix(want))
	cast := c.castNode(name, out, want)
	if at == nil {
		s.tail = append(s.tail, cast)
	} else {
		s.before[at] = append(s.before[at], cast)
	}
	s.casts[k] = out
	s.types[out], s.native[out] = f32, want
	return out
}

func (c *converter) castNode(in, out string, to int32) *onnxpb.NodeProto {
	c.rep.Casts++
	return graph.NewNode("Cast", c.names.Fresh("Cast_"+typeSuffix(to)), []string{in}, []string{out}, graph.IntAttr("to", int64(to)))
}

func typeSuffix(elem int32) string {
	switch elem {
	case f32:
		return "f32"
	case int32(onnxpb.TensorProto_FLOAT16):
		return "f16"
	case int32(onnxpb.TensorProto_BFLOAT16):
		return "bf16"
	}
	return "t"
}

// attributes rewrites the float32 types and constants that node n's attributes
// carry, for a node that computes in half precision.
func (c *converter) attributes(n *onnxpb.NodeProto, s *scope) error {
	switch n.GetOpType() {
	case "Cast":
		if castTo(n) == f32 {
			graph.SetInt(n, "to", int64(c.target))
		}
	case "EyeLike", "SequenceEmpty":
		def := int64(0)
		if n.GetOpType() == "SequenceEmpty" {
			def = int64(f32)
		}
		if graph.Int(n, "dtype", def) == int64(f32) {
			graph.SetInt(n, "dtype", int64(c.target))
		}
	case "ConstantOfShape":
		v := graph.Tensor(n, "value")
		if v == nil {
			graph.SetTensor(n, "value", c.raw("", []int64{1}, make([]byte, 2)))
			return nil
		}
		if v.GetDataType() == f32 {
			nv, err := c.initializer(v)
			if err != nil {
				return fmt.Errorf("node %s: %w", graph.NodeName(n), err)
			}
			graph.SetTensor(n, "value", nv)
			c.rep.Constants++
		}
	case "Constant":
		var vals []float32
		var dims []int64
		switch {
		case graph.Tensor(n, "value") != nil:
			v := graph.Tensor(n, "value")
			if v.GetDataType() != f32 {
				return nil
			}
			nv, err := c.initializer(v)
			if err != nil {
				return fmt.Errorf("node %s: %w", graph.NodeName(n), err)
			}
			graph.SetTensor(n, "value", nv)
			c.rep.Constants++
			return nil
		case graph.Attr(n, "value_float") != nil:
			vals = []float32{graph.Float(n, "value_float", 0)}
		case graph.Attr(n, "value_floats") != nil:
			vals = graph.Floats(n, "value_floats", nil)
			dims = []int64{int64(len(vals))}
		default:
			return nil
		}
		graph.DeleteAttrs(n, "value_float", "value_floats")
		graph.SetTensor(n, "value", c.raw("", dims, c.halve(vals)))
		c.rep.Constants++
	}
	return nil
}

// initializer returns tp (float32) converted to the target type.
func (c *converter) initializer(tp *onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	t, err := onnx.TensorFromProto(tp, c.fsys)
	if err != nil {
		return nil, fmt.Errorf("half: initializer %q: %w", tp.GetName(), err)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("half: initializer %q: %w", tp.GetName(), err)
	}
	ntp := c.raw(tp.GetName(), slices.Clone(tp.GetDims()), c.halve(v))
	ntp.DocString = tp.DocString
	return ntp, nil
}

func (c *converter) raw(name string, dims []int64, b []byte) *onnxpb.TensorProto {
	return graph.RawTensor(name, c.target, dims, b)
}

// halve converts float32 values to the target's little-endian bytes, clamping finite
// values beyond its range and counting them.
func (c *converter) halve(v []float32) []byte {
	out := make([]byte, 2*len(v))
	c.rep.Values += int64(len(v))
	maxFinite := float32(65504)
	if c.dtype == tensor.BF16 {
		maxFinite = tensor.BF16ToF32(0x7f7f)
	}
	for i, f := range v {
		if f > maxFinite && !math.IsInf(float64(f), 1) {
			f = maxFinite
			c.rep.Clamped++
		} else if f < -maxFinite && !math.IsInf(float64(f), -1) {
			f = -maxFinite
			c.rep.Clamped++
		}
		var h uint16
		if c.dtype == tensor.BF16 {
			h = tensor.F32ToBF16(f)
			if h&0x7fff == 0x7f80 { // rounded up to Inf from a finite value
				h = h&0x8000 | 0x7f7f
			}
		} else {
			h = tensor.F32ToF16(f)
		}
		if h&0x7fff == 0 && f != 0 {
			c.rep.Underflow++
		}
		out[2*i], out[2*i+1] = byte(h), byte(h>>8)
	}
	return out
}

// onlyFloat32Readers reports whether every reader of initializer name computes in
// float32 (kept nodes, and main graph outputs when they stay float32), so it can
// stay float32 without Casts. An initializer nothing reads is converted.
func onlyFloat32Readers(g *onnxpb.GraphProto, name string, keptWhy map[*onnxpb.NodeProto]string, f32Outputs bool, c *converter) bool {
	readers := 0
	for _, o := range g.Output {
		if o.GetName() == name {
			if !f32Outputs {
				return false
			}
			readers++
		}
	}
	for _, n := range g.Node {
		for _, in := range n.Input {
			if in == name {
				if keptWhy[n] == "" {
					return false
				}
				readers++
			}
		}
		if slices.Contains(graph.SubgraphReads(n), name) {
			return false // subgraphs compute in half precision (kept ones are refused)
		}
	}
	return readers > 0
}

// renameDefinition renames the node output or initializer that defines name, and
// every reader of it in g (subgraphs included), to inner. Graph outputs keep name.
func renameDefinition(g *onnxpb.GraphProto, name, inner string) bool {
	found := false
	for _, n := range g.Node {
		for i, o := range n.Output {
			if o == name {
				n.Output[i] = inner
				found = true
			}
		}
	}
	for _, tp := range g.Initializer {
		if tp.GetName() == name {
			tp.Name = proto.String(inner)
			found = true
		}
	}
	if !found {
		return false
	}
	outs := make([]string, len(g.Output))
	for i, o := range g.Output {
		outs[i] = o.GetName()
	}
	graph.NewEditor(g).ReplaceUses(name, inner)
	for i, o := range g.Output {
		o.Name = proto.String(outs[i])
	}
	return true
}

// reserveAll reserves every name used anywhere in g and its subgraphs.
func reserveAll(names *graph.Names, g *onnxpb.GraphProto) {
	for _, t := range g.Initializer {
		names.Reserve(t.GetName())
	}
	for _, v := range g.Input {
		names.Reserve(v.GetName())
	}
	for _, v := range g.Output {
		names.Reserve(v.GetName())
	}
	for _, v := range g.ValueInfo {
		names.Reserve(v.GetName())
	}
	for _, n := range g.Node {
		names.Reserve(n.GetName())
		for _, o := range n.Output {
			names.Reserve(o)
		}
		for _, in := range n.Input {
			names.Reserve(in)
		}
		for _, sg := range graph.Subgraphs(n) {
			reserveAll(names, sg)
		}
	}
}

// retype sets the element type of a tensor type, or of a sequence's or optional's
// tensor elements.
func retype(t *onnxpb.TypeProto, elem int32) {
	if tt := tensorType(t); tt != nil {
		tt.ElemType = proto.Int32(elem)
	}
}

func isF32Type(t *onnxpb.TypeProto) bool {
	tt := tensorType(t)
	return tt != nil && tt.GetElemType() == f32
}

func tensorType(t *onnxpb.TypeProto) *onnxpb.TypeProto_Tensor {
	for t != nil {
		switch {
		case t.GetTensorType() != nil:
			return t.GetTensorType()
		case t.GetSequenceType() != nil:
			t = t.GetSequenceType().GetElemType()
		case t.GetOptionalType() != nil:
			t = t.GetOptionalType().GetElemType()
		default:
			return nil
		}
	}
	return nil
}
