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

func lstm(b *builder, l *layer, in []*value) ([]*value, error) {
	return recurrent(b, l, in, "LSTM", lstmGates)
}

func gru(b *builder, l *layer, in []*value) ([]*value, error) {
	return recurrent(b, l, in, "GRU", gruGates)
}

func simpleRNN(b *builder, l *layer, in []*value) ([]*value, error) {
	return recurrent(b, l, in, "RNN", []int{0})
}

func recurrent(b *builder, l *layer, in []*value, op string, order []int) ([]*value, error) {
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
	inputs[0] = b.Op("Transpose", l.Name+"_time_major", []string{xk.name}, graph.IntsAttr("perm", []int64{1, 0, 2}))
	outs := b.OpN(op, l.Name+"_"+op, inputs, []bool{returnSeq, true, op == "LSTM" && returnState}, attrs...)
	batch, steps := x.shape[0], x.shape[1]
	var result []*value
	if returnSeq {
		y := b.Op("Squeeze", l.Name+"_squeeze", []string{outs[0], b.Int64(l.Name+"_axis1", []int64{1}, []int64{1})})
		if backwards {
			// Keras emits the outputs in processing order, i.e. reversed in time.
			y = b.Op("Slice", l.Name+"_reverse", []string{y, b.Int64(l.Name+"_start", []int64{1}, []int64{-1}),
				b.Int64(l.Name+"_end", []int64{1}, []int64{math.MinInt64}), b.Int64(l.Name+"_axes", []int64{1}, []int64{0}),
				b.Int64(l.Name+"_steps", []int64{1}, []int64{-1})})
		}
		y = b.Op("Transpose", l.Name, []string{y}, graph.IntsAttr("perm", []int64{1, 0, 2}))
		result = append(result, &value{name: y, shape: []int64{batch, steps, hidden}, elem: onnxFloat})
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
