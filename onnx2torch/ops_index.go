package onnx2torch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// indexHandlers translate the shape, comparison and gathering operators keras2onnx
// uses for masked RNNs (steps gathered to the front and back) and dynamic reshapes.
var indexHandlers = map[string]handler{
	"Div":   infix("/"),
	"Equal": infix("=="),
	"Less":  infix("<"),
	"Not":   unary("torch.logical_not(%s)"),
	"And":   chain("torch.logical_and"),
	"Shape": unary("torch.tensor(%s.shape)"),
	"Expand": func(g *gen, n *onnxpb.NodeProto) error {
		in, err := g.inputs(n)
		if err != nil {
			return err
		}
		return g.emit(n, fmt.Sprintf("%s.expand(torch.broadcast_shapes(%s.shape, tuple(%s.tolist())))", in[0], in[0], in[1]))
	},
	"Unsqueeze": func(g *gen, n *onnxpb.NodeProto) error {
		x, err := g.in(n.GetInput()[0])
		if err != nil {
			return err
		}
		axes, err := g.ints(n.GetInput()[1])
		if err != nil || len(axes) != 1 {
			return fmt.Errorf("%w: Unsqueeze axes", refit.ErrUnsupported)
		}
		return g.emit(n, fmt.Sprintf("%s.unsqueeze(%d)", x, axes[0]))
	},
	"GatherElements": func(g *gen, n *onnxpb.NodeProto) error {
		in, err := g.inputs(n)
		if err != nil {
			return err
		}
		return g.emit(n, fmt.Sprintf("torch.gather(%s, %d, %s)", in[0], graph.Int(n, "axis", 0), in[1]))
	},
	"CumSum": func(g *gen, n *onnxpb.NodeProto) error {
		x, err := g.in(n.GetInput()[0])
		if err != nil {
			return err
		}
		axis, err := g.ints(n.GetInput()[1])
		if err != nil || len(axis) != 1 || graph.Int(n, "exclusive", 0) != 0 || graph.Int(n, "reverse", 0) != 0 {
			return fmt.Errorf("%w: CumSum other than inclusive over a constant axis", refit.ErrUnsupported)
		}
		return g.emit(n, fmt.Sprintf("torch.cumsum(%s, %d)", x, axis[0]))
	},
	"TopK": func(g *gen, n *onnxpb.NodeProto) error {
		x, err := g.in(n.GetInput()[0])
		if err != nil {
			return err
		}
		k, err := g.ints(n.GetInput()[1])
		if err != nil || len(k) != 1 {
			return fmt.Errorf("%w: TopK with a k computed at run time", refit.ErrUnsupported)
		}
		v := "v" + strconv.Itoa(g.n)
		g.n++
		g.lines = append(g.lines, fmt.Sprintf("%s = torch.topk(%s, %d, dim=%d, largest=%s, sorted=True)", v, x, k[0],
			graph.Int(n, "axis", -1), pyBool(graph.Int(n, "largest", 1) != 0)))
		for i, o := range n.GetOutput() {
			if o != "" && i < 2 {
				g.names[o] = fmt.Sprintf("%s[%d]", v, i)
			}
		}
		return nil
	},
	"ReduceSum": func(g *gen, n *onnxpb.NodeProto) error {
		x, err := g.in(n.GetInput()[0])
		if err != nil {
			return err
		}
		if len(n.GetInput()) < 2 {
			return fmt.Errorf("%w: ReduceSum over all axes", refit.ErrUnsupported)
		}
		axes, err := g.ints(n.GetInput()[1])
		if err != nil {
			return err
		}
		return g.emit(n, fmt.Sprintf("%s.sum(dim=%s, keepdim=%s)", x, pyInts(axes), pyBool(graph.Int(n, "keepdims", 1) != 0)))
	},
	"ReduceMax": func(g *gen, n *onnxpb.NodeProto) error {
		x, err := g.in(n.GetInput()[0])
		if err != nil {
			return err
		}
		axes := graph.Ints(n, "axes", nil)
		if axes == nil {
			return fmt.Errorf("%w: ReduceMax without axes", refit.ErrUnsupported)
		}
		return g.emit(n, fmt.Sprintf("%s.amax(dim=%s, keepdim=%s)", x, pyInts(axes), pyBool(graph.Int(n, "keepdims", 1) != 0)))
	},
}

// intLiteral writes a small int64 initializer as a Python int (a scalar) or a torch
// tensor literal.
func intLiteral(t *onnxpb.TensorProto, v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	if len(t.GetDims()) == 0 && len(v) == 1 {
		return s[0]
	}
	return fmt.Sprintf("torch.tensor([%s], dtype=torch.long).reshape(%s)", strings.Join(s, ", "), pyInts(t.GetDims()))
}
