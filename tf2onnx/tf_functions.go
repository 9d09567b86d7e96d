package tf2onnx

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
)

// TensorFlow's functional control flow and calls: nodes whose bodies are functions
// of the graph's library (modelTopology.library in model.json, GraphDef.library in a
// .pb). expandFunctions rewrites them before conversion, as TensorFlow's own
// LowerFunctionalOpsPass does:
//   - PartitionedCall / StatefulPartitionedCall: the function's nodes inlined under
//     "<call>/", its arguments bound to the call's inputs;
//   - While / StatelessWhile: lowered to Enter/Merge/Switch/NextIteration/Exit with
//     the cond and body functions inlined, which extractWhileFrames turns into an
//     ONNX Loop;
//   - If / StatelessIf: both branches inlined into a node that becomes an ONNX If
//     (ifOp, converted in tf_control.go).
//
// Inside a function, a node's output is named "node:out_arg:index"; outputIndex
// maps that onto the node's flat output number.

// gFunction is a FunctionDef in TF.js's JSON form.
type gFunction struct {
	Signature struct {
		Name      string `json:"name"`
		InputArg  []gArg `json:"inputArg"`
		OutputArg []gArg `json:"outputArg"`
	} `json:"signature"`
	NodeDef []*gNode          `json:"nodeDef"`
	Ret     map[string]string `json:"ret"`
}

type gArg struct {
	Name string `json:"name"`
}

// gLibrary is a FunctionDefLibrary.
type gLibrary struct {
	Function []*gFunction `json:"function"`
}

// maxInline bounds how deep calls may nest and how many nodes inlining may create.
const (
	maxInlineDepth = 32
	maxInlineNodes = 1 << 16
)

// multiOutputArgs gives, for operators with several output arguments, the flat
// index of each argument's first output; other operators number from 0.
var multiOutputArgs = map[string]map[string]int{
	"FusedBatchNorm":      {"y": 0, "batch_mean": 1, "batch_variance": 2, "reserve_space_1": 3, "reserve_space_2": 4},
	"FusedBatchNormV3":    {"y": 0, "batch_mean": 1, "batch_variance": 2, "reserve_space_1": 3, "reserve_space_2": 4, "reserve_space_3": 5},
	"TopKV2":              {"values": 0, "indices": 1},
	"Unique":              {"y": 0, "idx": 1},
	"NonMaxSuppressionV4": {"selected_indices": 0, "valid_outputs": 1},
	"NonMaxSuppressionV5": {"selected_indices": 0, "selected_scores": 1, "valid_outputs": 2},
	"TensorArrayV3":       {"handle": 0, "flow": 1},
	"Switch":              {"output_false": 0, "output_true": 1},
	"Merge":               {"output": 0, "value_index": 1},
}

type inliner struct {
	funcs   map[string]*gFunction
	count   int
	renamed map[string]string // "node:k" of an expanded node -> the value that replaces it
}

// expandFunctions returns nodes with calls, While and If expanded; a graph without
// a library comes back unchanged.
func expandFunctions(nodes []*gNode, lib *gLibrary) ([]*gNode, error) {
	if lib == nil || len(lib.Function) == 0 {
		return nodes, nil
	}
	in := &inliner{funcs: map[string]*gFunction{}, renamed: map[string]string{}}
	for _, f := range lib.Function {
		if f == nil || f.Signature.Name == "" {
			return nil, fmt.Errorf("%w: tf2onnx: library function without a name", refit.ErrFormat)
		}
		in.funcs[f.Signature.Name] = f
	}
	out, err := in.expand(nodes, 0)
	if err != nil {
		return nil, err
	}
	in.rename(out)
	return out, nil
}

func (in *inliner) expand(nodes []*gNode, depth int) ([]*gNode, error) {
	consumed := map[string]bool{}
	for _, n := range nodes {
		if n != nil {
			for _, ref := range n.Input {
				consumed[refNode(ref)] = true
			}
		}
	}
	var out []*gNode
	for _, n := range nodes {
		if n == nil {
			out = append(out, n)
			continue
		}
		var repl []*gNode
		var outs []string
		var err error
		switch n.Op {
		case "PartitionedCall", "StatefulPartitionedCall":
			repl, outs, err = in.call(n, depth)
		case "While", "StatelessWhile":
			repl, outs, err = in.while(n, depth)
		case "If", "StatelessIf":
			repl, outs, err = in.ifNode(n, depth)
		default:
			out = append(out, n)
			continue
		}
		if err != nil {
			if depth > 0 {
				return nil, err // named once, by the outermost node
			}
			return nil, fmt.Errorf("tf2onnx: %s node %q: %w", n.Op, n.Name, err)
		}
		if n.Op == "If" || n.Op == "StatelessIf" {
			out = append(out, repl...) // the If node keeps its name and outputs
			continue
		}
		// The outputs keep the node's name (output 0) or become n/output_k, so a
		// node nobody reads still gives graph outputs named after it. Everything
		// else the expansion makes, and the outputs of a node that is read, is read
		// by a NoOp, so that it does not become a graph output (the Exits only, for
		// a While, whose other nodes live inside its frame).
		sink := &gNode{Name: n.Name + "/_sink", Op: "NoOp"}
		read := map[string]bool{}
		for _, r := range repl {
			for _, ref := range r.Input {
				read[refNode(ref)] = true
			}
		}
		for _, r := range repl {
			if read[r.Name] || (n.Op == "While" || n.Op == "StatelessWhile") && r.Op != "Exit" {
				continue
			}
			sink.Input = append(sink.Input, "^"+r.Name)
		}
		out = append(out, repl...)
		for k, v := range outs {
			name := n.Name
			if k > 0 {
				name += "/output_" + strconv.Itoa(k)
				in.renamed[n.Name+":"+strconv.Itoa(k)] = name
			}
			out = append(out, &gNode{Name: name, Op: "Identity", Input: []string{v}})
			if consumed[n.Name] {
				sink.Input = append(sink.Input, "^"+name)
			}
		}
		out = append(out, sink)
	}
	return out, nil
}

// rename points every input that reads an expanded node's output at the value
// replacing it, following chains (a call returning another call's output), and drops
// control edges to expanded nodes. It runs once, over the final node list and the
// branches of Ifs.
func (in *inliner) rename(nodes []*gNode) {
	for _, n := range nodes {
		if n == nil {
			continue
		}
		kept := n.Input[:0]
		for _, ref := range n.Input {
			if strings.HasPrefix(ref, "^") {
				if _, ok := in.renamed[ref[1:]+":0"]; ok {
					continue
				}
				kept = append(kept, ref)
				continue
			}
			kept = append(kept, in.resolve(ref))
		}
		n.Input = kept
		if br := n.branches; br != nil {
			in.rename(br.then)
			in.rename(br.els)
			for i := range br.thenOut {
				br.thenOut[i] = in.resolve(br.thenOut[i])
			}
			for i := range br.elsOut {
				br.elsOut[i] = in.resolve(br.elsOut[i])
			}
		}
	}
}

func (in *inliner) resolve(ref string) string {
	for range maxInlineDepth + 1 {
		key := ref
		if !strings.Contains(ref, ":") {
			key = ref + ":0"
		}
		v, ok := in.renamed[key]
		if !ok || v == ref {
			break
		}
		ref = v
	}
	return ref
}

// funcAttr returns the function a node's attribute names.
func (in *inliner) funcAttr(n *gNode, attr string) (*gFunction, error) {
	a, err := n.attr(attr)
	if err != nil {
		return nil, err
	}
	var name string
	if a != nil {
		var raw struct {
			Func struct {
				Name string `json:"name"`
			} `json:"func"`
		}
		if b, ok := n.Attr[attr]; ok && json.Unmarshal(b, &raw) == nil {
			name = raw.Func.Name
		}
	}
	f := in.funcs[name]
	if f == nil {
		return nil, fmt.Errorf("%w: attribute %q names function %q, which the library lacks", refit.ErrFormat, attr, name)
	}
	return f, nil
}

// inline returns f's nodes renamed under prefix with its arguments bound to args,
// and the values of its outputs.
func (in *inliner) inline(f *gFunction, prefix string, args []string, depth int) ([]*gNode, []string, error) {
	if depth >= maxInlineDepth {
		return nil, nil, fmt.Errorf("%w: functions nested deeper than %d", refit.ErrUnsupported, maxInlineDepth)
	}
	if len(args) != len(f.Signature.InputArg) {
		return nil, nil, fmt.Errorf("%w: function %q takes %d arguments, given %d", refit.ErrFormat, f.Signature.Name, len(f.Signature.InputArg), len(args))
	}
	in.count += len(f.NodeDef)
	if in.count > maxInlineNodes {
		return nil, nil, fmt.Errorf("%w: inlining functions makes over %d nodes", refit.ErrUnsupported, maxInlineNodes)
	}
	bound := map[string]string{}
	for i, a := range f.Signature.InputArg {
		bound[a.Name] = args[i]
	}
	ops := map[string]string{}
	for _, n := range f.NodeDef {
		if n == nil || n.Name == "" {
			return nil, nil, fmt.Errorf("%w: function %q has a node without a name", refit.ErrFormat, f.Signature.Name)
		}
		ops[n.Name] = n.Op
	}
	resolve := func(ref string) (string, error) {
		control := strings.HasPrefix(ref, "^")
		ref = strings.TrimPrefix(ref, "^")
		parts := strings.Split(ref, ":")
		if v, ok := bound[parts[0]]; ok && len(parts) == 1 {
			if control {
				return "^" + refNode(v), nil
			}
			return v, nil
		}
		op, ok := ops[parts[0]]
		if !ok {
			return "", fmt.Errorf("%w: function %q reads unknown value %q", refit.ErrFormat, f.Signature.Name, ref)
		}
		name := prefix + parts[0]
		if control {
			return "^" + name, nil
		}
		if len(parts) == 1 {
			return name, nil
		}
		if len(parts) != 3 {
			return "", fmt.Errorf("%w: function %q: output reference %q", refit.ErrFormat, f.Signature.Name, ref)
		}
		idx, err := strconv.Atoi(parts[2])
		if err != nil || idx < 0 {
			return "", fmt.Errorf("%w: function %q: output reference %q", refit.ErrFormat, f.Signature.Name, ref)
		}
		idx += multiOutputArgs[op][parts[1]]
		if idx == 0 {
			return name, nil
		}
		return name + ":" + strconv.Itoa(idx), nil
	}
	body := make([]*gNode, 0, len(f.NodeDef))
	for _, n := range f.NodeDef {
		m := &gNode{Name: prefix + n.Name, Op: n.Op, Attr: n.Attr}
		for _, ref := range n.Input {
			r, err := resolve(ref)
			if err != nil {
				return nil, nil, err
			}
			m.Input = append(m.Input, r)
		}
		body = append(body, m)
	}
	body, err := in.expand(body, depth+1)
	if err != nil {
		return nil, nil, err
	}
	outs := make([]string, len(f.Signature.OutputArg))
	for i, a := range f.Signature.OutputArg {
		ret, ok := f.Ret[a.Name]
		if !ok {
			return nil, nil, fmt.Errorf("%w: function %q does not return %q", refit.ErrFormat, f.Signature.Name, a.Name)
		}
		if outs[i], err = resolve(ret); err != nil {
			return nil, nil, err
		}
	}
	return body, outs, nil
}

func (in *inliner) call(n *gNode, depth int) ([]*gNode, []string, error) {
	f, err := in.funcAttr(n, "f")
	if err != nil {
		return nil, nil, err
	}
	return in.inline(f, n.Name+"/", dataInputs(n), depth)
}

// while lowers a functional While to a frame named after the node.
func (in *inliner) while(n *gNode, depth int) ([]*gNode, []string, error) {
	cond, err := in.funcAttr(n, "cond")
	if err != nil {
		return nil, nil, err
	}
	body, err := in.funcAttr(n, "body")
	if err != nil {
		return nil, nil, err
	}
	vars := dataInputs(n)
	p := n.Name + "/"
	frame, _ := json.Marshal(map[string]string{"s": base64.StdEncoding.EncodeToString([]byte(n.Name))})
	notConst, _ := json.Marshal(map[string]bool{"b": false})
	var out []*gNode
	merges := make([]string, len(vars))
	idents := make([]string, len(vars))
	for k, v := range vars {
		ks := strconv.Itoa(k)
		out = append(out,
			&gNode{Name: p + "enter_" + ks, Op: "Enter", Input: []string{v}, Attr: map[string]json.RawMessage{"frame_name": frame, "is_constant": notConst}},
			&gNode{Name: p + "merge_" + ks, Op: "Merge", Input: []string{p + "enter_" + ks, p + "next_" + ks}},
			&gNode{Name: p + "switch_" + ks, Op: "Switch", Input: []string{p + "merge_" + ks, p + "loop_cond"}},
			&gNode{Name: p + "ident_" + ks, Op: "Identity", Input: []string{p + "switch_" + ks + ":1"}},
			&gNode{Name: p + "exit_" + ks, Op: "Exit", Input: []string{p + "switch_" + ks}})
		merges[k], idents[k] = p+"merge_"+ks, p+"ident_"+ks
	}
	cn, co, err := in.inline(cond, p+"cond/", merges, depth)
	if err != nil {
		return nil, nil, err
	}
	if len(co) != 1 {
		return nil, nil, fmt.Errorf("%w: while condition %q returns %d values", refit.ErrFormat, cond.Signature.Name, len(co))
	}
	bn, bo, err := in.inline(body, p+"body/", idents, depth)
	if err != nil {
		return nil, nil, err
	}
	if len(bo) != len(vars) {
		return nil, nil, fmt.Errorf("%w: while body %q returns %d values for %d loop variables", refit.ErrFormat, body.Signature.Name, len(bo), len(vars))
	}
	out = append(out, cn...)
	out = append(out, &gNode{Name: p + "loop_cond", Op: "LoopCond", Input: co})
	out = append(out, bn...)
	exits := make([]string, len(vars))
	for k := range vars {
		ks := strconv.Itoa(k)
		out = append(out, &gNode{Name: p + "next_" + ks, Op: "NextIteration", Input: []string{bo[k]}})
		exits[k] = p + "exit_" + ks
	}
	return out, exits, nil
}

// ifBranches are the inlined branches of an If, converted into the then_branch and
// else_branch graphs of an ONNX If.
type ifBranches struct {
	then, els       []*gNode
	thenOut, elsOut []string
}

// ifOp is the operator of the node standing for an If with inlined branches.
const ifOp = "InlinedIf"

// ifNode inlines both branches into a node converted to an ONNX If.
func (in *inliner) ifNode(n *gNode, depth int) ([]*gNode, []string, error) {
	then, err := in.funcAttr(n, "then_branch")
	if err != nil {
		return nil, nil, err
	}
	els, err := in.funcAttr(n, "else_branch")
	if err != nil {
		return nil, nil, err
	}
	ins := dataInputs(n)
	if len(ins) < 1 {
		return nil, nil, fmt.Errorf("%w: If without a condition", refit.ErrFormat)
	}
	p := n.Name + "/"
	tn, to, err := in.inline(then, p+"then/", ins[1:], depth)
	if err != nil {
		return nil, nil, err
	}
	en, eo, err := in.inline(els, p+"else/", ins[1:], depth)
	if err != nil {
		return nil, nil, err
	}
	if len(to) != len(eo) {
		return nil, nil, fmt.Errorf("%w: If branches return %d and %d values", refit.ErrFormat, len(to), len(eo))
	}
	// The node reads the condition and, for ordering, every outer value the
	// branches read.
	inputs := []string{ins[0]}
	inputs = append(inputs, ins[1:]...)
	repl := &gNode{Name: n.Name, Op: ifOp, Input: inputs, branches: &ifBranches{then: tn, els: en, thenOut: to, elsOut: eo}}
	outs := make([]string, len(to))
	for k := range outs {
		outs[k] = n.Name
		if k > 0 {
			outs[k] += ":" + strconv.Itoa(k)
		}
	}
	return []*gNode{repl}, outs, nil
}
