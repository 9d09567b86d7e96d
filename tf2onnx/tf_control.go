package tf2onnx

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// TensorFlow's lowered (v1) control flow: a while loop is a frame of nodes entered
// through Enter nodes; each loop variable runs Enter -> Merge -> Switch, the condition
// computed from the Merges feeds LoopCond and every Switch, Switch:1 feeds the body,
// the body's result goes back to the Merge through NextIteration, and Switch:0 leaves
// the frame through Exit. Enter nodes with is_constant are loop invariants.
//
// extractWhileFrames replaces every outermost frame by one synthetic node (whileOp)
// that reads the frame's outer inputs, so the rest of the graph stays acyclic; the
// Exits become Identities of the synthetic node's outputs. Converting the synthetic
// node builds an ONNX Loop: the condition is converted twice, once in the outer graph
// on the initial values (ONNX checks the condition before the first iteration) and
// once at the end of the body on the updated values.
//
// TensorList / TensorArray accumulators written at the iteration index (tf.map_fn's
// pattern) become scan outputs of the Loop; lists built from a tensor are that tensor
// and reading element i is a Gather.

// whileOp is the operator of the synthetic node standing for a lowered loop; no
// TensorFlow operator has this name.
const whileOp = "LoweredWhile"

// whileFrame is one lowered while loop.
type whileFrame struct {
	name       string
	vars       []*loopVar
	invariants []*gNode          // Enter nodes with is_constant
	loopCond   *gNode            // LoopCond
	cond       []*gNode          // interior nodes the condition needs
	body       []*gNode          // the other interior nodes
	skip       map[string]bool   // accumulator writes, replaced by scan outputs
	exits      map[string]int    // Exit node -> loop variable index
	members    map[string]*gNode // every node of the frame, for constant lookups
	depth      int               // number of loops around this one
}

// maxLoopDepth bounds loop nesting: each level re-examines the nodes inside it.
const maxLoopDepth = 32

// loopVar is one Enter -> Merge -> Switch -> NextIteration -> Merge cycle.
type loopVar struct {
	enter, merge, sw, next *gNode
	// item is set for an accumulator: the value written at the iteration index,
	// which becomes a scan output instead of a loop-carried value.
	item, index string
}

// refNode returns the node name of a value reference ("^n", "n", "n:1").
func refNode(ref string) string {
	return strings.SplitN(strings.TrimPrefix(ref, "^"), ":", 2)[0]
}

// refIndex returns the output index of a value reference.
func refIndex(ref string) int {
	_, k, ok := strings.Cut(ref, ":")
	if !ok {
		return 0
	}
	i, err := strconv.Atoi(k)
	if err != nil {
		return -1
	}
	return i
}

// extractWhileFrames returns nodes with every outermost while frame replaced by a
// synthetic whileOp node carrying the frame; graphs without Enter nodes come back
// unchanged.
func extractWhileFrames(nodes []*gNode, depth int) ([]*gNode, error) {
	byName := map[string]*gNode{}
	position := map[string]int{} // index in nodes: frames keep the graph's order
	consumers := map[string][]*gNode{}
	var enters []*gNode
	for i, n := range nodes {
		if n == nil {
			continue
		}
		byName[n.Name] = n
		position[n.Name] = i
		if n.Op == "Enter" {
			enters = append(enters, n)
		}
	}
	if len(enters) == 0 {
		return nodes, nil
	}
	if depth >= maxLoopDepth {
		return nil, fmt.Errorf("%w: tf2onnx: while loops nested deeper than %d", refit.ErrUnsupported, maxLoopDepth)
	}
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for _, in := range n.Input {
			src := refNode(in)
			consumers[src] = append(consumers[src], n)
		}
	}
	// Frames in order of first appearance.
	var frameNames []string
	frameEnters := map[string][]*gNode{}
	for _, e := range enters {
		f := e.str("frame_name", "")
		if f == "" {
			return nil, fmt.Errorf("%w: tf2onnx: Enter %q without frame_name", refit.ErrFormat, e.Name)
		}
		if _, ok := frameEnters[f]; !ok {
			frameNames = append(frameNames, f)
		}
		frameEnters[f] = append(frameEnters[f], e)
	}
	// The frame of an Exit: Exit <- Switch <- Merge <- Enter.
	exitFrame := func(x *gNode) string {
		sw := byName[refNode(firstInput(x))]
		if sw == nil || sw.Op != "Switch" {
			return ""
		}
		m := byName[refNode(firstInput(sw))]
		if m == nil || m.Op != "Merge" {
			return ""
		}
		for _, in := range dataInputs(m) {
			if e := byName[refNode(in)]; e != nil && e.Op == "Enter" {
				return e.str("frame_name", "")
			}
		}
		return ""
	}
	// Members of a frame: everything reachable from its Enters, stopping after its Exits.
	members := map[string]map[string]*gNode{}
	for _, f := range frameNames {
		seen := map[string]*gNode{}
		stack := append([]*gNode(nil), frameEnters[f]...)
		for _, e := range stack {
			seen[e.Name] = e
		}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n.Op == "Exit" && exitFrame(n) == f {
				continue
			}
			for _, c := range consumers[n.Name] {
				if _, ok := seen[c.Name]; !ok {
					seen[c.Name] = c
					stack = append(stack, c)
				}
			}
		}
		members[f] = seen
	}
	// A frame is nested when one of its Enters lies inside another frame.
	containing := map[string]int{} // node -> number of frames holding it
	for _, f := range frameNames {
		for name := range members[f] {
			containing[name]++
		}
	}
	var outer []string
	for _, f := range frameNames {
		if containing[frameEnters[f][0].Name] == 1 {
			outer = append(outer, f)
		}
	}
	inFrame := map[string]bool{}
	var added []*gNode
	for _, f := range outer {
		for name := range members[f] {
			if inFrame[name] {
				return nil, fmt.Errorf("%w: tf2onnx: node %q belongs to two while frames", refit.ErrFormat, name)
			}
			inFrame[name] = true
		}
		ordered := make([]*gNode, 0, len(members[f]))
		for _, n := range members[f] {
			ordered = append(ordered, n)
		}
		slices.SortFunc(ordered, func(a, b *gNode) int { return cmp.Compare(position[a.Name], position[b.Name]) })
		wf, err := buildFrame(f, frameEnters[f], ordered, members[f], byName)
		if err != nil {
			return nil, err
		}
		wname := f + "/_refit_while"
		for i := 1; byName[wname] != nil; i++ {
			wname = f + "/_refit_while_" + strconv.Itoa(i)
		}
		wf.depth = depth
		w := &gNode{Name: wname, Op: whileOp, frame: wf}
		for _, e := range frameEnters[f] {
			w.Input = append(w.Input, firstInput(e))
		}
		added = append(added, w)
		for _, n := range ordered {
			if k, ok := wf.exits[n.Name]; ok {
				added = append(added, &gNode{Name: n.Name, Op: "Identity", Input: []string{wname + ":" + strconv.Itoa(k)}})
			}
		}
	}
	var out []*gNode
	for _, n := range nodes {
		if n == nil || !inFrame[n.Name] {
			out = append(out, n)
		}
	}
	return append(out, added...), nil
}

func firstInput(n *gNode) string {
	if ins := dataInputs(n); len(ins) > 0 {
		return ins[0]
	}
	return ""
}

// buildFrame sorts the members of frame f into loop variables, invariants, the
// condition and the body.
func buildFrame(f string, enters, ordered []*gNode, members map[string]*gNode, byName map[string]*gNode) (*whileFrame, error) {
	wf := &whileFrame{name: f, skip: map[string]bool{}, exits: map[string]int{}, members: members}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: tf2onnx: while frame %q: %s", refit.ErrFormat, f, fmt.Sprintf(format, args...))
	}
	control := map[string]bool{}
	mergeOf := map[string]*gNode{} // Enter -> Merge
	for _, n := range ordered {
		if n.Op == "Merge" {
			ins := dataInputs(n)
			if len(ins) == 2 {
				if e := byName[refNode(ins[0])]; e != nil && e.Op == "Enter" && e.str("frame_name", "") == f {
					mergeOf[e.Name] = n
				}
			}
		}
	}
	switchOf := map[string]*gNode{} // Merge -> Switch
	for _, n := range ordered {
		if n.Op == "Switch" {
			if m := byName[refNode(firstInput(n))]; m != nil && m.Op == "Merge" {
				switchOf[m.Name] = n
			}
		}
	}
	for _, e := range enters {
		control[e.Name] = true
		if e.boolean("is_constant") {
			wf.invariants = append(wf.invariants, e)
			continue
		}
		m := mergeOf[e.Name]
		if m == nil {
			return nil, bad("Enter %q feeds no Merge", e.Name)
		}
		sw := switchOf[m.Name]
		next := byName[refNode(dataInputs(m)[1])]
		if sw == nil || next == nil || next.Op != "NextIteration" {
			return nil, bad("loop variable %q lacks its Switch or NextIteration", m.Name)
		}
		ins := dataInputs(sw)
		if len(ins) != 2 {
			return nil, bad("Switch %q has %d inputs", sw.Name, len(ins))
		}
		lc := byName[refNode(ins[1])]
		if lc == nil || lc.Op != "LoopCond" {
			return nil, bad("Switch %q is not driven by a LoopCond", sw.Name)
		}
		if wf.loopCond != nil && wf.loopCond != lc {
			return nil, bad("two LoopCond nodes")
		}
		wf.loopCond = lc
		control[m.Name], control[sw.Name], control[next.Name] = true, true, true
		wf.vars = append(wf.vars, &loopVar{enter: e, merge: m, sw: sw, next: next})
	}
	if wf.loopCond == nil || len(dataInputs(wf.loopCond)) != 1 {
		return nil, bad("no LoopCond")
	}
	control[wf.loopCond.Name] = true
	switches := map[string]int{}
	for k, v := range wf.vars {
		switches[v.sw.Name] = k
	}
	for _, n := range ordered {
		if n.Op != "Exit" {
			continue
		}
		in := firstInput(n)
		k, ok := switches[refNode(in)]
		if !ok || refIndex(in) != 0 {
			continue // an inner frame's Exit
		}
		wf.exits[n.Name] = k
		control[n.Name] = true
	}
	// The condition: interior ancestors of LoopCond.
	isCond := map[string]bool{}
	stack := []string{firstInput(wf.loopCond)}
	for len(stack) > 0 {
		name := refNode(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		n := members[name]
		if n == nil || control[name] || isCond[name] {
			continue
		}
		isCond[name] = true
		stack = append(stack, n.Input...)
	}
	for _, n := range ordered {
		switch {
		case control[n.Name]:
		case isCond[n.Name]:
			wf.cond = append(wf.cond, n)
		default:
			wf.body = append(wf.body, n)
		}
	}
	// Accumulators: a list written at the iteration index and passed on.
	for _, v := range wf.vars {
		w := byName[refNode(firstInput(v.next))]
		if w == nil || (w.Op != "TensorListSetItem" && w.Op != "TensorArrayWriteV3") {
			continue
		}
		ins := dataInputs(w)
		carried := ins[0]
		if w.Op == "TensorArrayWriteV3" {
			if len(ins) < 4 {
				return nil, bad("%s %q has %d inputs", w.Op, w.Name, len(ins))
			}
			carried = ins[3]
		}
		if len(ins) < 3 || refNode(carried) != v.sw.Name || refIndex(carried) != 1 {
			continue
		}
		v.item, v.index = ins[2], ins[1]
		wf.skip[w.Name] = true
	}
	return wf, nil
}

// isCounter reports whether ref (through Identities) is Switch:1 of a loop variable
// that starts at the constant 0 and grows by the constant 1 each iteration.
func (c *tfjsConverter) isCounter(wf *whileFrame, ref string) (bool, error) {
	through := func(ref string) string {
		for range 64 {
			n := wf.members[refNode(ref)]
			if n == nil || n.Op != "Identity" {
				return ref
			}
			ref = firstInput(n)
		}
		return ref
	}
	constIs := func(ref string, want int64) (bool, error) {
		v, ok, err := c.constant(refNode(ref))
		if err != nil || !ok {
			return false, err
		}
		return v.len() == 1 && v.ints()[0] == want, nil
	}
	ref = through(ref)
	for _, v := range wf.vars {
		if refNode(ref) != v.sw.Name || refIndex(ref) != 1 {
			continue
		}
		if ok, err := constIs(firstInput(v.enter), 0); !ok || err != nil {
			return false, err
		}
		add := wf.members[refNode(firstInput(v.next))]
		if add == nil || (add.Op != "Add" && add.Op != "AddV2") {
			return false, nil
		}
		ins := dataInputs(add)
		if len(ins) != 2 {
			return false, nil
		}
		for i := range 2 {
			a := through(ins[i])
			if refNode(a) != v.sw.Name || refIndex(a) != 1 {
				continue
			}
			if ok, err := constIs(ins[1-i], 1); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	}
	return false, nil
}

// orderSubset orders nodes so that inputs among them come first; inputs from
// elsewhere count as available.
func orderSubset(nodes []*gNode) ([]*gNode, error) {
	in := map[string]*gNode{}
	for _, n := range nodes {
		in[n.Name] = n
	}
	sub := map[string]*gNode{}
	for _, n := range nodes {
		m := *n
		m.Input = nil
		for _, r := range n.Input {
			if in[refNode(r)] != nil {
				m.Input = append(m.Input, r)
			}
		}
		sub[n.Name] = &m
	}
	list := make([]*gNode, 0, len(nodes))
	for _, n := range nodes {
		list = append(list, sub[n.Name])
	}
	order, err := topoSort(list, sub)
	if err != nil {
		return nil, err
	}
	for i, n := range order {
		order[i] = in[n.Name]
	}
	return order, nil
}

// convertNodes converts nodes in dependency order with the converter's current
// builder, collecting unsupported operators into bad.
func (c *tfjsConverter) convertNodes(nodes []*gNode, bad map[string]int) error {
	order, err := orderSubset(nodes)
	if err != nil {
		return err
	}
	for _, n := range order {
		if err := c.convert(n); err != nil {
			if what, ok := isUnsupported(err); ok {
				key := n.Op
				if what != n.Op {
					key = n.Op + " (" + what + ")"
				}
				bad[key]++
				c.names[n.Name] = c.b.Names.Fresh("unconverted")
				continue
			}
			return fmt.Errorf("tfjs node %q (%s): %w", n.Name, n.Op, err)
		}
	}
	return nil
}

// whileLoop converts the frame behind a whileOp node into an ONNX Loop. When the
// loop holds operators without a conversion, its outputs get placeholder names so
// that the conversion goes on collecting unsupported operators.
func (c *tfjsConverter) whileLoop(w *gNode) error {
	err := c.buildLoop(w)
	if _, ok := isUnsupported(err); ok && w.frame != nil {
		for i := range w.frame.vars {
			c.names[w.Name+":"+strconv.Itoa(i)] = c.b.Names.Fresh("unconverted")
		}
	}
	return err
}

func (c *tfjsConverter) buildLoop(w *gNode) error {
	f := w.frame
	if f == nil {
		return fmt.Errorf("%w: %s node without a frame", refit.ErrFormat, whileOp)
	}
	for name, n := range f.members {
		if _, ok := c.nodes[name]; !ok {
			c.nodes[name] = n
		}
	}
	for _, v := range f.vars {
		if v.item == "" {
			continue
		}
		if ok, err := c.isCounter(f, v.index); err != nil {
			return err
		} else if !ok {
			return unsupported("list write at an index other than the iteration number")
		}
	}
	saved := maps.Clone(c.names)
	savedB := c.b
	defer func() { c.names, c.b = saved, savedB }()
	for _, e := range f.invariants {
		src := firstInput(e)
		if s := c.nodes[refNode(src)]; s != nil && (s.Op == "TensorArrayV3" || s.Op == "TensorListReserve") {
			continue // a list handle: reads go through the flow value
		}
		if v, ok, err := c.constant(strings.TrimSuffix(src, ":0")); err != nil {
			return err
		} else if ok {
			c.consts[e.Name] = v
			continue
		}
		x, err := c.value(src)
		if err != nil {
			return err
		}
		c.names[e.Name] = x
	}
	var inits []string
	for _, v := range f.vars {
		if v.item != "" {
			continue
		}
		if s := c.nodes[refNode(firstInput(v.enter))]; s != nil && (s.Op == "TensorListReserve" || s.Op == "TensorArrayV3") {
			return unsupported("list carried through a loop other than as a map_fn accumulator")
		}
		x, err := c.value(firstInput(v.enter))
		if err != nil {
			return err
		}
		inits = append(inits, x)
		c.names[v.merge.Name] = x
	}
	bad := map[string]int{}
	if err := c.convertNodes(f.cond, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		return unsupported("loop with %s", summary(bad))
	}
	cond0, err := c.value(firstInput(f.loopCond))
	if err != nil {
		return err
	}
	body := &builder{}
	body.Names = c.b.Names
	c.b = body
	iter := body.Names.Fresh(f.name + "_iter")
	condIn := body.Names.Fresh(f.name + "_cond_in")
	body.Input(valueInfo(iter, elemInt64, []int64{}))
	body.Input(valueInfo(condIn, elemBool, []int64{}))
	for _, v := range f.vars {
		if v.item != "" {
			continue
		}
		m := body.Names.Fresh(v.merge.Name)
		body.Input(&onnxpb.ValueInfoProto{Name: &m})
		c.names[v.merge.Name] = m
		c.names[v.sw.Name+":1"] = m
	}
	var interior []*gNode
	for _, n := range f.body {
		if !f.skip[n.Name] {
			interior = append(interior, n)
		}
	}
	if interior, err = extractWhileFrames(interior, f.depth+1); err != nil {
		return err
	}
	if err := c.convertNodes(interior, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		return unsupported("loop with %s", summary(bad))
	}
	var carried, scans []string
	for _, v := range f.vars {
		ref := firstInput(v.next)
		if v.item != "" {
			ref = v.item
		}
		x, err := c.value(ref)
		if err != nil {
			return err
		}
		if v.item != "" {
			scans = append(scans, x)
			continue
		}
		carried = append(carried, x)
	}
	k := 0
	for _, v := range f.vars {
		if v.item == "" {
			c.names[v.merge.Name] = carried[k]
			k++
		}
	}
	if err := c.convertNodes(f.cond, bad); err != nil {
		return err
	}
	if len(bad) > 0 {
		return unsupported("loop with %s", summary(bad))
	}
	condOut, err := c.value(firstInput(f.loopCond))
	if err != nil {
		return err
	}
	for _, x := range append(append([]string{condOut}, carried...), scans...) {
		o := body.Op("Identity", x+"_out", []string{x})
		body.Output(&onnxpb.ValueInfoProto{Name: &o})
	}
	bodyGraph := body.Graph(f.name + "_body")
	c.names, c.b = saved, savedB
	want := make([]bool, len(carried)+len(scans))
	for i := range want {
		want[i] = true
	}
	outs := c.b.OpN("Loop", f.name, append([]string{"", cond0}, inits...), want, graph.GraphAttr("body", bodyGraph))
	// Loop outputs are the carried values then the scan outputs; Exits follow their variable.
	slot := make([]string, len(f.vars))
	ci, si := 0, len(carried)
	for i, v := range f.vars {
		if v.item == "" {
			slot[i] = outs[ci]
			ci++
		} else {
			slot[i] = outs[si]
			si++
		}
	}
	for i := range f.vars {
		key := w.Name // output 0 goes by the node's name, as everywhere in the converter
		if i > 0 {
			key += ":" + strconv.Itoa(i)
		}
		c.names[key] = slot[i]
	}
	return nil
}

// summary lists unsupported operators as "Op xN, ..." in name order.
func summary(bad map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(bad)) {
		parts = append(parts, k+" x"+strconv.Itoa(bad[k]))
	}
	return strings.Join(parts, ", ")
}

// ifNode converts an If with inlined branches (tf_functions.go) into an ONNX If
// whose branch graphs read the enclosing values by name.
func (c *tfjsConverter) ifNode(n *gNode) error {
	br := n.branches
	if br == nil {
		return fmt.Errorf("%w: %s node without branches", refit.ErrFormat, ifOp)
	}
	ins := dataInputs(n)
	if len(ins) < 1 {
		return fmt.Errorf("%w: %s node without a condition", refit.ErrFormat, ifOp)
	}
	cond, err := c.value(ins[0])
	if err != nil {
		return err
	}
	cond = c.b.Op("Cast", n.Name+"_cond", []string{cond}, graph.IntAttr("to", elemBool))
	saved := maps.Clone(c.names)
	savedB := c.b
	defer func() { c.names, c.b = saved, savedB }()
	var graphs [2]*onnxpb.GraphProto
	bad := map[string]int{}
	for i, side := range [2]struct {
		nodes []*gNode
		outs  []string
		name  string
	}{{br.then, br.thenOut, "then"}, {br.els, br.elsOut, "else"}} {
		c.names = maps.Clone(saved)
		body := &builder{}
		body.Names = savedB.Names
		c.b = body
		for _, m := range side.nodes {
			if _, ok := c.nodes[m.Name]; !ok {
				c.nodes[m.Name] = m
			}
		}
		nodes, err := extractWhileFrames(side.nodes, 1)
		if err != nil {
			return err
		}
		if err := c.convertNodes(nodes, bad); err != nil {
			return err
		}
		if len(bad) > 0 {
			return unsupported("branch with %s", summary(bad))
		}
		for _, ref := range side.outs {
			x, err := c.value(ref)
			if err != nil {
				return err
			}
			o := body.Op("Identity", x+"_out", []string{x})
			body.Output(&onnxpb.ValueInfoProto{Name: &o})
		}
		graphs[i] = body.Graph(n.Name + "_" + side.name)
	}
	c.names, c.b = saved, savedB
	want := make([]bool, len(br.thenOut))
	for i := range want {
		want[i] = true
	}
	outs := c.b.OpN("If", n.Name, []string{cond}, want, graph.GraphAttr("then_branch", graphs[0]), graph.GraphAttr("else_branch", graphs[1]))
	for k, o := range outs {
		key := n.Name
		if k > 0 {
			key += ":" + strconv.Itoa(k)
		}
		c.names[key] = o
	}
	return nil
}
