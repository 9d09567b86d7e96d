package runtime

import (
	"fmt"
	"math"
	"strings"

	"github.com/refit-ml/refit/tensor"
)

// Recurrent layers: RNN, GRU and LSTM, forward, reverse or bidirectional, with
// sequence_lens, initial states, LSTM peepholes and input_forget, GRU
// linear_before_reset, clip, custom activations and the opset-14 batch-major layout.
// The input projection X*W^T of all time steps is one Sgemm; each step then does one
// Sgemm of the hidden state with R^T.

func init() {
	Register(Op{Type: "RNN", Since: 1, Kernel: rnnKernel("RNN"), ViaFloat32: true})
	Register(Op{Type: "GRU", Since: 1, Kernel: rnnKernel("GRU"), ViaFloat32: true})
	Register(Op{Type: "LSTM", Since: 1, Kernel: rnnKernel("LSTM"), ViaFloat32: true})
}

type activation func(float32) float32

func sigmoid32(x float32) float32 {
	if x >= 0 {
		return 1 / (1 + float32(math.Exp(float64(-x))))
	}
	e := float32(math.Exp(float64(x)))
	return e / (1 + e)
}

func tanh32(x float32) float32 { return float32(math.Tanh(float64(x))) }

// rnnActivation builds a named activation; alpha and beta consume the node's
// activation_alpha / activation_beta lists in order for the functions that take them.
func rnnActivation(name string, alphas, betas *[]float32) (activation, error) {
	take := func(list *[]float32, def float32) float32 {
		if len(*list) == 0 {
			return def
		}
		v := (*list)[0]
		*list = (*list)[1:]
		return v
	}
	switch strings.ToLower(name) {
	case "sigmoid":
		return sigmoid32, nil
	case "tanh":
		return tanh32, nil
	case "relu":
		return func(x float32) float32 { return max(0, x) }, nil
	case "affine":
		a, b := take(alphas, 1), take(betas, 0)
		return func(x float32) float32 { return a*x + b }, nil
	case "leakyrelu":
		a := take(alphas, 0.01)
		return func(x float32) float32 {
			if x < 0 {
				return a * x
			}
			return x
		}, nil
	case "thresholdedrelu":
		a := take(alphas, 1)
		return func(x float32) float32 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := take(alphas, 1), take(betas, 1)
		return func(x float32) float32 { return a * tanh32(b*x) }, nil
	case "hardsigmoid":
		a, b := take(alphas, 0.2), take(betas, 0.5)
		return func(x float32) float32 { return max(0, min(1, a*x+b)) }, nil
	case "elu":
		a := take(alphas, 1)
		return func(x float32) float32 {
			if x < 0 {
				return a * float32(math.Expm1(float64(x)))
			}
			return x
		}, nil
	case "softsign":
		return func(x float32) float32 { return x / (1 + float32(math.Abs(float64(x)))) }, nil
	case "softplus":
		return func(x float32) float32 { return float32(math.Log1p(math.Exp(float64(x)))) }, nil
	}
	return nil, fmt.Errorf("activation %q: %w", name, errUnsupported)
}

// rnnSpec is one recurrent node's configuration and inputs, time-major.
type rnnSpec struct {
	kind                     string
	gates, hidden            int
	seq, batch, input        int
	dirs                     int
	reverseOnly              bool
	clip                     float32
	linearBeforeReset        bool
	inputForget              bool
	acts                     [][]activation // per direction
	x, w, r, b, h0, c0, peep []float32
	lens                     []int
	curR                     []float32 // the direction being run's R
}

func rnnKernel(kind string) Kernel {
	return func(c *Call) ([]*Value, error) {
		s, layout, err := readRNN(c, kind)
		if err != nil {
			return nil, err
		}
		y, yh, yc := s.run(c.Threads())
		H, B, T, D := int64(s.hidden), int64(s.batch), int64(s.seq), int64(s.dirs)
		outY, err := c.Alloc(tensor.F32, []int64{T, D, B, H})
		if err != nil {
			return nil, err
		}
		outH, err := c.Alloc(tensor.F32, []int64{D, B, H})
		if err != nil {
			return nil, err
		}
		copy(outY.Data.([]float32), y)
		copy(outH.Data.([]float32), yh)
		outs := []*Value{outY, outH}
		if kind == "LSTM" {
			outC, err := c.Alloc(tensor.F32, []int64{D, B, H})
			if err != nil {
				return nil, err
			}
			copy(outC.Data.([]float32), yc)
			outs = append(outs, outC)
		}
		if layout == 1 {
			// Y [T, D, B, H] -> [B, T, D, H]; states [D, B, H] -> [B, D, H].
			r, err := permuteValue(c, outs[0], []int{2, 0, 1, 3})
			if err != nil {
				return nil, err
			}
			outs[0] = r
			for i := 1; i < len(outs); i++ {
				r, err := permuteValue(c, outs[i], []int{1, 0, 2})
				if err != nil {
					return nil, err
				}
				outs[i] = r
			}
		}
		return outs, nil
	}
}

// permuteValue transposes v by perm.
func permuteValue(c *Call, v *Value, perm []int) (*Value, error) {
	shape := make([]int64, len(perm))
	for i, p := range perm {
		shape[i] = v.Shape[p]
	}
	st := stridesOf(v.Shape)
	idx, err := scratchSlice[int](c, v.Len())
	if err != nil {
		return nil, err
	}
	coord := make([]int, len(perm))
	for i := range idx {
		r := i
		for d := len(shape) - 1; d >= 0; d-- {
			coord[d] = r % int(shape[d])
			r /= int(shape[d])
		}
		off := 0
		for d, p := range perm {
			off += coord[d] * st[p]
		}
		idx[i] = off
	}
	return gatherValue(c, v, shape, idx)
}

func readRNN(c *Call, kind string) (*rnnSpec, int64, error) {
	gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
	var a attrs
	hidden := a.int(c.Node, "hidden_size", 0)
	direction := a.str(c.Node, "direction", "forward")
	clip := a.float(c.Node, "clip", 0)
	alphas := a.floats(c.Node, "activation_alpha", nil)
	betas := a.floats(c.Node, "activation_beta", nil)
	names, err := c.Node.Strings("activations", nil)
	a.keep(err)
	layout := int64(0)
	if c.Opset >= 14 {
		layout = a.int(c.Node, "layout", 0)
	}
	lbr := a.int(c.Node, "linear_before_reset", 0) != 0
	inputForget := a.int(c.Node, "input_forget", 0) != 0
	if a.err != nil {
		return nil, 0, a.err
	}
	x, w, r := c.Input(0), c.Input(1), c.Input(2)
	if x == nil || w == nil || r == nil {
		return nil, 0, fmt.Errorf("needs X, W and R")
	}
	for _, v := range c.Inputs {
		if v != nil && v.DType != tensor.F32 && v != c.Input(4) {
			return nil, 0, fmt.Errorf("%s supports float inputs, have %v", kind, v)
		}
	}
	if len(x.Shape) != 3 || len(w.Shape) != 3 || len(r.Shape) != 3 {
		return nil, 0, fmt.Errorf("inputs X %v, W %v and R %v must be 3-D", x, w, r)
	}
	s := &rnnSpec{kind: kind, gates: gates, clip: clip, linearBeforeReset: lbr, inputForget: inputForget}
	switch direction {
	case "forward":
		s.dirs = 1
	case "reverse":
		s.dirs, s.reverseOnly = 1, true
	case "bidirectional":
		s.dirs = 2
	default:
		return nil, 0, fmt.Errorf("direction %q", direction)
	}
	xs := x.Data.([]float32)
	s.seq, s.batch, s.input = int(x.Shape[0]), int(x.Shape[1]), int(x.Shape[2])
	if layout == 1 {
		s.seq, s.batch = s.batch, s.seq
		r, err := permuteValue(c, x, []int{1, 0, 2})
		if err != nil {
			return nil, 0, err
		}
		xs = r.Data.([]float32)
	} else if layout != 0 {
		return nil, 0, fmt.Errorf("layout %d", layout)
	}
	if hidden <= 0 {
		hidden = r.Shape[2]
	}
	s.hidden = int(hidden)
	G, H, D := gates, s.hidden, s.dirs
	if w.Shape[0] != int64(D) || w.Shape[1] != int64(G*H) || w.Shape[2] != int64(s.input) {
		return nil, 0, fmt.Errorf("input W %v must be [%d, %d, %d]", w, D, G*H, s.input)
	}
	if r.Shape[0] != int64(D) || r.Shape[1] != int64(G*H) || r.Shape[2] != int64(H) {
		return nil, 0, fmt.Errorf("input R %v must be [%d, %d, %d]", r, D, G*H, H)
	}
	s.x, s.w, s.r = xs, w.Data.([]float32), r.Data.([]float32)
	if b := c.Input(3); b != nil {
		if b.Len() != D*2*G*H {
			return nil, 0, fmt.Errorf("input B %v must be [%d, %d]", b, D, 2*G*H)
		}
		s.b = b.Data.([]float32)
	}
	if l := c.Input(4); l != nil {
		ls, err := l.AsInt64s()
		if err != nil || len(ls) != s.batch {
			return nil, 0, fmt.Errorf("sequence_lens %v must be int32 [%d]", l, s.batch)
		}
		s.lens = make([]int, s.batch)
		for i, v := range ls {
			if v < 0 || v > int64(s.seq) {
				return nil, 0, fmt.Errorf("sequence length %d out of range [0, %d]", v, s.seq)
			}
			s.lens[i] = int(v)
		}
	}
	state := func(i int, what string) ([]float32, error) {
		v := c.Input(i)
		if v == nil {
			return nil, nil
		}
		if v.Len() != D*s.batch*H {
			return nil, fmt.Errorf("%s %v must hold [%d, %d, %d]", what, v, D, s.batch, H)
		}
		if layout == 1 {
			r, err := permuteValue(c, v, []int{1, 0, 2})
			if err != nil {
				return nil, err
			}
			return r.Data.([]float32), nil
		}
		return v.Data.([]float32), nil
	}
	if s.h0, err = state(5, "initial_h"); err != nil {
		return nil, 0, err
	}
	if kind == "LSTM" {
		if s.c0, err = state(6, "initial_c"); err != nil {
			return nil, 0, err
		}
		if p := c.Input(7); p != nil {
			if p.Len() != D*3*H {
				return nil, 0, fmt.Errorf("input P %v must be [%d, %d]", p, D, 3*H)
			}
			s.peep = p.Data.([]float32)
		}
	}
	perDir := map[string]int{"RNN": 1, "GRU": 2, "LSTM": 3}[kind]
	if names == nil {
		def := map[string][]string{"RNN": {"Tanh"}, "GRU": {"Sigmoid", "Tanh"}, "LSTM": {"Sigmoid", "Tanh", "Tanh"}}[kind]
		for d := 0; d < D; d++ {
			names = append(names, def...)
		}
	}
	if len(names) != perDir*D {
		return nil, 0, fmt.Errorf("activations %v: want %d", names, perDir*D)
	}
	for d := 0; d < D; d++ {
		var acts []activation
		for _, n := range names[d*perDir : (d+1)*perDir] {
			f, err := rnnActivation(n, &alphas, &betas)
			if err != nil {
				return nil, 0, err
			}
			acts = append(acts, f)
		}
		s.acts = append(s.acts, acts)
	}
	return s, layout, nil
}

// run computes Y [T, D, B, H], Y_h [D, B, H] and (LSTM) Y_c [D, B, H].
func (s *rnnSpec) run(threads int) (y, yh, yc []float32) {
	T, B, I, H, G, D := s.seq, s.batch, s.input, s.hidden, s.gates, s.dirs
	y = make([]float32, T*D*B*H)
	yh = make([]float32, D*B*H)
	yc = make([]float32, D*B*H)
	for d := 0; d < D; d++ {
		reverse := d == 1 || s.reverseOnly
		w := s.w[d*G*H*I : (d+1)*G*H*I]
		r := s.r[d*G*H*H : (d+1)*G*H*H]
		s.curR = r
		var wb, rb []float32
		if s.b != nil {
			wb = s.b[d*2*G*H : d*2*G*H+G*H]
			rb = s.b[d*2*G*H+G*H : (d+1)*2*G*H]
		}
		// xw[t, b, :] = X[t, b] W^T + Wb (+ Rb, except GRU's hidden gate with
		// linear_before_reset, where Rb sits inside the reset product).
		xw := make([]float32, T*B*G*H)
		Sgemm(threads, false, true, T*B, G*H, I, 1, s.x, I, w, I, 0, xw, G*H)
		if wb != nil {
			for row := 0; row < T*B; row++ {
				v := xw[row*G*H : (row+1)*G*H]
				for j := range v {
					v[j] += wb[j]
					if !(s.kind == "GRU" && j >= 2*H) {
						v[j] += rb[j]
					}
				}
			}
		}
		h := make([]float32, B*H)
		cst := make([]float32, B*H)
		if s.h0 != nil {
			copy(h, s.h0[d*B*H:(d+1)*B*H])
		}
		if s.c0 != nil {
			copy(cst, s.c0[d*B*H:(d+1)*B*H])
		}
		var peep []float32
		if s.peep != nil {
			peep = s.peep[d*3*H : (d+1)*3*H]
		}
		hr := make([]float32, B*G*H)
		acts := s.acts[d]
		for step := 0; step < T; step++ {
			t := step
			if reverse {
				t = T - 1 - step
			}
			Sgemm(threads, false, true, B, G*H, H, 1, h, H, r, H, 0, hr, G*H)
			hNew := make([]float32, B*H)
			for b := 0; b < B; b++ {
				seqLen := T
				if s.lens != nil {
					seqLen = s.lens[b]
				}
				if t >= seqLen {
					// Past this sequence's end: state carries, output stays 0.
					copy(hNew[b*H:(b+1)*H], h[b*H:(b+1)*H])
					continue
				}
				gx := xw[(t*B+b)*G*H : (t*B+b+1)*G*H]
				gh := hr[b*G*H : (b+1)*G*H]
				hb, cb, nb := h[b*H:(b+1)*H], cst[b*H:(b+1)*H], hNew[b*H:(b+1)*H]
				s.cell(gx, gh, rb, hb, cb, nb, peep, acts)
				copy(y[((t*D+d)*B+b)*H:((t*D+d)*B+b+1)*H], nb)
			}
			h = hNew
		}
		copy(yh[d*B*H:(d+1)*B*H], h)
		copy(yc[d*B*H:(d+1)*B*H], cst)
	}
	return y, yh, yc
}

func (s *rnnSpec) clipped(v float32) float32 {
	if s.clip > 0 {
		return max(-s.clip, min(s.clip, v))
	}
	return v
}

// cell advances one batch row: gx holds X W^T + biases, gh holds H R^T; h is the
// previous hidden state, c the LSTM cell state (updated in place), out the new hidden.
func (s *rnnSpec) cell(gx, gh, rb, h, c, out, peep []float32, acts []activation) {
	H := s.hidden
	switch s.kind {
	case "RNN":
		for j := 0; j < H; j++ {
			out[j] = acts[0](s.clipped(gx[j] + gh[j]))
		}
	case "GRU":
		f, g := acts[0], acts[1]
		z, rh := make([]float32, H), make([]float32, H)
		for j := 0; j < H; j++ {
			z[j] = f(s.clipped(gx[j] + gh[j]))
			rt := f(s.clipped(gx[H+j] + gh[H+j]))
			if s.linearBeforeReset {
				var rbh float32
				if rb != nil {
					rbh = rb[2*H+j]
				}
				hh := g(s.clipped(gx[2*H+j] + rt*(gh[2*H+j]+rbh)))
				out[j] = (1-z[j])*hh + z[j]*h[j]
			} else {
				rh[j] = rt * h[j]
			}
		}
		if s.linearBeforeReset {
			return
		}
		// h~ = g(x W_h^T + Wb_h + (r (.) h) R_h^T + Rb_h), R_h being rows [2H, 3H) of R.
		for j := 0; j < H; j++ {
			row := s.curR[(2*H+j)*H : (2*H+j+1)*H]
			var acc float32
			for k, v := range rh {
				acc += v * row[k]
			}
			if rb != nil {
				acc += rb[2*H+j]
			}
			hh := g(s.clipped(gx[2*H+j] + acc))
			out[j] = (1-z[j])*hh + z[j]*h[j]
		}
	case "LSTM":
		f, g, hf := acts[0], acts[1], acts[2]
		for j := 0; j < H; j++ {
			pi, po, pf := float32(0), float32(0), float32(0)
			if peep != nil {
				pi, po, pf = peep[j], peep[H+j], peep[2*H+j]
			}
			cPrev := c[j]
			it := f(s.clipped(gx[j] + gh[j] + pi*cPrev))
			var ft float32
			if s.inputForget {
				ft = 1 - it
			} else {
				ft = f(s.clipped(gx[2*H+j] + gh[2*H+j] + pf*cPrev))
			}
			ct := g(s.clipped(gx[3*H+j] + gh[3*H+j]))
			cNew := ft*cPrev + it*ct
			ot := f(s.clipped(gx[H+j] + gh[H+j] + po*cNew))
			c[j] = cNew
			out[j] = ot * hf(cNew)
		}
	}
}
