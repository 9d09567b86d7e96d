package tf2onnx

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/refit-ml/refit"
)

// TensorFlow's lowered (v1) conditionals: tf.cond in a TF1 graph, or a functional If
// lowered by TensorFlow before export, is a set of Switch nodes sharing one predicate.
// Switch:1 carries its data into the then branch, Switch:0 into the else branch, and
// each result of the cond is a Merge of one value from either branch.
//
// extractConds collapses every such cond into one ifOp node (converted to an ONNX If
// like the functional form): the nodes reachable from the Switch outputs along data
// edges, up to the Merges, become the branches, with the Switch outputs replaced by
// the Switch's data input; the Merges become Identities of the If's outputs. Inner
// conds are collapsed first, so an outer branch holds the inner cond as one node.
// Loop Switches (driven by a LoopCond) are left to extractWhileFrames.

// Limits on hostile graphs: the number of conds, their nesting, and the node visits
// spent finding the branches (each round walks every cond's branches again).
const (
	maxConds     = 1 << 10
	maxCondDepth = 32
	maxCondWork  = 1 << 24
)

// condGroup is one lowered cond before it is collapsed.
type condGroup struct {
	pred     string
	switches map[string]*gNode
	order    []*gNode       // the Switches in graph order
	side     map[string]int // branch node -> 1 then, 0 else
	merges   []*gNode       // in graph order
}

// extractConds returns nodes with every lowered cond replaced by an ifOp node; graphs
// without cond Switches come back unchanged. Each round collapses the innermost conds
// (those whose branches hold no other cond's Switch) whose nodes do not overlap.
func extractConds(nodes []*gNode) ([]*gNode, error) {
	work := 0
	for range maxCondDepth + 1 {
		byName := map[string]*gNode{}
		for _, n := range nodes {
			if n != nil {
				byName[n.Name] = n
			}
		}
		groups, err := condGroups(nodes, byName, &work)
		if err != nil {
			return nil, err
		}
		if len(groups) == 0 {
			return dropControlMerges(nodes, byName), nil
		}
		if len(groups) > maxConds {
			return nil, fmt.Errorf("%w: tf2onnx: more than %d conditionals", refit.ErrUnsupported, maxConds)
		}
		taken := map[string]bool{}
		var inner []*condGroup
		for _, g := range groups {
			free := true
			for name := range g.side {
				if n := byName[name]; taken[name] || (n.Op == "Switch" && isCondSwitch(n, byName)) {
					free = false
					break
				}
			}
			for _, sw := range g.order {
				free = free && !taken[sw.Name]
			}
			for _, m := range g.merges {
				free = free && !taken[m.Name]
			}
			if !free {
				continue
			}
			for name := range g.side {
				taken[name] = true
			}
			for _, sw := range g.order {
				taken[sw.Name] = true
			}
			for _, m := range g.merges {
				taken[m.Name] = true
			}
			inner = append(inner, g)
		}
		if len(inner) == 0 {
			return nil, fmt.Errorf("%w: tf2onnx: conditionals whose branches enclose each other", refit.ErrFormat)
		}
		for _, g := range inner {
			if nodes, err = collapseCond(nodes, byName, g); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: tf2onnx: conditionals nested deeper than %d", refit.ErrUnsupported, maxCondDepth)
}

// isCondSwitch reports whether a Switch belongs to a cond rather than a while loop.
func isCondSwitch(n *gNode, byName map[string]*gNode) bool {
	ins := dataInputs(n)
	if len(ins) != 2 {
		return false
	}
	p := byName[refNode(ins[1])]
	return p != nil && p.Op != "LoopCond"
}

// condGroups finds the conds of nodes, in graph order of their first Switch.
func condGroups(nodes []*gNode, byName map[string]*gNode, work *int) ([]*condGroup, error) {
	consumers := map[string][]*gNode{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for _, in := range n.Input {
			if in != "" && in[0] != '^' {
				consumers[refNode(in)] = append(consumers[refNode(in)], n)
			}
		}
	}
	byPred := map[string]*condGroup{}
	var groups []*condGroup
	for _, n := range nodes {
		if n == nil || n.Op != "Switch" || !isCondSwitch(n, byName) {
			continue
		}
		pred := dataInputs(n)[1]
		g := byPred[pred]
		if g == nil {
			g = &condGroup{pred: pred, switches: map[string]*gNode{}, side: map[string]int{}}
			byPred[pred] = g
			groups = append(groups, g)
		}
		g.switches[n.Name] = n
		g.order = append(g.order, n)
	}
	for _, g := range groups {
		seenMerge := map[string]bool{}
		for _, side := range []int{1, 0} {
			var stack []*gNode
			for _, sw := range g.order {
				for _, c := range consumers[sw.Name] {
					for _, in := range dataInputs(c) {
						if refNode(in) == sw.Name && refIndex(in) == side {
							stack = append(stack, c)
							break
						}
					}
				}
			}
			for len(stack) > 0 {
				n := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if *work++; *work > maxCondWork {
					return nil, fmt.Errorf("%w: tf2onnx: conditionals' branches too large to collect", refit.ErrUnsupported)
				}
				if n.Op == "Merge" {
					seenMerge[n.Name] = true
					continue
				}
				if _, ok := g.side[n.Name]; ok || g.switches[n.Name] != nil {
					continue
				}
				g.side[n.Name] = side
				stack = append(stack, consumers[n.Name]...)
			}
		}
		for _, n := range nodes {
			if n != nil && seenMerge[n.Name] {
				g.merges = append(g.merges, n)
			}
		}
	}
	return groups, nil
}

// collapseCond replaces g's Switches, branch nodes and Merges by one ifOp node.
func collapseCond(nodes []*gNode, byName map[string]*gNode, g *condGroup) ([]*gNode, error) {
	var first *gNode
	for _, n := range nodes {
		if n != nil && g.switches[n.Name] != nil {
			first = n
			break
		}
	}
	ifName := first.Name + "/_refit_cond"
	for i := 1; byName[ifName] != nil; i++ {
		ifName = first.Name + "/_refit_cond_" + strconv.Itoa(i)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: tf2onnx: conditional on %q: %s", refit.ErrFormat, g.pred, fmt.Sprintf(format, args...))
	}
	// sideOf says which branch a value reference belongs to: 1 then, 0 else, -1 outside.
	sideOf := func(ref string) int {
		if sw := g.switches[refNode(ref)]; sw != nil {
			return refIndex(ref)
		}
		if s, ok := g.side[refNode(ref)]; ok {
			return s
		}
		return -1
	}
	// through maps a Switch output to the Switch's data input.
	through := func(ref string) string {
		if sw := g.switches[refNode(ref)]; sw != nil {
			return dataInputs(sw)[0]
		}
		return ref
	}
	br := &ifBranches{}
	outer := []string{g.pred}
	seenOuter := map[string]bool{g.pred: true}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		s, ok := g.side[n.Name]
		if !ok {
			continue
		}
		m := *n
		m.Input = nil
		for _, in := range n.Input {
			if in != "" && in[0] == '^' {
				if _, inside := g.side[refNode(in)]; inside {
					m.Input = append(m.Input, in)
				}
				continue // ordering against outer nodes comes from the If node
			}
			if is := sideOf(in); is >= 0 && is != s {
				return nil, bad("node %q of one branch reads %q of the other", n.Name, in)
			}
			in = through(in)
			m.Input = append(m.Input, in)
			if sideOf(in) < 0 && !seenOuter[in] {
				seenOuter[in] = true
				outer = append(outer, in)
			}
		}
		if m.branches != nil { // an inner cond collapsed before: its branches may read our Switches
			m.branches = mapBranchRefs(m.branches, through)
		}
		if s == 1 {
			br.then = append(br.then, &m)
		} else {
			br.els = append(br.els, &m)
		}
	}
	for _, sw := range g.order {
		if in := dataInputs(sw)[0]; !seenOuter[in] {
			seenOuter[in] = true
			outer = append(outer, in)
		}
	}
	replaced := map[string]*gNode{}
	for k, mg := range g.merges {
		ins := dataInputs(mg)
		if len(ins) != 2 {
			return nil, bad("Merge %q has %d inputs", mg.Name, len(ins))
		}
		s0, s1 := sideOf(ins[0]), sideOf(ins[1])
		if s0 < 0 || s1 < 0 || s0 == s1 {
			return nil, bad("Merge %q does not join the two branches", mg.Name)
		}
		then, els := ins[0], ins[1]
		if s0 == 0 {
			then, els = els, then
		}
		br.thenOut = append(br.thenOut, through(then))
		br.elsOut = append(br.elsOut, through(els))
		ref := ifName
		if k > 0 {
			ref += ":" + strconv.Itoa(k)
		}
		replaced[mg.Name] = &gNode{Name: mg.Name, Op: "Identity", Input: []string{ref}}
	}
	ifNode := &gNode{Name: ifName, Op: ifOp, Input: outer, branches: br}
	removed := func(name string) bool {
		_, inside := g.side[name]
		return inside || g.switches[name] != nil
	}
	var out []*gNode
	placed := false
	for _, n := range nodes {
		if n == nil {
			continue
		}
		if removed(n.Name) {
			if !placed {
				out = append(out, ifNode)
				placed = true
			}
			continue
		}
		if r := replaced[n.Name]; r != nil {
			out = append(out, r)
			continue
		}
		if slices.ContainsFunc(n.Input, func(in string) bool { return removed(refNode(in)) }) {
			m := *n
			m.Input = nil
			for _, in := range n.Input {
				if !removed(refNode(in)) {
					m.Input = append(m.Input, in)
				} else if in[0] != '^' {
					return nil, bad("node %q reads %q of a branch without a Merge", n.Name, in)
				}
			}
			n = &m
		}
		out = append(out, n)
	}
	return out, nil
}

// mapBranchRefs returns a copy of br whose nodes and outputs read f(ref) for every data
// reference, recursively through nested conds.
func mapBranchRefs(br *ifBranches, f func(string) string) *ifBranches {
	nodes := func(ns []*gNode) []*gNode {
		out := make([]*gNode, len(ns))
		for i, n := range ns {
			m := *n
			m.Input = make([]string, len(n.Input))
			for k, in := range n.Input {
				if in != "" && in[0] != '^' {
					in = f(in)
				}
				m.Input[k] = in
			}
			if m.branches != nil {
				m.branches = mapBranchRefs(m.branches, f)
			}
			out[i] = &m
		}
		return out
	}
	refs := func(rs []string) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	return &ifBranches{then: nodes(br.then), els: nodes(br.els), thenOut: refs(br.thenOut), elsOut: refs(br.elsOut)}
}

// dropControlMerges removes the Merges that no node reads as data: after constant
// folding, a cond's "branch_executed" Merge joins two constants and only orders other
// nodes. Control dependencies on them go too.
func dropControlMerges(nodes []*gNode, byName map[string]*gNode) []*gNode {
	read := map[string]bool{}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for _, in := range n.Input {
			if in != "" && in[0] != '^' {
				read[refNode(in)] = true
			}
		}
	}
	drop := map[string]bool{}
	for _, n := range nodes {
		if n == nil || n.Op != "Merge" || read[n.Name] {
			continue
		}
		loop := false
		for _, in := range dataInputs(n) {
			if p := byName[refNode(in)]; p == nil || p.Op == "Enter" || p.Op == "NextIteration" {
				loop = true
			}
		}
		if !loop {
			drop[n.Name] = true
		}
	}
	if len(drop) == 0 {
		return nodes
	}
	out := make([]*gNode, 0, len(nodes))
	for _, n := range nodes {
		if n == nil || drop[n.Name] {
			continue
		}
		if slices.ContainsFunc(n.Input, func(in string) bool { return drop[refNode(in)] }) {
			m := *n
			m.Input = slices.DeleteFunc(slices.Clone(n.Input), func(in string) bool { return drop[refNode(in)] })
			n = &m
		}
		out = append(out, n)
	}
	return out
}
