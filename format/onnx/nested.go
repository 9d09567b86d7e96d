package onnx

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// nestedWeights returns the floating-point tensors held inside subgraphs (If, Loop
// and Scan bodies, at any depth): their initializers and their Constant nodes'
// values, in a fixed depth-first order (node by node, attribute by attribute; in
// each subgraph its initializers, then its nodes' Constant values and the subgraphs
// below them), so a clone of mp lists the same tensors in the same order. Silero VAD
// v6 keeps every weight there.
func nestedWeights(mp *onnxpb.ModelProto) []*onnxpb.TensorProto {
	var out []*onnxpb.TensorProto
	isFloat := func(tp *onnxpb.TensorProto) bool {
		d, err := DTypeOf(tp.GetDataType())
		return err == nil && d.Float() && tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL
	}
	var nodes func(ns []*onnxpb.NodeProto, inSub bool)
	nodes = func(ns []*onnxpb.NodeProto, inSub bool) {
		for _, n := range ns {
			for _, a := range n.GetAttribute() {
				if inSub && IsConstantNode(n) && a.GetName() == "value" && a.GetT() != nil && isFloat(a.GetT()) {
					out = append(out, a.GetT())
				}
				subs := a.GetGraphs()
				if a.GetG() != nil {
					subs = append([]*onnxpb.GraphProto{a.GetG()}, subs...)
				}
				for _, g := range subs {
					for _, tp := range g.GetInitializer() {
						if isFloat(tp) {
							out = append(out, tp)
						}
					}
					nodes(g.GetNode(), true)
				}
			}
		}
	}
	nodes(mp.GetGraph().GetNode(), false)
	return out
}

// nestedName is the tensor name of a nested weight: its own name, or for a Constant
// value (which is often unnamed) the name of the node output it feeds; taken names
// get a numeric suffix.
func nestedName(tp *onnxpb.TensorProto, output string, taken map[string]bool, next map[string]int) string {
	base := tp.GetName()
	if base == "" {
		base = output
	}
	if base == "" {
		base = "subgraph_weight"
	}
	name := base
	// next remembers each base's last suffix: thousands of branches naming their
	// weight alike stay linear.
	for taken[name] {
		next[base] = max(next[base], 1) + 1
		name = fmt.Sprintf("%s#%d", base, next[base])
	}
	taken[name] = true
	return name
}

// constantOutputs maps each Constant value tensor inside subgraphs to the name of
// the node output it makes.
func constantOutputs(mp *onnxpb.ModelProto) map[*onnxpb.TensorProto]string {
	out := map[*onnxpb.TensorProto]string{}
	var walk func(ns []*onnxpb.NodeProto)
	walk = func(ns []*onnxpb.NodeProto) {
		for _, n := range ns {
			for _, a := range n.GetAttribute() {
				if IsConstantNode(n) && a.GetT() != nil {
					out[a.GetT()] = n.GetOutput()[0]
				}
				for _, g := range append([]*onnxpb.GraphProto{a.GetG()}, a.GetGraphs()...) {
					if g != nil {
						walk(g.GetNode())
					}
				}
			}
		}
	}
	walk(mp.GetGraph().GetNode())
	return out
}

// listNested appends the subgraph weights of f to m as tensors (data in memory, as
// the proto holds it) and records them in src for Encode (nil for one that is not a
// valid tensor, which stays unlisted).
func (f *File) listNested(m []*tensor.Tensor, src *Source) ([]*tensor.Tensor, error) {
	tps := nestedWeights(f.Proto)
	if len(tps) == 0 {
		return m, nil
	}
	taken := map[string]bool{}
	for _, t := range m {
		taken[t.Name] = true
	}
	outputs := constantOutputs(f.Proto)
	next := map[string]int{}
	for _, tp := range tps {
		named := shallowCopy(tp)
		named.Name = proto.String(nestedName(tp, outputs[tp], taken, next))
		t, err := protoTensor(named, nil, f.res)
		if err != nil {
			// Left in the graph, unlisted, as LiftConstants leaves a malformed
			// Constant: the runtime reports it when it runs.
			src.nested = append(src.nested, nil)
			continue
		}
		m = append(m, t)
		src.nested = append(src.nested, t)
	}
	return m, nil
}

// setNested writes the nested weights that m's tensors replaced into a copy of mp's
// graph (mp is a shallow copy whose graph is shared with the Source) and removes
// them from byName.
func setNested(mp *onnxpb.ModelProto, src *Source, byName map[string]*tensor.Tensor) error {
	changed := false
	for _, t := range src.nested {
		if t != nil && byName[t.Name] != t {
			changed = true
		}
	}
	if !changed {
		for _, t := range src.nested {
			if t != nil {
				delete(byName, t.Name)
			}
		}
		return nil
	}
	mp.Graph = proto.Clone(mp.GetGraph()).(*onnxpb.GraphProto)
	tps := nestedWeights(mp)
	if len(tps) != len(src.nested) {
		return fmt.Errorf("onnx: the graph holds %d subgraph weights, decoded %d", len(tps), len(src.nested))
	}
	for i, old := range src.nested {
		if old == nil {
			continue // not listed (malformed): written as it was
		}
		t := byName[old.Name]
		if t == nil {
			return fmt.Errorf("onnx: the subgraph weight %q is missing from the model", old.Name)
		}
		delete(byName, old.Name)
		if t == old {
			continue
		}
		tp := tps[i]
		if err := checkReplacement(tp, t); err != nil {
			return err
		}
		b, err := t.Bytes()
		if err != nil {
			return fmt.Errorf("onnx: subgraph weight %q: %w", t.Name, err)
		}
		pr := tp.ProtoReflect()
		for _, num := range dataFields {
			if fd := pr.Descriptor().Fields().ByNumber(num); fd != nil {
				pr.Clear(fd)
			}
		}
		tp.RawData = b
	}
	return nil
}
