package keras2onnx

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Keras keeps recurrent weights as [in, gates*H] with gates in its own order; ONNX as
// [gates*H, in] in another. kerasGate[i] is the Keras gate index of ONNX gate i.
var (
	lstmGates = []int{0, 3, 1, 2} // ONNX i,o,f,c from Keras i,f,c,o
	gruGates  = []int{0, 1, 2}    // both z,r,h
)

// gatesToONNX transposes a Keras [rows, G*H] matrix to ONNX [G*H, rows], reordering gates.
func gatesToONNX(data []float32, rows, hidden int64, order []int) []float32 {
	g := int64(len(order))
	out := make([]float32, len(data))
	for og, kg := range order {
		for h := range hidden {
			dst := (int64(og)*hidden + h) * rows
			src := int64(kg)*hidden + h
			for r := range rows {
				out[dst+r] = data[r*g*hidden+src]
			}
		}
	}
	return out
}

func reorderBias(data []float32, hidden int64, order []int) []float32 {
	out := make([]float32, 0, len(data))
	for _, kg := range order {
		out = append(out, data[int64(kg)*hidden:int64(kg+1)*hidden]...)
	}
	return out
}

// rnnActivation maps a Keras activation to an ONNX RNN activation name with alpha, beta.
func (b *builder) rnnActivation(l *layer, name string) (string, float32, float32, error) {
	switch name {
	case "sigmoid":
		return "Sigmoid", 0, 0, nil
	case "tanh":
		return "Tanh", 0, 0, nil
	case "relu":
		return "Relu", 0, 0, nil
	case "linear":
		return "Affine", 1, 0, nil
	case "softsign":
		return "Softsign", 0, 0, nil
	case "softplus":
		return "Softplus", 0, 0, nil
	case "hard_sigmoid", "hardSigmoid":
		if b.keras3 {
			return "HardSigmoid", 1.0 / 6, 0.5, nil
		}
		return "HardSigmoid", 0.2, 0.5, nil
	}
	return "", 0, 0, unsupported(l, "recurrent activation %q", name)
}

// recurrentOps maps the Keras RNN classes to their ONNX operators.
var recurrentOps = map[string]string{"LSTM": "LSTM", "GRU": "GRU", "SimpleRNN": "RNN"}

func recurrent(b *builder, l *layer, in []*value) ([]*value, error) {
	return recurrentLayer(b, l, in, rnnOptions{})
}

// rnnOptions say how a wrapper uses an RNN.
type rnnOptions struct {
	aligned    bool // return a backward layer's sequence in time order (Bidirectional), not processing order
	zeroMasked bool // masked steps output zeros (Bidirectional), not the previous output
}

// recurrentLayer converts LSTM, GRU and SimpleRNN. A mask on the input (Masking,
// Embedding mask_zero) makes the RNN skip masked steps as Keras does: the state
// carries over them. Since that equals running over the unmasked steps alone, each
// sequence's unmasked steps are gathered to the front in order (TopK on a stable
// key), the ONNX RNN runs with sequence_lens = their count, and a returned sequence
// is gathered back to time positions (a masked step repeats the last output, or is
// zero for Bidirectional).
func recurrentLayer(b *builder, l *layer, in []*value, opt rnnOptions) ([]*value, error) {
	op := recurrentOps[l.Class]
	order := []int{0}
	switch op {
	case "LSTM":
		order = lstmGates
	case "GRU":
		order = gruGates
	}
	if len(in) != 1 {
		return nil, unsupported(l, "%d inputs (initial states are not converted)", len(in))
	}
	x := in[0]
	if err := needRank(l, x, 3); err != nil {
		return nil, err
	}
	c := &l.Cfg
	units := c.int("units", -1)
	act := c.activation("activation")
	if !c.has("activation") {
		act = "tanh"
	}
	recAct := c.activation("recurrent_activation")
	if !c.has("recurrent_activation") {
		recAct = "sigmoid"
	}
	useBias := c.boolean("use_bias", true)
	returnSeq := c.boolean("return_sequences", false)
	returnState := c.boolean("return_state", false)
	backwards := c.boolean("go_backwards", false)
	if c.boolean("time_major", false) {
		return nil, unsupported(l, "time_major")
	}
	if c.err != nil {
		return nil, c.err
	}
	gates := int64(len(order))
	feat := x.channels()
	kernel, ks, err := b.weightF32(l.Name, 0, []int64{feat, -1}, "kernel")
	if err != nil {
		return nil, err
	}
	if len(ks) != 2 || ks[1]%gates != 0 || (units > 0 && ks[1] != gates*units) {
		return nil, fmt.Errorf("%w: layer %q: kernel shape %v for %d units", refit.ErrFormat, l.Name, ks, units)
	}
	hidden := ks[1] / gates
	feat = ks[0]
	rec, _, err := b.weightF32(l.Name, 1, []int64{hidden, gates * hidden}, "recurrent_kernel")
	if err != nil {
		return nil, err
	}
	w := b.Float(l.Name+"_W", []int64{1, gates * hidden, feat}, gatesToONNX(kernel, feat, hidden, order))
	r := b.Float(l.Name+"_R", []int64{1, gates * hidden, hidden}, gatesToONNX(rec, hidden, hidden, order))
	inputs := []string{"", w, r}
	attrs := []*onnxpb.AttributeProto{graph.IntAttr("hidden_size", hidden)}
	if useBias {
		bias, bs, err := b.weightF32(l.Name, 2, nil, "bias")
		if err != nil {
			return nil, err
		}
		n := gates * hidden
		var wb, rb []float32
		switch {
		case int64(len(bias)) == n:
			wb, rb = bias, make([]float32, n)
		case op == "GRU" && int64(len(bias)) == 2*n: // reset_after: [input bias; recurrent bias]
			wb, rb = bias[:n], bias[n:]
		default:
			return nil, fmt.Errorf("%w: layer %q: bias shape %v for %d gates of %d units", refit.ErrFormat, l.Name, bs, gates, hidden)
		}
		bb := append(reorderBias(wb, hidden, order), reorderBias(rb, hidden, order)...)
		inputs = append(inputs, b.Float(l.Name+"_B", []int64{1, 2 * n}, bb))
		if op == "GRU" && int64(len(bias)) == 2*n {
			attrs = append(attrs, graph.IntAttr("linear_before_reset", 1))
		}
	} else if op == "GRU" && c.boolean("reset_after", b.keras3) {
		attrs = append(attrs, graph.IntAttr("linear_before_reset", 1))
	}
	var names []string
	var alphas, betas []float32
	acts := []string{act}
	switch op {
	case "LSTM":
		acts = []string{recAct, act, act}
	case "GRU":
		acts = []string{recAct, act}
	}
	custom := false
	for i, a := range acts {
		n, al, be, err := b.rnnActivation(l, a)
		if err != nil {
			return nil, err
		}
		names, alphas, betas = append(names, n), append(alphas, al), append(betas, be)
		def := "Tanh"
		if i == 0 && op != "RNN" {
			def = "Sigmoid"
		}
		custom = custom || n != def
	}
	if custom {
		attrs = append(attrs, graph.StringsAttr("activations", names), graph.FloatsAttr("activation_alpha", alphas), graph.FloatsAttr("activation_beta", betas))
	}
	if backwards {
		attrs = append(attrs, graph.StringAttr("direction", "reverse"))
	}
	xk := b.toKeras(x)
	batch, steps := x.shape[0], x.shape[1]
	var m *maskedSteps
	if x.mask != "" {
		if steps < 0 || steps > maxDefaultWeight {
			return nil, unsupported(l, "a masked input of %d steps (want a known number up to %d)", steps, maxDefaultWeight)
		}
		m = b.compactSteps(l.Name, xk, steps)
		xk = &value{name: m.x, shape: xk.shape, elem: xk.elem}
		if len(inputs) == 3 {
			inputs = append(inputs, "")
		}
		inputs = append(inputs, m.lens) // sequence_lens
	}
	inputs[0] = b.Op("Transpose", l.Name+"_time_major", []string{xk.name}, graph.IntsAttr("perm", []int64{1, 0, 2}))
	outs := b.OpN(op, l.Name+"_"+op, inputs, []bool{returnSeq, true, op == "LSTM" && returnState}, attrs...)
	var result []*value
	if returnSeq && m != nil {
		y := b.Op("Squeeze", l.Name+"_squeeze", []string{outs[0], b.Int64(l.Name+"_axis1", []int64{1}, []int64{1})})
		y = b.Op("Transpose", l.Name+"_batch_major", []string{y}, graph.IntsAttr("perm", []int64{1, 0, 2}))
		y = b.expandSteps(l.Name, m, y, hidden, backwards, opt.zeroMasked)
		if backwards && !opt.aligned {
			y = b.Op("Slice", l.Name+"_reverse", []string{y, b.Int64(l.Name+"_start", []int64{1}, []int64{-1}),
				b.Int64(l.Name+"_end", []int64{1}, []int64{math.MinInt64}), b.Int64(l.Name+"_axes", []int64{1}, []int64{1}),
				b.Int64(l.Name+"_steps", []int64{1}, []int64{-1})})
		}
		y = b.Op("Identity", l.Name, []string{y})
		result = append(result, &value{name: y, shape: []int64{batch, steps, hidden}, elem: onnxFloat, mask: x.mask})
	} else if returnSeq {
		y := b.Op("Squeeze", l.Name+"_squeeze", []string{outs[0], b.Int64(l.Name+"_axis1", []int64{1}, []int64{1})})
		if backwards && !opt.aligned {
			// Keras emits the outputs in processing order, i.e. reversed in time.
			y = b.Op("Slice", l.Name+"_reverse", []string{y, b.Int64(l.Name+"_start", []int64{1}, []int64{-1}),
				b.Int64(l.Name+"_end", []int64{1}, []int64{math.MinInt64}), b.Int64(l.Name+"_axes", []int64{1}, []int64{0}),
				b.Int64(l.Name+"_steps", []int64{1}, []int64{-1})})
		}
		y = b.Op("Transpose", l.Name, []string{y}, graph.IntsAttr("perm", []int64{1, 0, 2}))
		result = append(result, &value{name: y, shape: []int64{batch, steps, hidden}, elem: onnxFloat, mask: x.mask})
	}
	axis0 := b.Int64(l.Name+"_axis0", []int64{1}, []int64{0})
	state := func(name, base string) *value {
		return &value{name: b.Op("Squeeze", base, []string{name, axis0}), shape: []int64{batch, hidden}, elem: onnxFloat}
	}
	h := state(outs[1], l.Name+"_h")
	if !returnSeq {
		result = append(result, h)
	}
	if returnState {
		result = append(result, h)
		if op == "LSTM" {
			result = append(result, state(outs[2], l.Name+"_c"))
		}
	}
	return result, nil
}

// maskedSteps is an RNN input with each sequence's unmasked steps moved to the front.
type maskedSteps struct {
	x      string // [batch, steps, features], unmasked steps first, in time order
	lens   string // [batch] int32: unmasked steps per sequence
	mask   string // [batch, steps] int64: 1 where unmasked
	counts string // [batch, steps] int64: unmasked steps up to and including each step
	steps  int64
}

func (b *builder) compactSteps(n string, x *value, steps int64) *maskedSteps {
	positions := make([]int64, steps)
	for i := range positions {
		positions[i] = int64(i)
	}
	m := b.Op("Cast", n+"_mask_i", []string{x.mask}, graph.IntAttr("to", onnxInt64))
	one := b.Int64(n+"_one", nil, []int64{1})
	// key = t for unmasked steps, steps + t for masked ones: ascending order keeps time order.
	masked := b.Op("Sub", n+"_masked", []string{one, m})
	key := b.Op("Add", n+"_key", []string{b.Op("Mul", n+"_masked_steps", []string{masked, b.Int64(n+"_steps", nil, []int64{steps})}),
		b.Int64(n+"_positions", []int64{steps}, positions)})
	idx := b.OpN("TopK", n+"_order", []string{key, b.Int64(n+"_k", []int64{1}, []int64{steps})}, []bool{true, true}, // ORT wants both outputs named
		graph.IntAttr("axis", 1), graph.IntAttr("largest", 0), graph.IntAttr("sorted", 1))[1]
	gathered := b.gatherSteps(n+"_compact", x.name, idx)
	lens := b.Op("Cast", n+"_lens", []string{b.Op("ReduceSum", n+"_count", []string{m, b.Int64(n+"_axis", []int64{1}, []int64{1})},
		graph.IntAttr("keepdims", 0))}, graph.IntAttr("to", onnxInt32))
	counts := b.Op("CumSum", n+"_counts", []string{m, b.Int64(n+"_cumsum_axis", nil, []int64{1})})
	return &maskedSteps{x: gathered, lens: lens, mask: m, counts: counts, steps: steps}
}

// gatherSteps picks, per sequence, the steps idx [batch, steps] of x [batch, steps, f].
func (b *builder) gatherSteps(n, x, idx string) string {
	idx3 := b.Op("Unsqueeze", n+"_index", []string{idx, b.Int64(n+"_axis2", []int64{1}, []int64{2})})
	full := b.Op("Expand", n+"_indices", []string{idx3, b.Op("Shape", n+"_shape", []string{x})})
	return b.Op("GatherElements", n, []string{x, full}, graph.IntAttr("axis", 1))
}

// expandSteps maps the compacted output sequence y [batch, steps, hidden] back to
// time positions: forward, step t shows the output after the last unmasked step up
// to t (zeros before the first); backward, after the first unmasked step from t on.
// zeroMasked zeros masked steps instead.
func (b *builder) expandSteps(n string, m *maskedSteps, y string, hidden int64, backwards, zeroMasked bool) string {
	var pos, valid string
	if backwards {
		pos = b.Op("Sub", n+"_before", []string{m.counts, m.mask})
		lens := b.Op("Unsqueeze", n+"_lens_col", []string{b.Op("Cast", n+"_lens_i", []string{m.lens}, graph.IntAttr("to", onnxInt64)),
			b.Int64(n+"_axis1c", []int64{1}, []int64{1})})
		valid = b.Op("Less", n+"_valid", []string{pos, lens})
	} else {
		pos = b.Op("Sub", n+"_last_step", []string{m.counts, b.Int64(n+"_one_e", nil, []int64{1})})
		valid = b.Op("GreaterOrEqual", n+"_valid", []string{pos, b.Int64(n+"_zero_e", nil, []int64{0})})
	}
	pos = b.Op("Clip", n+"_clip", []string{pos, b.Int64(n+"_lo", nil, []int64{0}), b.Int64(n+"_hi", nil, []int64{m.steps - 1})})
	out := b.gatherSteps(n+"_expand", y, pos)
	keep := valid
	if zeroMasked {
		keep = b.Op("Cast", n+"_keep_b", []string{m.mask}, graph.IntAttr("to", onnxBool))
	}
	keepF := b.Op("Cast", n+"_keep", []string{keep}, graph.IntAttr("to", onnxFloat))
	keepF = b.Op("Unsqueeze", n+"_keep_col", []string{keepF, b.Int64(n+"_axis2k", []int64{1}, []int64{2})})
	return b.Op("Mul", n+"_kept", []string{out, keepF})
}
