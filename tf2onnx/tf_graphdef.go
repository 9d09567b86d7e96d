package tf2onnx

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfgraph"
	"github.com/refit-ml/refit/tensor"
)

// TFGraph converts a frozen GraphDef or a SavedModel (m from format/tfgraph: Source
// is a *tfgraph.File, tensors are the Const values by node name and, for a
// SavedModel, the variables by checkpoint key) to ONNX.
//
// A GraphDef is what a TF.js graph model's model.json holds as JSON, so the graph
// is written out as that JSON (the proto3 JSON mapping tfjs-converter uses) with the
// constants as its weights, and converted by the same code as TF.js graph models.
// Variables (VariableV2, VarHandleOp) become constants holding their checkpoint
// values and ReadVariableOp an Identity. A SavedModel's serving signature
// (serving_default, or the only one) names the inputs and outputs; only the nodes
// the outputs need are kept, which leaves out the saver and initializers.
func TFGraph(ctx context.Context, m *refit.Model, opts *Options) (*onnxpb.ModelProto, error) {
	f, ok := m.Source.(*tfgraph.File)
	if !ok {
		return nil, fmt.Errorf("%w: tf2onnx: %s model is not a TensorFlow graph", refit.ErrUnsupported, m.Format)
	}
	fsys, err := graphAsTFJS(f, m.Tensors)
	if err != nil {
		return nil, err
	}
	return TFJSGraph(ctx, fsys, "model.json", opts)
}

// graphAsTFJS writes f as a TF.js graph model (model.json and weights.bin) in memory.
func graphAsTFJS(f *tfgraph.File, tensors []*tensor.Tensor) (fstest.MapFS, error) {
	byName := map[string]*tensor.Tensor{}
	for _, t := range tensors {
		byName[t.Name] = t
	}
	nodes := f.Graph.Nodes
	var sig *tfgraph.Signature
	if f.SavedModel {
		if sig = f.Signatures["serving_default"]; sig == nil && len(f.Signatures) == 1 {
			for _, s := range f.Signatures {
				sig = s
			}
		}
		if sig == nil {
			return nil, fmt.Errorf("%w: tf2onnx: SavedModel without a serving_default signature (has %d)", refit.ErrUnsupported, len(f.Signatures))
		}
		var err error
		if nodes, err = neededBy(nodes, sig); err != nil {
			return nil, err
		}
	}
	restored := restoreKeys(f.Graph)
	type spec struct {
		Name  string  `json:"name"`
		Shape []int64 `json:"shape"`
		DType string  `json:"dtype"`
	}
	var specs []spec
	var weights bytes.Buffer
	var out []map[string]any
	for _, n := range nodes {
		op, inputs := n.Op, n.Input
		attrs := map[string]any{}
		var value *tensor.Tensor
		switch n.Op {
		case "Const":
			if a := n.Attr["value"]; a != nil && a.Tensor != nil && a.Tensor.DType != tfgraph.DTString {
				if value = byName[n.Name]; value == nil {
					return nil, fmt.Errorf("%w: tf2onnx: Const %q has no value", refit.ErrFormat, n.Name)
				}
			}
		case "VariableV2", "Variable", "VarHandleOp":
			key := n.Name
			if k, ok := restored[n.Name]; ok {
				key = k
			} else if a := n.Attr["shared_name"]; a != nil && len(a.S) > 0 {
				key = string(a.S)
			}
			if value = byName[key]; value == nil {
				if objectGraphKeys(tensors) {
					return nil, fmt.Errorf("%w: tf2onnx: variable %q: a TF2 SavedModel names its variables through its object graph (%q is no checkpoint key); only TF1-style variable names are mapped", refit.ErrUnsupported, n.Name, key)
				}
				return nil, fmt.Errorf("%w: tf2onnx: variable %q (checkpoint key %q) is not in the checkpoint", refit.ErrFormat, n.Name, key)
			}
			op, inputs = "Const", nil
		case "ReadVariableOp":
			op, inputs = "Identity", dataInputs(&gNode{Input: n.Input})[:min(1, len(n.Input))]
		}
		for k, a := range n.Attr {
			if op == "Const" && k == "value" {
				continue
			}
			attrs[k] = attrJSON(a, 0)
		}
		node := map[string]any{"name": n.Name, "op": op}
		if len(inputs) > 0 {
			node["input"] = inputs
		}
		if len(attrs) > 0 {
			node["attr"] = attrs
		}
		out = append(out, node)
		if value == nil {
			continue
		}
		dtype, err := appendWeight(&weights, value)
		if err != nil {
			return nil, fmt.Errorf("tf2onnx: constant %q: %w", n.Name, err)
		}
		specs = append(specs, spec{Name: n.Name, Shape: slices.Clone([]int64(value.Shape)), DType: dtype})
	}
	topo := map[string]any{"node": out}
	if len(f.Graph.Functions) > 0 {
		lib, err := libraryJSON(f.Graph.Functions)
		if err != nil {
			return nil, err
		}
		topo["library"] = lib
	}
	mj := map[string]any{"format": "graph-model", "generatedBy": "refit tf2onnx", "convertedBy": "refit tf2onnx (GraphDef)",
		"modelTopology":   topo,
		"weightsManifest": []any{map[string]any{"paths": []string{"weights.bin"}, "weights": specs}}}
	if sig != nil {
		mj["signature"] = map[string]any{"inputs": tensorInfos(sig.Inputs), "outputs": tensorInfos(sig.Outputs)}
	}
	b, err := json.Marshal(mj)
	if err != nil {
		return nil, err
	}
	return fstest.MapFS{"model.json": {Data: b}, "weights.bin": {Data: weights.Bytes()}}, nil
}

// objectGraphKeys reports whether the checkpoint keys are TF2 object-graph paths
// ("layer/kernel/.ATTRIBUTES/VARIABLE_VALUE").
func objectGraphKeys(tensors []*tensor.Tensor) bool {
	for _, t := range tensors {
		if strings.HasSuffix(t.Name, "/.ATTRIBUTES/VARIABLE_VALUE") {
			return true
		}
	}
	return false
}

// neededBy returns the nodes the signature's outputs depend on, in graph order.
func neededBy(nodes []*tfgraph.Node, sig *tfgraph.Signature) ([]*tfgraph.Node, error) {
	byName := map[string]*tfgraph.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	keep := map[string]bool{}
	var stack []string
	for _, k := range slices.Sorted(mapKeys(sig.Outputs)) {
		name := refNode(sig.Outputs[k].Name)
		if byName[name] == nil {
			return nil, fmt.Errorf("%w: tf2onnx: signature output %q names missing node %q", refit.ErrFormat, k, name)
		}
		stack = append(stack, name)
	}
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := byName[name]
		if keep[name] || n == nil {
			continue
		}
		keep[name] = true
		stack = append(stack, inputNames(n)...)
	}
	var out []*tfgraph.Node
	for _, n := range nodes {
		if keep[n.Name] {
			out = append(out, n)
		}
	}
	return out, nil
}

func inputNames(n *tfgraph.Node) []string {
	out := make([]string, len(n.Input))
	for i, in := range n.Input {
		out[i] = refNode(in)
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func tensorInfos(m map[string]*tfgraph.TensorInfo) map[string]any {
	out := map[string]any{}
	for k, ti := range m {
		e := map[string]any{"name": ti.Name, "dtype": dtypeName(ti.DType)}
		if ti.Shape != nil {
			e["tensorShape"] = shapeJSON(ti.Shape)
		}
		out[k] = e
	}
	return out
}

// appendWeight appends t's values as a TF.js weight: float types as float32,
// integer types as int32 (int64 values clamped to the int32 range, as slice bounds
// like INT64_MAX keep their meaning), bool as bool.
func appendWeight(w *bytes.Buffer, t *tensor.Tensor) (string, error) {
	switch t.DType {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.F64:
		v, err := t.Float32s()
		if err != nil {
			return "", err
		}
		for _, x := range v {
			w.Write(binary.LittleEndian.AppendUint32(nil, math.Float32bits(x)))
		}
		return "float32", nil
	case tensor.Bool:
		b, err := t.Bytes()
		if err != nil {
			return "", err
		}
		w.Write(b)
		return "bool", nil
	}
	c, err := cvalFromTensor(t)
	if err != nil {
		return "", err
	}
	if !c.isInt {
		return "", fmt.Errorf("%w: %v weight", refit.ErrUnsupported, t.DType)
	}
	for _, x := range c.i {
		x = max(min(x, math.MaxInt32), math.MinInt32)
		w.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(x))))
	}
	return "int32", nil
}

var dtypeNames = map[tfgraph.DataType]string{1: "DT_FLOAT", 2: "DT_DOUBLE", 3: "DT_INT32", 4: "DT_UINT8", 5: "DT_INT16",
	6: "DT_INT8", 7: "DT_STRING", 9: "DT_INT64", 10: "DT_BOOL", 14: "DT_BFLOAT16", 17: "DT_UINT16", 19: "DT_HALF",
	20: "DT_RESOURCE", 21: "DT_VARIANT", 22: "DT_UINT32", 23: "DT_UINT64"}

func dtypeName(t tfgraph.DataType) string {
	if s, ok := dtypeNames[t]; ok {
		return s
	}
	return "DT_INVALID"
}

func shapeJSON(s *tfgraph.Shape) map[string]any {
	if s.UnknownRank {
		return map[string]any{"unknownRank": true}
	}
	dims := make([]any, len(s.Dims))
	for i, d := range s.Dims {
		dims[i] = map[string]any{"size": strconv.FormatInt(d, 10)}
	}
	return map[string]any{"dim": dims}
}

// attrJSON writes an AttrValue in the proto3 JSON mapping (int64 as strings, bytes
// as base64) that TF.js model.json files use.
func attrJSON(a *tfgraph.Attr, depth int) map[string]any {
	b64 := base64.StdEncoding.EncodeToString
	switch a.Has {
	case tfgraph.AttrS:
		return map[string]any{"s": b64(a.S)}
	case tfgraph.AttrI:
		return map[string]any{"i": strconv.FormatInt(a.I, 10)}
	case tfgraph.AttrF:
		return map[string]any{"f": jsonFloat(a.F)}
	case tfgraph.AttrB:
		return map[string]any{"b": a.B}
	case tfgraph.AttrType:
		return map[string]any{"type": dtypeName(a.Type)}
	case tfgraph.AttrShape:
		return map[string]any{"shape": shapeJSON(a.Shape)}
	case tfgraph.AttrTensor:
		t := a.Tensor
		tj := map[string]any{"dtype": dtypeName(t.DType), "tensorShape": shapeJSON(&t.Shape)}
		if len(t.Float) > 0 {
			fs := make([]any, len(t.Float))
			for i, x := range t.Float {
				fs[i] = jsonFloat(x)
			}
			tj["floatVal"] = fs
		}
		if len(t.Int) > 0 {
			tj["intVal"] = t.Int
		}
		return map[string]any{"tensor": tj}
	case tfgraph.AttrPlaceholder:
		return map[string]any{"placeholder": a.Placeholder}
	case tfgraph.AttrFunc:
		return map[string]any{"func": funcJSON(a.Func, depth)}
	case tfgraph.AttrList:
		l := a.List
		lj := map[string]any{}
		if len(l.S) > 0 {
			s := make([]string, len(l.S))
			for i, x := range l.S {
				s[i] = b64(x)
			}
			lj["s"] = s
		}
		if len(l.I) > 0 {
			s := make([]string, len(l.I))
			for i, x := range l.I {
				s[i] = strconv.FormatInt(x, 10)
			}
			lj["i"] = s
		}
		if len(l.F) > 0 {
			fs := make([]any, len(l.F))
			for i, x := range l.F {
				fs[i] = jsonFloat(x)
			}
			lj["f"] = fs
		}
		if len(l.B) > 0 {
			lj["b"] = l.B
		}
		if len(l.Type) > 0 {
			s := make([]string, len(l.Type))
			for i, x := range l.Type {
				s[i] = dtypeName(x)
			}
			lj["type"] = s
		}
		if len(l.Shape) > 0 {
			s := make([]any, len(l.Shape))
			for i, x := range l.Shape {
				s[i] = shapeJSON(x)
			}
			lj["shape"] = s
		}
		if len(l.Func) > 0 {
			s := make([]any, len(l.Func))
			for i, x := range l.Func {
				s[i] = funcJSON(x, depth)
			}
			lj["func"] = s
		}
		return map[string]any{"list": lj}
	}
	return map[string]any{}
}

func funcJSON(f *tfgraph.Func, depth int) map[string]any {
	attrs := map[string]any{}
	if depth < 32 {
		for k, a := range f.Attr {
			attrs[k] = attrJSON(a, depth+1)
		}
	}
	return map[string]any{"name": f.Name, "attr": attrs}
}

// jsonFloat keeps non-finite floats representable: the proto3 JSON mapping writes
// them as strings.
func jsonFloat(x float32) any {
	switch {
	case math.IsNaN(float64(x)):
		return "NaN"
	case math.IsInf(float64(x), 1):
		return "Infinity"
	case math.IsInf(float64(x), -1):
		return "-Infinity"
	}
	return float64(x)
}

// maxInlineConst bounds the constants of library functions, which travel inline in
// the JSON (top-level constants go to the weights).
const maxInlineConst = 1 << 16

// libraryJSON writes the function library in TF.js's JSON form; function constants
// keep their values inline.
func libraryJSON(funcs []*tfgraph.Function) (map[string]any, error) {
	var out []any
	for _, fn := range funcs {
		args := func(as []tfgraph.Arg) []any {
			r := make([]any, len(as))
			for i, a := range as {
				r[i] = map[string]any{"name": a.Name, "type": dtypeName(a.Type)}
			}
			return r
		}
		var nodes []any
		for _, n := range fn.Nodes {
			attrs := map[string]any{}
			for k, a := range n.Attr {
				attrs[k] = attrJSON(a, 0)
			}
			if a := n.Attr["value"]; n.Op == "Const" && a != nil && a.Tensor != nil && a.Tensor.DType != tfgraph.DTString {
				tj, err := inlineTensor(n.Name, a.Tensor)
				if err != nil {
					return nil, err
				}
				attrs["value"] = map[string]any{"tensor": tj}
			}
			op, inputs := n.Op, n.Input
			if op == "ReadVariableOp" { // the resource argument is bound to a constant
				op, inputs = "Identity", dataInputs(&gNode{Input: n.Input})[:min(1, len(n.Input))]
			}
			node := map[string]any{"name": n.Name, "op": op, "attr": attrs}
			if len(inputs) > 0 {
				node["input"] = inputs
			}
			nodes = append(nodes, node)
		}
		out = append(out, map[string]any{
			"signature": map[string]any{"name": fn.Name, "inputArg": args(fn.Inputs), "outputArg": args(fn.Outputs)},
			"nodeDef":   nodes, "ret": fn.Ret})
	}
	return map[string]any{"function": out}, nil
}

// inlineTensor writes a function constant with all its values as floatVal or intVal.
func inlineTensor(name string, tp *tfgraph.Tensor) (map[string]any, error) {
	t := *tp
	t.ContentOffset = 0
	budget := refit.NewBudget(maxInlineConst * 8)
	v, err := t.Value(name, bytes.NewReader(tp.Content), budget)
	if err != nil {
		return nil, err
	}
	if v.NumElements() > maxInlineConst {
		return nil, fmt.Errorf("%w: tf2onnx: function constant %q of %d values", refit.ErrUnsupported, name, v.NumElements())
	}
	c, err := cvalFromTensor(v)
	if err != nil {
		return nil, err
	}
	tj := map[string]any{"dtype": dtypeName(t.DType), "tensorShape": shapeJSON(&t.Shape)}
	if c.isInt {
		tj["intVal"] = c.i
	} else {
		fs := make([]any, len(c.f))
		for i, x := range c.f {
			fs[i] = jsonFloat(x)
		}
		tj["floatVal"] = fs
	}
	return tj, nil
}

// restoreKeys maps the variable nodes of the top-level graph to their checkpoint
// keys by following the saver: RestoreV2 reads the keys of its tensor_names, and an
// AssignVariableOp (or Assign) of its output i stores key i into a variable, either
// directly (TF1 graphs) or through the resource arguments of a restore function
// called with the variables (TF2 SavedModels, whose keys are object-graph paths the
// variables' names do not reveal).
func restoreKeys(g *tfgraph.Graph) map[string]string {
	funcs := map[string]*tfgraph.Function{}
	for _, f := range g.Functions {
		funcs[f.Name] = f
	}
	keys := map[string]string{}
	isVar := func(n *tfgraph.Node) bool {
		return n != nil && (n.Op == "VarHandleOp" || n.Op == "VariableV2" || n.Op == "Variable")
	}
	// walk visits one node list; bind maps a function argument to the top-level
	// variable passed for it ("" when none).
	var walk func(nodes []*tfgraph.Node, bind map[string]string, inFunc bool, depth int)
	visited := 0 // calls may branch exponentially: the walk stops where inlining would
	walk = func(nodes []*tfgraph.Node, bind map[string]string, inFunc bool, depth int) {
		visited += len(nodes)
		if depth > maxInlineDepth || visited > maxInlineNodes {
			return
		}
		local := map[string]*tfgraph.Node{}
		for _, n := range nodes {
			local[n.Name] = n
		}
		// trace follows Identities from ref to the node (and output) or argument it reads.
		trace := func(ref string) (*tfgraph.Node, int, string) {
			for range 64 {
				parts := strings.Split(strings.TrimPrefix(ref, "^"), ":")
				n := local[parts[0]]
				if n == nil {
					if inFunc && len(parts) == 1 {
						return nil, 0, parts[0]
					}
					return nil, 0, ""
				}
				idx, _ := strconv.Atoi(parts[len(parts)-1])
				if len(parts) == 1 {
					idx = 0
				}
				if n.Op != "Identity" || len(n.Input) == 0 {
					return n, idx, ""
				}
				ref = n.Input[0]
			}
			return nil, 0, ""
		}
		target := func(ref string) string {
			n, _, arg := trace(ref)
			switch {
			case isVar(n) && !inFunc:
				return n.Name
			case arg != "":
				return bind[arg]
			}
			return ""
		}
		for _, n := range nodes {
			switch n.Op {
			case "AssignVariableOp", "Assign":
				if len(n.Input) < 2 {
					continue
				}
				src, i, _ := trace(n.Input[1])
				if src == nil || src.Op != "RestoreV2" || len(src.Input) < 2 {
					continue
				}
				names, _, _ := trace(src.Input[1])
				if names == nil || names.Op != "Const" || names.Attr["value"] == nil || names.Attr["value"].Tensor == nil {
					continue
				}
				if s := names.Attr["value"].Tensor.String; i >= 0 && i < len(s) {
					if v := target(n.Input[0]); v != "" {
						keys[v] = string(s[i])
					}
				}
			case "StatefulPartitionedCall", "PartitionedCall":
				a := n.Attr["f"]
				if a == nil || a.Func == nil || funcs[a.Func.Name] == nil {
					continue
				}
				f := funcs[a.Func.Name]
				inner := map[string]string{}
				for j, arg := range f.Inputs {
					if j < len(n.Input) {
						inner[arg.Name] = target(n.Input[j])
					}
				}
				walk(f.Nodes, inner, true, depth+1)
			}
		}
	}
	walk(g.Nodes, nil, false, 0)
	return keys
}
