package keras2onnx

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// DefaultOpset is the ONNX opset written when Options.Opset is 0 (LayerNormalization needs 17).
const DefaultOpset = 17

// Options configure Convert; the zero value means defaults.
type Options struct {
	Opset     int64  // ONNX opset version, 0 means DefaultOpset; at least 17
	BatchSize int64  // fixed batch dimension; 0 keeps it symbolic ("batch")
	Name      string // graph name; "" uses "keras"
}

// ConvertModel converts a model decoded by format/tfjs or format/keras, whose
// metadata carries the Keras config ("tfjs.model_topology", "keras.model_config" or
// "keras.config"), using its tensors as weights.
func ConvertModel(m *refit.Model, opts *Options) (*onnxpb.ModelProto, error) {
	for _, key := range []string{"tfjs.model_topology", "keras.model_config", "keras.config"} {
		if s := m.Metadata.String(key); s != "" {
			return Convert([]byte(s), m, opts)
		}
	}
	return nil, fmt.Errorf("keras2onnx: %w: model has no Keras config (tfjs.model_topology, keras.model_config or keras.config)", refit.ErrFormat)
}

type call struct {
	l    *layer
	node int
}

// Convert builds an ONNX model from a Keras model config (Sequential or Functional,
// Keras 2 or 3 form, or a TF.js modelTopology) and its weights. The ONNX inputs and
// outputs keep Keras' channels-last layout and the Keras layer names; inside, image
// tensors are channels-first with Transposes only where a layer needs Keras order.
func Convert(topology []byte, weights *refit.Model, opts *Options) (*onnxpb.ModelProto, error) {
	if opts == nil {
		opts = &Options{}
	}
	opset := opts.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	if opset < 17 {
		return nil, fmt.Errorf("keras2onnx: opset %d: %w (need 17 or later)", opset, refit.ErrUnsupported)
	}
	s, err := parseTopology(topology)
	if err != nil {
		return nil, fmt.Errorf("keras2onnx: %w", err)
	}
	if err := s.supported(); err != nil {
		return nil, err
	}
	b := newBuilder(weights, s.Keras3, opset)
	b.tfjs = s.TFJS
	byName := map[string]*layer{}
	for _, l := range s.Layers {
		byName[l.Name] = l
	}
	// Graph input and output names are the Keras layer names; reserve them first.
	for _, r := range s.Inputs {
		b.Names.Reserve(r.Layer)
	}
	outNames := make([]string, len(s.Outputs))
	for i, r := range s.Outputs {
		outNames[i] = r.Layer
		if i > 0 && slices.Contains(outNames[:i], r.Layer) || b.Names.Used(r.Layer) {
			outNames[i] = r.Layer + "_" + strconv.Itoa(r.Node) + "_" + strconv.Itoa(r.Tensor)
		}
		b.Names.Reserve(outNames[i])
	}
	vals := map[ref]*value{}
	var graphIn []*onnxpb.ValueInfoProto
	for _, r := range s.Inputs {
		l := byName[r.Layer]
		if l == nil || l.Class != "InputLayer" {
			return nil, fmt.Errorf("keras2onnx: %w: input %s is not an InputLayer", refit.ErrFormat, r)
		}
		v, vi, err := inputValue(l, opts.BatchSize)
		if err != nil {
			return nil, fmt.Errorf("keras2onnx: %w", err)
		}
		vals[ref{Layer: l.Name}] = v
		graphIn = append(graphIn, vi)
	}
	inVals := make([]*value, len(s.Inputs))
	for i, r := range s.Inputs {
		inVals[i] = vals[ref{Layer: r.Layer}]
	}
	outVals, err := b.run(s, inVals, 0)
	if err != nil {
		return nil, fmt.Errorf("keras2onnx: %w", err)
	}
	var graphOut []*onnxpb.ValueInfoProto
	for i, v := range outVals {
		v = b.toKeras(v)
		b.Node("Identity", b.Names.Fresh(outNames[i]+"_output"), []string{v.name}, []string{outNames[i]})
		graphOut = append(graphOut, valueInfo(outNames[i], v.elem, v.shape, ""))
	}
	name := opts.Name
	if name == "" {
		name = "keras"
	}
	b.Inputs, b.Outputs = graphIn, graphOut
	return graph.Model(b.Graph(name), "refit keras2onnx", opset), nil
}

// supported checks every layer class of s, nested ones included, before anything
// is built: the error lists each unsupported class with its count.
func (s *spec) supported() error {
	counts, names := map[string]int{}, map[string][]string{}
	s.classes(counts, names)
	bad := map[string]int{}
	for class, n := range counts {
		switch {
		case class == "InputLayer" || converters[class] != nil:
		case class == "Sequential" || class == "Functional" || class == "Model":
		default:
			bad[class] = n
		}
	}
	if len(bad) == 0 {
		return nil
	}
	e := &graph.UnsupportedError{Converter: "keras2onnx", Kind: "layers", Counts: bad}
	if bad["Lambda"] > 0 {
		e.Note = fmt.Sprintf("Lambda layers (%s) hold Python code, which Refit never runs; "+
			"rebuild them from standard layers", strings.Join(quoted(names["Lambda"], 5), ", "))
	}
	return e
}

func quoted(names []string, n int) []string {
	out := make([]string, 0, n+1)
	for i, name := range names {
		if i == n {
			out = append(out, fmt.Sprintf("... %d more", len(names)-n))
			break
		}
		out = append(out, strconv.Quote(name))
	}
	return out
}

// maxNesting bounds models nested as layers inside models.
const maxNesting = 16

// run converts the layers of model s applied to its inputs in, returning its outputs.
// depth counts the models s is nested in.
func (b *builder) run(s *spec, in []*value, depth int) ([]*value, error) {
	if len(in) != len(s.Inputs) {
		return nil, fmt.Errorf("%w: model takes %d inputs, got %d", refit.ErrFormat, len(s.Inputs), len(in))
	}
	vals := map[ref]*value{}
	for i, r := range s.Inputs {
		vals[ref{Layer: r.Layer}] = in[i]
	}
	var pending []call
	for _, l := range s.Layers {
		if l.Class == "InputLayer" {
			continue
		}
		for k := range l.Inbound {
			pending = append(pending, call{l, k})
		}
	}
	for len(pending) > 0 {
		var rest []call
		for _, c := range pending {
			refs := c.l.Inbound[c.node]
			in := make([]*value, len(refs))
			ready := true
			for i, r := range refs {
				if in[i] = vals[r]; in[i] == nil {
					ready = false
					break
				}
			}
			if !ready {
				rest = append(rest, c)
				continue
			}
			outs, err := b.call(c.l, in, depth)
			if err != nil {
				return nil, err
			}
			for i, v := range outs {
				vals[ref{Layer: c.l.Name, Node: c.node + c.l.NodeOffset, Tensor: i}] = v
			}
		}
		if len(rest) == len(pending) {
			c := rest[0]
			for _, r := range c.l.Inbound[c.node] {
				if vals[r] == nil {
					return nil, fmt.Errorf("%w: layer %q: input %s is never computed", refit.ErrFormat, c.l.Name, r)
				}
			}
		}
		pending = rest
	}
	out := make([]*value, len(s.Outputs))
	for i, r := range s.Outputs {
		if out[i] = vals[r]; out[i] == nil {
			return nil, fmt.Errorf("%w: output %s is never computed", refit.ErrFormat, r)
		}
	}
	return out, nil
}

// call converts one call of layer l: a nested model runs its own layers with its
// weights looked up under its name; any other class goes to its converter.
func (b *builder) call(l *layer, in []*value, depth int) ([]*value, error) {
	if l.Inner != nil {
		if depth >= maxNesting {
			return nil, fmt.Errorf("%w: models nested more than %d deep", refit.ErrFormat, maxNesting)
		}
		b.scope = append(b.scope, l.Name)
		defer func() { b.scope = b.scope[:len(b.scope)-1] }()
		return b.run(l.Inner, in, depth+1)
	}
	outs, err := converters[l.Class](b, l, in)
	if err != nil {
		return nil, err
	}
	b.passMask(l, in, outs)
	return outs, nil
}

func inputValue(l *layer, batch int64) (*value, *onnxpb.ValueInfoProto, error) {
	c := &l.Cfg
	shape, ok := c.shape("batch_input_shape")
	if !ok {
		shape, ok = c.shape("batch_shape")
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	if !ok || len(shape) == 0 {
		return nil, nil, fmt.Errorf("%w: InputLayer %q has no batch_input_shape", refit.ErrFormat, l.Name)
	}
	var elem int32
	switch dt := c.dtype("dtype"); dt {
	case "float32", "float16", "float64", "":
		elem = onnxFloat
	case "int32":
		elem = onnxInt32
	case "int64":
		elem = onnxInt64
	default:
		return nil, nil, fmt.Errorf("%w: InputLayer %q dtype %q", refit.ErrUnsupported, l.Name, dt)
	}
	if batch > 0 {
		shape[0] = batch
	}
	return &value{name: l.Name, shape: shape, elem: elem}, valueInfo(l.Name, elem, shape, l.Name), nil
}

// valueInfo describes a graph input or output: an unknown batch dimension is
// "batch", other unknown dimensions are named after param when it is set.
func valueInfo(name string, elem int32, shape []int64, param string) *onnxpb.ValueInfoProto {
	return graph.ValueInfo(name, elem, shape, func(axis int) string {
		switch {
		case axis == 0:
			return "batch"
		case param != "":
			return param + "_d" + strconv.Itoa(axis)
		}
		return ""
	})
}
