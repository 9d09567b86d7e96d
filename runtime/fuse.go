package runtime

// fuseActivations folds each Relu that is the only consumer of a Conv's output into
// the Conv (Node.relu), so the activation runs in the convolution's output pass
// instead of a separate pass over memory. It rewrites top-level nodes only, and
// recompiles g when anything changed. The fused Conv takes over the Relu's output
// name; the intermediate value disappears from the graph.
func (s *Session) fuseActivations(g *Graph) error {
	if g.plan == nil {
		return nil
	}
	convs := map[string]*Node{}
	for _, n := range g.Nodes {
		if n.OpType == "Conv" && isONNXDomain(n.Domain) && len(n.Outputs) == 1 && !n.relu {
			convs[n.Outputs[0]] = n
		}
	}
	removed := map[*Node]bool{}
	for _, r := range g.Nodes {
		if r.OpType != "Relu" || !isONNXDomain(r.Domain) || len(r.Inputs) != 1 || len(r.Outputs) != 1 || r.Outputs[0] == "" {
			continue
		}
		name := r.Inputs[0]
		cv := convs[name]
		if cv == nil || g.plan.uses[name] != 1 || g.plan.pinned[name] {
			continue
		}
		cv.relu = true
		cv.Outputs = []string{r.Outputs[0]}
		delete(convs, name)
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
