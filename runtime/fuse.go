package runtime

import "github.com/refit-ml/refit/internal/parallel"

// fuseActivations folds each Relu that is the only consumer of a Conv's, Add's or
// DequantizeLinear's output into that node (Node.relu), so the activation runs in its output pass
// instead of a separate pass over memory. It rewrites top-level nodes only, and
// recompiles g when anything changed. The fused Conv takes over the Relu's output
// name; the intermediate value disappears from the graph.
func (s *Session) fuseActivations(g *Graph) error {
	if g.plan == nil {
		return nil
	}
	producers := map[string]*Node{}
	for _, n := range g.Nodes {
		if (n.OpType == "Conv" || n.OpType == "Add" || n.OpType == "DequantizeLinear") && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && !n.relu {
			producers[n.Outputs[0]] = n
		}
	}
	removed := map[*Node]bool{}
	for _, r := range g.Nodes {
		if r.OpType != "Relu" || !isONNXDomain(r.Domain) || len(r.Inputs) != 1 || len(r.Outputs) != 1 || r.Outputs[0] == "" {
			continue
		}
		name := r.Inputs[0]
		cv := producers[name]
		if cv == nil || g.plan.uses[name] != 1 || g.plan.pinned[name] {
			continue
		}
		cv.relu = true
		cv.Outputs = []string{r.Outputs[0]}
		delete(producers, name)
		removed[r] = true
	}
	if len(removed) == 0 {
		return nil
	}
	kept := g.Nodes[:0:0]
	for _, n := range g.Nodes {
		if !removed[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	return s.compile(g, nil)
}

func isONNXDomain(d string) bool { return d == "" || d == "ai.onnx" }

// reluInPlace sets negative elements of a numeric slice to 0 (for Add with a fused
// Relu). Unsigned and other types are left as they are.
func reluInPlace(threads int, data any) {
	switch d := data.(type) {
	case []float32:
		parallel.For(threads, len(d), 1<<15, func(lo, hi int) { biasActivation(d[lo:hi], 0, true) })
	case []float64:
		reluSigned(d)
	case []int8:
		reluSigned(d)
	case []int16:
		reluSigned(d)
	case []int32:
		reluSigned(d)
	case []int64:
		reluSigned(d)
	}
}

func reluSigned[T float64 | int8 | int16 | int32 | int64](s []T) {
	for i, v := range s {
		if v < 0 {
			s[i] = 0
		}
	}
}
