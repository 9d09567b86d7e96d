package onnx2torch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// rnnHelper is emitted once into model.py when the graph has LSTM, GRU or RNN nodes:
// ONNX's recurrences step by step (one direction, gates i,o,f,c for LSTM and z,r,h
// for GRU, sequence_lens: steps past a sequence's length leave the state unchanged and
// output zeros; the reverse direction starts at each sequence's last step).
const rnnHelper = `
def _onnx_rnn(kind, x, w, r, b, lens, hidden, acts, alphas, betas, reverse, linear_before_reset):
    steps, batch, size = x.shape[0], x.shape[1], hidden
    w, r = w[0], r[0]
    gates = w.shape[0] // size
    wb = b[0, :gates * size] if b is not None else x.new_zeros(gates * size)
    rb = b[0, gates * size:] if b is not None else x.new_zeros(gates * size)
    lens = torch.full((batch,), steps, dtype=torch.long) if lens is None else lens.long()

    def act(i, v):
        kind_, a, be = acts[i], alphas[i], betas[i]
        if kind_ == 'Sigmoid':
            return torch.sigmoid(v)
        if kind_ == 'Tanh':
            return torch.tanh(v)
        if kind_ == 'Relu':
            return torch.relu(v)
        if kind_ == 'HardSigmoid':
            return torch.clamp(a * v + be, 0, 1)
        if kind_ == 'Affine':
            return a * v + be
        if kind_ == 'Softsign':
            return v / (1 + v.abs())
        if kind_ == 'Softplus':
            return F.softplus(v)
        raise ValueError(kind_)

    h, c = x.new_zeros(batch, size), x.new_zeros(batch, size)
    y = x.new_zeros(steps, batch, size)
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        valid = (t < lens).unsqueeze(1).to(x.dtype)
        gx = x[t] @ w.T + wb
        if kind == 'LSTM':
            gi, go, gf, gc = (gx + h @ r.T + rb).split(size, dim=1)
            cn = act(0, gf) * c + act(0, gi) * act(1, gc)
            hn = act(0, go) * act(2, cn)
            c = valid * cn + (1 - valid) * c
        elif kind == 'GRU':
            xz, xr, xh = gx.split(size, dim=1)
            rz, rr, rh = r.split(size, dim=0)
            bz, br, bh = rb.split(size)
            z = act(0, xz + h @ rz.T + bz)
            rg = act(0, xr + h @ rr.T + br)
            if linear_before_reset:
                hh = act(1, xh + rg * (h @ rh.T + bh))
            else:
                hh = act(1, xh + (rg * h) @ rh.T + bh)
            hn = (1 - z) * hh + z * h
        else:
            hn = act(0, gx + h @ r.T + rb)
        h = valid * hn + (1 - valid) * h
        y[t] = valid * hn
    return y.unsqueeze(1), h.unsqueeze(0), c.unsqueeze(0)
`

// recurrent translates LSTM, GRU and RNN nodes (one direction, no initial states or
// peepholes) into calls of the emitted _onnx_rnn helper.
func recurrent(g *gen, n *onnxpb.NodeProto) error {
	op := n.GetOpType()
	in := n.GetInput()
	if len(in) < 3 {
		return fmt.Errorf("%w: %s with %d inputs", refit.ErrFormat, op, len(in))
	}
	for i := 5; i < len(in); i++ {
		if in[i] != "" {
			return fmt.Errorf("%w: %s initial states or peepholes", refit.ErrUnsupported, op)
		}
	}
	dir := graph.String(n, "direction", "forward")
	if dir != "forward" && dir != "reverse" {
		return fmt.Errorf("%w: %s direction %s", refit.ErrUnsupported, op, dir)
	}
	hidden := graph.Int(n, "hidden_size", 0)
	if hidden < 1 {
		return fmt.Errorf("%w: %s hidden_size %d", refit.ErrFormat, op, hidden)
	}
	defaults := map[string][]string{"LSTM": {"Sigmoid", "Tanh", "Tanh"}, "GRU": {"Sigmoid", "Tanh"}, "RNN": {"Tanh"}}[op]
	acts := defaults
	for _, a := range n.GetAttribute() {
		if a.GetName() == "activations" {
			acts = nil
			for _, s := range a.GetStrings() {
				acts = append(acts, string(s))
			}
		}
	}
	if len(acts) != len(defaults) {
		return fmt.Errorf("%w: %s with %d activations", refit.ErrUnsupported, op, len(acts))
	}
	alphas := graph.Floats(n, "activation_alpha", nil)
	betas := graph.Floats(n, "activation_beta", nil)
	var qa, al, be []string
	for i, a := range acts {
		alpha, beta := float32(0), float32(0)
		switch a {
		case "HardSigmoid":
			alpha, beta = 0.2, 0.5
		case "Affine":
			alpha = 1
		}
		if i < len(alphas) {
			alpha = alphas[i]
		}
		if i < len(betas) {
			beta = betas[i]
		}
		qa, al, be = append(qa, strconv.Quote(a)), append(al, pyFloat(alpha)), append(be, pyFloat(beta))
	}
	args := make([]string, 5)
	for i := range 5 {
		args[i] = "None"
		if i < len(in) && in[i] != "" {
			e, err := g.in(in[i])
			if err != nil {
				return err
			}
			args[i] = e
		}
	}
	if !g.rnn {
		g.rnn = true
		g.helpers = append(g.helpers, rnnHelper)
	}
	v := "v" + strconv.Itoa(g.n)
	g.n++
	g.lines = append(g.lines, fmt.Sprintf("%s = _onnx_rnn(%q, %s, %d, [%s], [%s], [%s], %s, %s)", v, op,
		strings.Join(args, ", "), hidden, strings.Join(qa, ", "), strings.Join(al, ", "), strings.Join(be, ", "),
		pyBool(dir == "reverse"), pyBool(graph.Int(n, "linear_before_reset", 0) != 0)))
	for i, o := range n.GetOutput() {
		if o != "" && i < 3 {
			g.names[o] = fmt.Sprintf("%s[%d]", v, i)
		}
	}
	return nil
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
