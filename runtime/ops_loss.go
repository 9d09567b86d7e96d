package runtime

import (
	"fmt"
	"math"
	"slices"
)

// Loss functions: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss. Both are
// deterministic functions of their inputs (used in training graphs, but computable
// at inference like any other op).

func init() {
	Register(Op{Type: "NegativeLogLikelihoodLoss", Since: 12, Kernel: nllKernel})
	Register(Op{Type: "SoftmaxCrossEntropyLoss", Since: 12, Kernel: sceKernel})
}

// lossParams are the attributes shared by both losses.
type lossParams struct {
	reduction   string
	ignoreIndex int64
	hasIgnore   bool
}

func readLossParams(n *Node) (lossParams, error) {
	var a attrs
	p := lossParams{reduction: a.str(n, "reduction", "mean")}
	p.hasIgnore = n.Has("ignore_index")
	p.ignoreIndex = a.int(n, "ignore_index", 0)
	if a.err != nil {
		return p, a.err
	}
	switch p.reduction {
	case "none", "sum", "mean":
	default:
		return p, fmt.Errorf("reduction %q: want none, sum or mean", p.reduction)
	}
	return p, nil
}

// nllLoss computes the loss of log-probabilities logp [N, C, d...] (as float64, with
// the original value's dtype for the output) against integer targets [N, d...].
func nllLoss(c *Call, logp []float64, x, target, weight *Value, p lossParams) (*Value, error) {
	if x.Rank() < 2 {
		return nil, fmt.Errorf("input %v must have rank >= 2 (N, C, ...)", x)
	}
	n, classes := int(x.Shape[0]), int(x.Shape[1])
	wantT := slices.Concat(x.Shape[:1], x.Shape[2:])
	if !slices.Equal(target.Shape, wantT) {
		return nil, fmt.Errorf("target %v: want shape %v for input %v", target, wantT, x)
	}
	if !target.DType.Integer() {
		return nil, fmt.Errorf("target %v must be an integer tensor", target)
	}
	var w []float64
	if weight != nil {
		if weight.Rank() != 1 || int(weight.Shape[0]) != classes {
			return nil, fmt.Errorf("weight %v: want shape [%d]", weight, classes)
		}
		w = weight.AsFloat64s()
	}
	inner := 1
	for _, d := range x.Shape[2:] {
		inner *= int(d)
	}
	loss := make([]float64, n*inner)
	var lossSum, weightSum float64
	for b := 0; b < n; b++ {
		for j := 0; j < inner; j++ {
			t := elemInt64(target, b*inner+j)
			if p.hasIgnore && t == p.ignoreIndex {
				continue
			}
			if t < 0 || t >= int64(classes) {
				return nil, fmt.Errorf("target %d at position %d is outside [0, %d)", t, b*inner+j, classes)
			}
			wt := 1.0
			if w != nil {
				wt = w[t]
			}
			l := -logp[(b*classes+int(t))*inner+j] * wt
			loss[b*inner+j] = l
			lossSum += l
			weightSum += wt
		}
	}
	switch p.reduction {
	case "none":
		out, err := c.Alloc(x.DType, wantT)
		if err != nil {
			return nil, err
		}
		for i, l := range loss {
			setFloat64(out, i, l)
		}
		return out, nil
	case "sum":
		out, err := c.Alloc(x.DType, []int64{})
		if err != nil {
			return nil, err
		}
		setFloat64(out, 0, lossSum)
		return out, nil
	}
	out, err := c.Alloc(x.DType, []int64{})
	if err != nil {
		return nil, err
	}
	setFloat64(out, 0, lossSum/weightSum)
	return out, nil
}

func lossInputs(c *Call) (x, target, weight *Value, err error) {
	x, target, weight = c.Input(0), c.Input(1), c.Input(2)
	if x == nil || target == nil {
		return nil, nil, nil, fmt.Errorf("input and target are required")
	}
	if !x.DType.Float() {
		return nil, nil, nil, fmt.Errorf("input %v must be floating point", x)
	}
	return x, target, weight, nil
}

func nllKernel(c *Call) ([]*Value, error) {
	p, err := readLossParams(c.Node)
	if err != nil {
		return nil, err
	}
	x, target, weight, err := lossInputs(c)
	if err != nil {
		return nil, err
	}
	xs, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	out, err := nllLoss(c, xs, x, target, weight, p)
	if err != nil {
		return nil, err
	}
	return []*Value{out}, nil
}

func sceKernel(c *Call) ([]*Value, error) {
	p, err := readLossParams(c.Node)
	if err != nil {
		return nil, err
	}
	x, target, weight, err := lossInputs(c)
	if err != nil {
		return nil, err
	}
	if x.Rank() < 2 {
		return nil, fmt.Errorf("scores %v must have rank >= 2 (N, C, ...)", x)
	}
	// log_softmax over axis 1.
	s, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	n, classes := int(x.Shape[0]), int(x.Shape[1])
	inner := 1
	for _, d := range x.Shape[2:] {
		inner *= int(d)
	}
	logp := make([]float64, len(s))
	for b := 0; b < n; b++ {
		for j := 0; j < inner; j++ {
			base := b*classes*inner + j
			m := math.Inf(-1)
			for k := 0; k < classes; k++ {
				m = math.Max(m, s[base+k*inner])
			}
			var sum float64
			for k := 0; k < classes; k++ {
				sum += math.Exp(s[base+k*inner] - m)
			}
			lse := m + math.Log(sum)
			for k := 0; k < classes; k++ {
				logp[base+k*inner] = s[base+k*inner] - lse
			}
		}
	}
	out, err := nllLoss(c, logp, x, target, weight, p)
	if err != nil {
		return nil, err
	}
	lp, err := c.Alloc(x.DType, x.Shape)
	if err != nil {
		return nil, err
	}
	for i, l := range logp {
		setFloat64(lp, i, l)
	}
	return []*Value{out, lp}, nil
}
