package runtime

import (
	"errors"
	"fmt"
	"slices"

	"github.com/refit-ml/refit/tensor"
)

// ErrInputShape reports a requested input shape that contradicts the model's
// declaration (rank, or a fixed dimension), or names no input of the model.
var ErrInputShape = errors.New("runtime: input shape")

// InputShape is the shape chosen for one input of random data, and which of its
// dimensions the model left open.
type InputShape struct {
	Name  string
	Shape []int64
	// Open lists the indices of the dimensions the model declares symbolic or unknown
	// and that no RandomOptions.Shapes or DimSizes entry fixed: their size is a default
	// (DefaultDim, or the graph's smallest workable window, see InputShapes).
	Open []int
	// Params names each open dimension ("" when it is unnamed), parallel to Open.
	Params []string
}

// Guessed reports whether any dimension of the shape is a default.
func (s InputShape) Guessed() bool { return len(s.Open) > 0 }

// InputShapes chooses the shape of every session input for random data, in input
// order:
//
//  1. opts.Shapes[name], checked against the declared rank and fixed dimensions;
//  2. declared fixed sizes;
//  3. symbolic dimensions by name: opts.DimSizes, else a size an explicit shape gave
//     to the same name in another input;
//  4. otherwise dimension 0 (the batch) gets DefaultDim, and any other open
//     dimension the smallest size that the graph's Conv and pooling windows accept
//     (the graph's kernels, strides, dilations and pads walked back from its outputs
//     through shape-preserving operators) when that says more than DefaultDim; a
//     symbolic name shared by several inputs gets the largest of their sizes.
//
// Step 4 is a lower bound, not a proof: a graph can need more than its windows say
// (a Reshape to a fixed size, for one); then Shapes is the way to say so.
func InputShapes(s *Session, opts *RandomOptions) ([]InputShape, error) {
	if opts == nil {
		opts = &RandomOptions{}
	}
	def := opts.DefaultDim
	if def <= 0 {
		def = 1
	}
	inputs := s.Inputs()
	known := map[string]bool{}
	for _, in := range inputs {
		known[in.Name] = true
	}
	for name := range opts.Shapes {
		if !known[name] {
			return nil, fmt.Errorf("%w: the model has no input %q", ErrInputShape, name)
		}
	}
	// Sizes of symbolic names: options first, then what explicit shapes imply.
	params := map[string]int64{}
	for k, v := range opts.DimSizes {
		if v > 0 {
			params[k] = v
		}
	}
	for _, in := range inputs {
		want, ok := opts.Shapes[in.Name]
		if !ok {
			continue
		}
		if err := checkShape(in, want); err != nil {
			return nil, err
		}
		for i, d := range in.Dims {
			if d.Param != "" && params[d.Param] == 0 {
				params[d.Param] = want[i]
			}
		}
	}
	var need map[string][]int64
	out := make([]InputShape, 0, len(inputs))
	guessedParam := map[string]int64{}
	for _, in := range inputs {
		is := InputShape{Name: in.Name}
		if want, ok := opts.Shapes[in.Name]; ok {
			is.Shape = slices.Clone(want)
			out = append(out, is)
			continue
		}
		if !in.HasShape {
			return nil, fmt.Errorf("runtime: input %q has no declared shape", in.Name)
		}
		is.Shape = make([]int64, len(in.Dims))
		for i, d := range in.Dims {
			switch {
			case d.Size >= 0 && d.Param == "":
				is.Shape[i] = d.Size
				continue
			case d.Param != "" && params[d.Param] > 0:
				is.Shape[i] = params[d.Param]
				continue
			}
			size := def
			if i > 0 {
				if need == nil {
					need = s.graph.windowNeeds()
				}
				if n := need[in.Name]; len(n) == len(in.Dims) && n[i] > size {
					size = n[i]
				}
			}
			is.Shape[i] = size
			is.Open = append(is.Open, i)
			is.Params = append(is.Params, d.Param)
			if d.Param != "" {
				guessedParam[d.Param] = max(guessedParam[d.Param], size)
			}
		}
		out = append(out, is)
	}
	// One size per symbolic name, the largest any input needs.
	for k := range out {
		for j, i := range out[k].Open {
			if p := out[k].Params[j]; p != "" {
				out[k].Shape[i] = guessedParam[p]
			}
		}
	}
	return out, nil
}

// checkShape compares a requested shape with in's declaration.
func checkShape(in ValueInfo, want []int64) error {
	for _, d := range want {
		if d <= 0 {
			return fmt.Errorf("%w: input %q: shape %v has a dimension below 1", ErrInputShape, in.Name, tensor.Shape(want))
		}
	}
	if !in.HasShape {
		return nil
	}
	if len(want) != len(in.Dims) {
		return fmt.Errorf("%w: input %q: shape %v has rank %d, the model declares %s (rank %d)", ErrInputShape, in.Name, tensor.Shape(want), len(want), declared(in.Dims), len(in.Dims))
	}
	for i, d := range in.Dims {
		if d.Param == "" && d.Size >= 0 && d.Size != want[i] {
			return fmt.Errorf("%w: input %q: shape %v sets dimension %d to %d, the model fixes it at %d (%s)", ErrInputShape, in.Name, tensor.Shape(want), i, want[i], d.Size, declared(in.Dims))
		}
	}
	return nil
}

// declared formats declared dimensions as [N 3 48 W] (? for unknown).
func declared(dims []Dim) string {
	s := "["
	for i, d := range dims {
		if i > 0 {
			s += " "
		}
		switch {
		case d.Param != "":
			s += d.Param
		case d.Size >= 0:
			s += fmt.Sprint(d.Size)
		default:
			s += "?"
		}
	}
	return s + "]"
}

// DeclaredShape formats an input's declared dimensions, symbolic names included,
// as "[N 3 48 W]" ("?" for an unknown dimension).
func (v ValueInfo) DeclaredShape() string { return declared(v.Dims) }

// windowNeeds walks g's nodes from the outputs back to the inputs and returns, per
// value, the smallest size along each axis that every Conv and pooling window
// downstream accepts (0: unconstrained), as a vector of the value's rank. Only
// operators that keep the layout (elementwise, normalization, activations, Concat,
// Pad, Resize) and Transpose pass a need on; any other operator ends it.
func (g *Graph) windowNeeds() map[string][]int64 {
	need := map[string][]int64{}
	nodes := g.Nodes
	if g.plan != nil {
		nodes = g.plan.order
	}
	merge := func(name string, v []int64) {
		if name == "" || v == nil {
			return
		}
		if _, ok := g.Initializers[name]; ok {
			return
		}
		old, ok := need[name]
		if !ok {
			need[name] = slices.Clone(v)
			return
		}
		if len(old) != len(v) {
			return // broadcast of another rank: the first need stands
		}
		for i := range v {
			old[i] = max(old[i], v[i])
		}
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		if n.Domain != "" || len(n.Outputs) == 0 || len(n.Inputs) == 0 {
			continue
		}
		out := need[n.Outputs[0]]
		switch n.OpType {
		case "Conv", "MaxPool", "AveragePool", "LpPool":
			if v := n.windowNeed(g, out); v != nil {
				merge(n.Inputs[0], v)
			}
		case "Transpose":
			perm, err := n.Ints("perm", nil)
			if out == nil || err != nil || len(perm) != len(out) {
				continue
			}
			v := make([]int64, len(out))
			for i, p := range perm {
				if p < 0 || int(p) >= len(v) {
					v = nil
					break
				}
				v[p] = out[i]
			}
			merge(n.Inputs[0], v)
		default:
			if out != nil && keepsLayout[n.OpType] {
				for _, in := range n.Inputs {
					merge(in, out)
				}
			}
		}
	}
	return need
}

// keepsLayout lists operators whose data inputs have the output's axes.
var keepsLayout = map[string]bool{
	"Relu": true, "LeakyRelu": true, "PRelu": true, "Sigmoid": true, "HardSigmoid": true, "HardSwish": true,
	"Tanh": true, "Elu": true, "Selu": true, "Celu": true, "Gelu": true, "Softplus": true, "Softsign": true, "Mish": true,
	"Clip": true, "Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Sqrt": true, "Exp": true, "Log": true,
	"Abs": true, "Neg": true, "Min": true, "Max": true, "Sum": true, "Mean": true, "Where": true,
	"BatchNormalization": true, "InstanceNormalization": true, "LRN": true, "Dropout": true, "Identity": true,
	"Cast": true, "Concat": true, "Pad": true, "Resize": true, "Upsample": true, "Erf": true, "Floor": true,
	"Ceil": true, "Round": true, "Reciprocal": true, "ThresholdedRelu": true,
}

// windowNeed is the smallest input of a Conv or pooling node whose output has at
// least out along each axis (1 where out says nothing), or nil when the window is
// not known.
func (n *Node) windowNeed(g *Graph, out []int64) []int64 {
	kernel, err := n.Ints("kernel_shape", nil)
	if err != nil {
		return nil
	}
	if kernel == nil && n.OpType == "Conv" && len(n.Inputs) > 1 {
		if w, ok := g.Initializers[n.Inputs[1]]; ok && len(w.Shape) > 2 {
			kernel = w.Shape[2:]
		}
	}
	k := len(kernel)
	if k == 0 || out != nil && len(out) != k+2 {
		return nil
	}
	strides, err1 := n.Ints("strides", nil)
	dilations, err2 := n.Ints("dilations", nil)
	pads, err3 := n.Ints("pads", nil)
	autoPad, err4 := n.String("auto_pad", "NOTSET")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil
	}
	at := func(v []int64, i int, def int64) int64 {
		if i < len(v) {
			return v[i]
		}
		return def
	}
	v := make([]int64, k+2)
	for i := range k {
		want := int64(1)
		if out != nil {
			want = max(1, out[i+2])
		}
		s, d := max(1, at(strides, i, 1)), max(1, at(dilations, i, 1))
		span := d*(kernel[i]-1) + 1
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			v[i+2] = (want-1)*s + 1
		case "VALID":
			v[i+2] = (want-1)*s + span
		default:
			v[i+2] = (want-1)*s + span - at(pads, i, 0) - at(pads, i+k, 0)
		}
		if v[i+2] > 1<<20 {
			return nil // not a window a default should follow
		}
		v[i+2] = max(1, v[i+2])
	}
	return v
}
