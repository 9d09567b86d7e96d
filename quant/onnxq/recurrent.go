package onnxq

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// recurrentOps are the recurrent operators whose weights (inputs W and R) are stored
// in int8 behind a DequantizeLinear when their op type is selected: Refit has no
// integer kernel for them (ONNX Runtime's DynamicQuantizeLSTM is a contrib operator),
// so they compute in float on weights rounded to 8 bits, and the file shrinks.
var recurrentOps = map[string]bool{"LSTM": true, "GRU": true, "RNN": true}

// storeTarget is a recurrent node and the float initializers its W and R come from.
type storeTarget struct {
	label   string
	op      string
	sources []storeSource
}

// storeSource is one weight initializer: where it lives and its name.
type storeSource struct {
	sc   int
	name string
}

// reshaping ops pass weight values through unchanged in value, only rearranged;
// exporters put them between a weight and an LSTM (torch slices and concatenates
// the gates of weight_ih into ONNX order inside an If branch).
var reshaping = map[string]bool{"Slice": true, "Concat": true, "Unsqueeze": true, "Squeeze": true,
	"Reshape": true, "Transpose": true, "Identity": true, "Gather": true, "Split": true, "Flatten": true}

// findStore traces n's W and R back through reshaping nodes (and out of subgraphs to
// the graph that holds the weight) to float initializers.
func (q *Quantizer) findStore(sc int, n *onnxpb.NodeProto, label string, skip func(string)) {
	in := n.GetInput()
	if len(in) < 3 {
		skip("W or R missing")
		return
	}
	st := &storeTarget{label: label, op: n.GetOpType()}
	seen := map[storeSource]bool{}
	traced := map[storeSource]bool{} // each value once: Concats of Concats stay linear
	producers := map[int]map[string]*onnxpb.NodeProto{}
	var why string
	var trace func(sc int, name string, depth int)
	trace = func(sc int, name string, depth int) {
		if why != "" || traced[storeSource{sc, name}] {
			return
		}
		traced[storeSource{sc, name}] = true
		if depth > 16 {
			why = "weight comes through more than 16 reshaping nodes"
			return
		}
		if tp, at := initializerIn(q.scopes, sc, name); tp != nil {
			if q.scopes[at].e.IsInput(name) {
				why = fmt.Sprintf("weight %s is also a graph input (callers may override it)", name)
				return
			}
			if tp.GetDataType() != graph.ElemFloat {
				why = fmt.Sprintf("weight %s is not float32", name)
				return
			}
			src := storeSource{at, name}
			if !seen[src] {
				seen[src] = true
				st.sources = append(st.sources, src)
			}
			return
		}
		// Find the producer, in this scope or an enclosing one.
		for s := sc; s >= 0; s = q.scopes[s].parent {
			if !q.scopes[s].vars[name] {
				continue
			}
			if producers[s] == nil {
				producers[s] = q.scopes[s].e.Producers()
			}
			p := producers[s][name]
			if p == nil || !reshaping[p.GetOpType()] || !graph.IsDefaultDomain(p) {
				why = fmt.Sprintf("weight %s is computed (not a reshaped initializer)", name)
				return
			}
			data := p.GetInput()[:1]
			if p.GetOpType() == "Concat" {
				data = p.GetInput()
			}
			for _, d := range data {
				trace(s, d, depth+1)
			}
			return
		}
		why = fmt.Sprintf("weight %s is not found", name)
	}
	trace(sc, in[1], 0)
	wSources := len(st.sources)
	trace(sc, in[2], 0)
	if why != "" {
		skip(why)
		return
	}
	// W and R are separate targets: with a zero initial state and one step, R never
	// reaches the output, while W may need finer codes (Fit ranks them apart).
	r := &storeTarget{label: label + recurrenceSuffix, op: st.op, sources: st.sources[wSources:]}
	st.sources = st.sources[:wSources]
	// A weight read by several nodes (silero's two LSTMs, one per sample rate) belongs
	// to the first: one target, one mode, whichever node reads it.
	owned := map[storeSource]bool{}
	for _, t := range q.stores {
		for _, src := range t.sources {
			owned[src] = true
		}
	}
	for _, t := range []*storeTarget{st, r} {
		t.sources = slices.DeleteFunc(t.sources, func(src storeSource) bool { return owned[src] })
		if len(t.sources) > 0 {
			q.stores = append(q.stores, t)
		}
	}
}

// recurrenceSuffix labels the target of a recurrent node's R (recurrence weights);
// the node's own label stands for its W.
const recurrenceSuffix = " R"

// applyStores replaces each selected recurrent node's source weights by int8 codes
// and a DequantizeLinear (per row: one scale per output unit of every gate) that
// writes the original name, so every reader, in any scope, reads it unchanged.
func (s *applyState) applyStores(ctx context.Context, mode func(string) Mode) ([]NodeReport, error) {
	o := &s.q.opts
	done := map[storeSource]string{}
	var out []NodeReport
	for _, st := range s.q.stores {
		m := mode(st.label)
		if m == Float {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nr := NodeReport{Name: st.label, OpType: st.op}
		var names, shared []string
		worst, wide := 0.0, false
		for _, src := range st.sources {
			if by, ok := done[src]; ok {
				shared = append(shared, src.name+" (with "+by+")")
				continue
			}
			wide = wide || m == Weights16
			done[src] = st.label
			e := s.scopes[src.sc].e
			tp := e.Initializer(src.name)
			v := constantIn(s.scopes, src.sc, src.name)
			if tp == nil || v == nil {
				return nil, fmt.Errorf("onnxq: %s: weight %s vanished", st.label, src.name)
			}
			dims := slices.Clone(v.Shape)
			w := v.Float32s()
			axis := max(0, len(dims)-2)
			perChannel := len(dims) >= 2
			qw := quantizeWeight(w, dims, axis, perChannel, true, o.ReduceRange)
			if m == Weights16 {
				qw = quantizeWeightIn(w, dims, axis, perChannel, true, int16Range)
			}
			var scaleDims []int64
			if len(qw.scales) > 1 {
				scaleDims = []int64{int64(len(qw.scales))}
			}
			e.RemoveInitializer(src.name)
			s.e = e
			var in []string
			if m == Weights16 {
				in = s.wideInits(src.name, dims, qw, scaleDims)
			} else {
				wq, sc, zp := s.weightInits(src.name, dims, qw, scaleDims, true)
				in = []string{wq, sc, zp}
			}
			s.e = s.scopes[0].e
			dq := graph.NewNode("DequantizeLinear", e.Names.Fresh(src.name+"_DequantizeLinear"), in, []string{src.name})
			if len(qw.scales) > 1 {
				graph.SetInt(dq, "axis", int64(axis))
			}
			// Reads only initializers: first in its graph is a valid order.
			e.G.Node = append([]*onnxpb.NodeProto{dq}, e.G.Node...)
			names = append(names, src.name)
			worst = max(worst, qw.err)
			nr.Before += int64(4 * len(w))
			nr.After += weightBytes(qw)
			if m == Weights16 {
				nr.After += int64(len(qw.q))
			}
		}
		nr.Error = worst
		nr.Action = "int8 stored weights, float " + st.op + " (DequantizeLinear per row)"
		if wide {
			nr.Action = "int16 stored weights, float " + st.op + " (DequantizeLinear per row, opset 21)"
		}
		if len(names) > 0 {
			nr.Note = "quantized " + strings.Join(names, ", ")
		}
		if len(shared) > 0 {
			nr.Note = strings.TrimPrefix(nr.Note+"; shares "+strings.Join(shared, ", "), "; ")
		}
		out = append(out, nr)
	}
	return out, nil
}
