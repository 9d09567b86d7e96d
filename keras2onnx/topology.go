package keras2onnx

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/refit-ml/refit"
)

// ref names one output tensor of one call of a layer: Keras' [layer, node index, tensor index].
type ref struct {
	Layer  string
	Node   int
	Tensor int
}

func (r ref) String() string { return fmt.Sprintf("%s[%d][%d]", r.Layer, r.Node, r.Tensor) }

// layer is one entry of a model config's "layers", with the inputs of each of its calls.
type layer struct {
	Name    string
	Class   string
	Cfg     cfg
	Inbound [][]ref // one entry per call (Keras "node"), each listing the call's inputs
	Inner   *spec   // a Sequential/Functional model used as a layer
	Wrapped *layer  // the layer a TimeDistributed or Bidirectional wraps
	Back    *layer  // Bidirectional's backward_layer when the config gives one
	// NodeOffset is 1 for nested models whose calls the config numbers from 1 (Keras
	// and TF.js skip the model's own first node, made when it was built on its inputs).
	NodeOffset int
}

// maxDepth bounds models and wrappers nested in configs.
const maxDepth = 16

// spec is a parsed model config: layers in config order, graph inputs and outputs.
type spec struct {
	Layers  []*layer
	Inputs  []ref
	Outputs []ref
	Keras3  bool // Keras 3 semantics (hard_sigmoid is relu6(x+3)/6)
	TFJS    bool // written by tfjs-layers (bilinear upsampling without half-pixel centers)
}

// maxLayers caps the layer count of a config, far above any real model.
const maxLayers = 1 << 16

// parseTopology accepts a Keras model config in the forms writers produce:
// {"class_name", "config"} (h5 model_config, Keras 3 config.json) or a TF.js
// modelTopology wrapping it as {"model_config": ..., "keras_version": ...}.
func parseTopology(raw []byte) (*spec, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("%w: model config: %v", refit.ErrFormat, err)
	}
	keras3, tfjs := false, false
	if v, ok := top["keras_version"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			keras3 = strings.HasPrefix(s, "3")
			tfjs = strings.HasPrefix(s, "tfjs")
		}
	}
	if mt, ok := top["modelTopology"]; ok { // a whole TF.js model.json
		top = nil
		if err := json.Unmarshal(mt, &top); err != nil {
			return nil, fmt.Errorf("%w: modelTopology: %v", refit.ErrFormat, err)
		}
	}
	if v, ok := top["keras_version"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil {
			keras3 = keras3 || strings.HasPrefix(s, "3")
			tfjs = tfjs || strings.HasPrefix(s, "tfjs")
		}
	}
	if mc, ok := top["model_config"]; ok {
		top = nil
		if err := json.Unmarshal(mc, &top); err != nil {
			return nil, fmt.Errorf("%w: model_config: %v", refit.ErrFormat, err)
		}
	}
	if _, ok := top["module"]; ok {
		keras3 = true
	}
	if _, ok := top["node"]; ok {
		return nil, fmt.Errorf("%w: a TF.js graph model (GraphDef), not a Keras model config", refit.ErrUnsupported)
	}
	var class string
	if err := json.Unmarshal(top["class_name"], &class); err != nil {
		return nil, fmt.Errorf("%w: model config has no class_name", refit.ErrFormat)
	}
	var s *spec
	var err error
	switch class {
	case "Sequential":
		s, err = parseSequential(top["config"], 0)
	case "Functional", "Model":
		s, err = parseFunctional(top["config"], 0)
	default:
		return nil, fmt.Errorf("%w: model class %q (want Sequential, Functional or Model)", refit.ErrUnsupported, class)
	}
	if err != nil {
		return nil, err
	}
	s.Keras3 = s.Keras3 || keras3
	s.TFJS = tfjs
	return s, nil
}

type rawLayer struct {
	Name      string          `json:"name"`
	ClassName string          `json:"class_name"`
	Config    json.RawMessage `json:"config"`
	Module    *string         `json:"module"`
	Inbound   json.RawMessage `json:"inbound_nodes"`
}

func (rl *rawLayer) decode(depth int) (*layer, error) {
	c := cfg{}
	if len(rl.Config) > 0 && string(rl.Config) != "null" {
		if err := json.Unmarshal(rl.Config, &c.m); err != nil {
			return nil, fmt.Errorf("%w: layer %q config: %v", refit.ErrFormat, rl.Name, err)
		}
	}
	name := rl.Name
	if name == "" {
		name = c.str("name", "")
	}
	if rl.ClassName == "" {
		return nil, fmt.Errorf("%w: layer %q has no class_name", refit.ErrFormat, name)
	}
	c.layer = name
	l := &layer{Name: name, Class: rl.ClassName, Cfg: c}
	if depth >= maxDepth {
		return nil, fmt.Errorf("%w: layer %q: models or wrappers nested more than %d deep", refit.ErrFormat, name, maxDepth)
	}
	var err error
	switch rl.ClassName {
	case "Sequential":
		l.Inner, err = parseSequential(rl.Config, depth+1)
	case "Functional", "Model":
		l.Inner, err = parseFunctional(rl.Config, depth+1)
	case "TimeDistributed", "Bidirectional":
		if l.Wrapped, err = wrappedLayer(name, c.m["layer"], depth); err != nil {
			break
		}
		if c.m["backward_layer"] != nil {
			l.Back, err = wrappedLayer(name, c.m["backward_layer"], depth)
		}
	}
	if err != nil {
		return nil, err // errors from nested layers name the innermost layer
	}
	return l, nil
}

// wrappedLayer decodes the {"class_name", "config"} object a wrapper's config holds.
func wrappedLayer(wrapper string, v any, depth int) (*layer, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: layer %q: wrapped layer: %v", refit.ErrFormat, wrapper, err)
	}
	var rl rawLayer
	if v == nil || json.Unmarshal(raw, &rl) != nil {
		return nil, fmt.Errorf("%w: layer %q: wrapper without a layer object", refit.ErrFormat, wrapper)
	}
	return rl.decode(depth + 1)
}

// classes counts the layer classes of s, with those of nested models and wrapped
// layers, and lists the names of each class's layers.
func (s *spec) classes(counts map[string]int, names map[string][]string) {
	var add func(l *layer)
	add = func(l *layer) {
		counts[l.Class]++
		names[l.Class] = append(names[l.Class], l.Name)
		if l.Inner != nil {
			l.Inner.classes(counts, names)
		}
		if l.Wrapped != nil {
			add(l.Wrapped)
		}
		if l.Back != nil {
			add(l.Back)
		}
	}
	for _, l := range s.Layers {
		add(l)
	}
}

func parseSequential(raw json.RawMessage, depth int) (*spec, error) {
	var rls []rawLayer
	// Keras 2.2 and TF.js write the layers as the config itself; later versions as config.layers.
	if err := json.Unmarshal(raw, &rls); err != nil {
		var obj struct {
			Layers []rawLayer `json:"layers"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, fmt.Errorf("%w: Sequential config: %v", refit.ErrFormat, err)
		}
		rls = obj.Layers
	}
	if len(rls) == 0 || len(rls) > maxLayers {
		return nil, fmt.Errorf("%w: Sequential model with %d layers", refit.ErrFormat, len(rls))
	}
	s := &spec{}
	var prev string
	for i := range rls {
		rls[i].Inbound = nil
		l, err := rls[i].decode(depth)
		if err != nil {
			return nil, err
		}
		if rls[i].Module != nil {
			s.Keras3 = true
		}
		if i == 0 && l.Class != "InputLayer" {
			shape, ok := l.Cfg.m["batch_input_shape"]
			if !ok {
				shape, ok = l.Cfg.m["batch_shape"]
			}
			if !ok {
				return nil, fmt.Errorf("%w: Sequential model: first layer %q has no input shape", refit.ErrFormat, l.Name)
			}
			in := &layer{Name: l.Name + "_input", Class: "InputLayer", Cfg: cfg{layer: l.Name + "_input", m: map[string]any{
				"batch_input_shape": shape, "dtype": l.Cfg.m["dtype"]}}}
			s.Layers = append(s.Layers, in)
			prev = in.Name
		}
		if l.Class == "InputLayer" {
			if i != 0 {
				return nil, fmt.Errorf("%w: Sequential model: InputLayer %q is not first", refit.ErrFormat, l.Name)
			}
		} else {
			l.Inbound = [][]ref{{{Layer: prev}}}
		}
		if l.Class == "InputLayer" {
			s.Inputs = []ref{{Layer: l.Name}}
		}
		s.Layers = append(s.Layers, l)
		prev = l.Name
	}
	if len(s.Inputs) == 0 {
		s.Inputs = []ref{{Layer: s.Layers[0].Name}}
	}
	s.Outputs = []ref{{Layer: prev}}
	return s, nil
}

func parseFunctional(raw json.RawMessage, depth int) (*spec, error) {
	var obj struct {
		Layers  []rawLayer      `json:"layers"`
		Inputs  json.RawMessage `json:"input_layers"`
		Outputs json.RawMessage `json:"output_layers"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("%w: Functional config: %v", refit.ErrFormat, err)
	}
	if len(obj.Layers) == 0 || len(obj.Layers) > maxLayers {
		return nil, fmt.Errorf("%w: Functional model with %d layers", refit.ErrFormat, len(obj.Layers))
	}
	s := &spec{}
	seen := map[string]bool{}
	for i := range obj.Layers {
		l, err := obj.Layers[i].decode(depth)
		if err != nil {
			return nil, err
		}
		if obj.Layers[i].Module != nil {
			s.Keras3 = true
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("%w: duplicate layer name %q", refit.ErrFormat, l.Name)
		}
		seen[l.Name] = true
		if l.Inbound, err = parseInbound(obj.Layers[i].Inbound); err != nil {
			return nil, fmt.Errorf("%w: layer %q inbound_nodes: %v", refit.ErrFormat, l.Name, err)
		}
		s.Layers = append(s.Layers, l)
	}
	numberNestedCalls(s)
	var err error
	if s.Inputs, err = parseRefList(obj.Inputs); err != nil {
		return nil, fmt.Errorf("%w: input_layers: %v", refit.ErrFormat, err)
	}
	if s.Outputs, err = parseRefList(obj.Outputs); err != nil {
		return nil, fmt.Errorf("%w: output_layers: %v", refit.ErrFormat, err)
	}
	if len(s.Inputs) == 0 || len(s.Outputs) == 0 {
		return nil, fmt.Errorf("%w: Functional model without input_layers or output_layers", refit.ErrFormat)
	}
	return s, nil
}

// numberNestedCalls sets NodeOffset for nested models whose calls are referred to
// from 1 on: a reference to call len(Inbound) can only mean that.
func numberNestedCalls(s *spec) {
	maxRef := map[string]int{}
	for _, l := range s.Layers {
		for _, node := range l.Inbound {
			for _, r := range node {
				maxRef[r.Layer] = max(maxRef[r.Layer], r.Node)
			}
		}
	}
	for _, l := range s.Layers {
		if l.Inner != nil && len(l.Inbound) > 0 && maxRef[l.Name] == len(l.Inbound) {
			l.NodeOffset = 1
		}
	}
}

// parseInbound reads Keras 2 ([[["name", node, tensor, {kwargs}], ...], ...]) and
// Keras 3 ([{"args": [...keras tensors...], "kwargs": {...}}, ...]) inbound nodes.
func parseInbound(raw json.RawMessage) ([][]ref, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var nodes []any
	if err := json.Unmarshal(raw, &nodes); err != nil {
		return nil, err
	}
	out := make([][]ref, 0, len(nodes))
	for _, n := range nodes {
		var refs []ref
		switch n := n.(type) {
		case []any:
			for _, e := range n {
				r, err := refFromList(e)
				if err != nil {
					return nil, err
				}
				refs = append(refs, r)
			}
		case map[string]any:
			if err := collectKerasTensors(n["args"], &refs, 0); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("node is %T", n)
		}
		out = append(out, refs)
	}
	return out, nil
}

// collectKerasTensors walks Keras 3 call args in order, collecting keras_history refs.
func collectKerasTensors(v any, refs *[]ref, depth int) error {
	if depth > 16 {
		return fmt.Errorf("call arguments nested too deeply")
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := collectKerasTensors(e, refs, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if v["class_name"] == "__keras_tensor__" {
			c, _ := v["config"].(map[string]any)
			r, err := refFromList(c["keras_history"])
			if err != nil {
				return err
			}
			*refs = append(*refs, r)
		}
	}
	return nil
}

func refFromList(v any) (ref, error) {
	l, ok := v.([]any)
	if !ok || len(l) < 3 {
		return ref{}, fmt.Errorf("tensor reference %v is not [layer, node, tensor]", v)
	}
	name, ok := l[0].(string)
	if !ok {
		return ref{}, fmt.Errorf("tensor reference %v: layer name is not a string", v)
	}
	node, ok1 := smallInt(l[1])
	tensor, ok2 := smallInt(l[2])
	if !ok1 || !ok2 {
		return ref{}, fmt.Errorf("tensor reference %v: bad node or tensor index", v)
	}
	return ref{Layer: name, Node: node, Tensor: tensor}, nil
}

func smallInt(v any) (int, bool) {
	f, ok := v.(float64)
	if !ok || f < 0 || f > maxLayers || f != math.Trunc(f) {
		return 0, false
	}
	return int(f), true
}

// parseRefList reads input_layers/output_layers: a list of refs or, in Keras 3 for a
// single tensor, one ref.
func parseRefList(raw json.RawMessage) ([]ref, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var l []any
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, err
	}
	if len(l) > 0 {
		if _, ok := l[0].(string); ok {
			r, err := refFromList(any(l))
			return []ref{r}, err
		}
	}
	out := make([]ref, 0, len(l))
	for _, e := range l {
		r, err := refFromList(e)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
