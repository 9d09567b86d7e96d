package keras2onnx

import (
	"slices"

	"github.com/refit-ml/refit/graph"
)

func init() {
	converters["TimeDistributed"] = timeDistributed
	converters["Bidirectional"] = bidirectional
	converters["Masking"] = masking
}

// sublayer returns a copy of the layer a wrapper holds, renamed name, whose weights
// are looked up under the given suffixes of the wrapper's own weight prefixes.
func (b *builder) sublayer(w *layer, inner *layer, name string, suffixes ...string) *layer {
	c := *inner
	c.Name = name
	c.Cfg.layer = name
	var ps []string
	for _, p := range b.prefixes(w.Name) {
		for _, s := range suffixes {
			ps = append(ps, p+s)
		}
	}
	b.alias[name] = ps
	return &c
}

// timeDistributed applies the wrapped layer to every step: the batch and time axes
// are merged into one for the inner layer and split again after it.
func timeDistributed(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	if x.rank() < 3 {
		return nil, needRank(l, x, 3, 4, 5, 6)
	}
	x = b.toKeras(x)
	rest := x.shape[2:]
	if slices.Contains(rest, -1) {
		return nil, unsupported(l, "input shape %v: per-step dimensions must be known", x.shape)
	}
	// Keras 3 keeps the inner layer's variables under <wrapper>/layer; Keras 2 under the
	// wrapper's name; TF.js under <wrapper>/<inner>.
	inner := b.sublayer(l, l.Wrapped, l.Name+"/"+l.Wrapped.Name, "/layer", "/"+l.Wrapped.Name, "")
	flat := b.Op("Reshape", l.Name+"_merge", []string{x.name, b.Int64(l.Name+"_merged_shape", []int64{int64(len(rest) + 1)}, append([]int64{-1}, rest...))})
	rows := int64(-1)
	if x.shape[0] >= 0 && x.shape[1] >= 0 {
		rows = x.shape[0] * x.shape[1]
	}
	outs, err := b.call(inner, []*value{{name: flat, shape: append([]int64{rows}, rest...), elem: x.elem}}, len(b.scope))
	if err != nil {
		return nil, err
	}
	if len(outs) != 1 {
		return nil, unsupported(l, "wrapped layer with %d outputs", len(outs))
	}
	y := b.toKeras(outs[0])
	yrest := y.shape[1:]
	if slices.Contains(yrest, -1) {
		return nil, unsupported(l, "inner output shape %v: per-step dimensions must be known", y.shape)
	}
	// A known number of steps gives a constant shape; otherwise batch and steps come
	// from the input's shape at run time.
	var shape string
	if x.shape[1] >= 0 {
		shape = b.Int64(l.Name+"_split_shape", []int64{int64(len(yrest) + 2)}, append([]int64{-1, x.shape[1]}, yrest...))
	} else {
		bt := b.Op("Slice", l.Name+"_batch_time", []string{b.Op("Shape", l.Name+"_shape", []string{x.name}),
			b.Int64(l.Name+"_zero", []int64{1}, []int64{0}), b.Int64(l.Name+"_two", []int64{1}, []int64{2})})
		shape = b.Op("Concat", l.Name+"_split_shape", []string{bt, b.Int64(l.Name+"_step_shape", []int64{int64(len(yrest))}, yrest)}, graph.IntAttr("axis", 0))
	}
	out := b.Op("Reshape", l.Name, []string{y.name, shape})
	return []*value{{name: out, shape: append([]int64{x.shape[0], x.shape[1]}, yrest...), elem: y.elem, mask: x.mask}}, nil
}

// bidirectional runs the wrapped RNN forwards and a copy (or backward_layer) backwards
// over the same input and merges their outputs; states follow, forward ones first.
func bidirectional(b *builder, l *layer, in []*value) ([]*value, error) {
	if len(in) != 1 {
		return nil, unsupported(l, "%d inputs (initial states are not converted)", len(in))
	}
	mode := l.Cfg.str("merge_mode", "concat")
	if v, ok := l.Cfg.m["merge_mode"]; ok && v == nil {
		mode = ""
	}
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	fw := l.Wrapped
	bw := l.Back
	if bw == nil {
		c := *fw
		c.Cfg.m = maps(fw.Cfg.m)
		c.Cfg.m["go_backwards"] = !fw.Cfg.boolean("go_backwards", false)
		bw = &c
	}
	for _, w := range []*layer{fw, bw} {
		if recurrentOps[w.Class] == "" {
			return nil, unsupported(l, "wrapped layer class %s (want LSTM, GRU or SimpleRNN)", w.Class)
		}
	}
	// Keras 3 keeps the halves under <wrapper>/forward_layer and backward_layer; Keras 2
	// and TF.js under <wrapper>/forward_<name> and backward_<name>.
	f := b.sublayer(l, fw, l.Name+"/forward_"+fw.Name, "/forward_layer", "/forward_"+fw.Name)
	r := b.sublayer(l, bw, l.Name+"/backward_"+bw.Name, "/backward_layer", "/backward_"+bw.Name)
	seq := fw.Cfg.boolean("return_sequences", false)
	opts := rnnOptions{aligned: true, zeroMasked: seq}
	fo, err := recurrentLayer(b, f, in, opts)
	if err != nil {
		return nil, err
	}
	bo, err := recurrentLayer(b, r, in, opts)
	if err != nil {
		return nil, err
	}
	if len(fo) != len(bo) {
		return nil, unsupported(l, "forward and backward layers return %d and %d tensors", len(fo), len(bo))
	}
	yf, yb := fo[0], bo[0]
	var outs []*value
	switch mode {
	case "concat":
		shape := slices.Clone(yf.shape)
		shape[len(shape)-1] += yb.channels()
		outs = []*value{{name: b.Op("Concat", l.Name, []string{yf.name, yb.name}, graph.IntAttr("axis", -1)), shape: shape, elem: onnxFloat}}
	case "sum":
		outs = []*value{{name: b.Op("Add", l.Name, []string{yf.name, yb.name}), shape: yf.shape, elem: onnxFloat}}
	case "mul":
		outs = []*value{{name: b.Op("Mul", l.Name, []string{yf.name, yb.name}), shape: yf.shape, elem: onnxFloat}}
	case "ave":
		sum := b.Op("Add", l.Name+"_sum", []string{yf.name, yb.name})
		outs = []*value{{name: b.Op("Mul", l.Name, []string{sum, b.scalar(l.Name+"_half", 0.5)}), shape: yf.shape, elem: onnxFloat}}
	case "":
		outs = []*value{yf, yb}
	default:
		return nil, unsupported(l, "merge_mode %q", mode)
	}
	if seq {
		for _, o := range outs {
			o.mask = in[0].mask
		}
	}
	outs = append(outs, fo[1:]...)
	return append(outs, bo[1:]...), nil
}

func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// masking is Keras' Masking: steps whose features all equal mask_value are masked
// for the layers after it and zeroed in the output.
func masking(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	mv := l.Cfg.float("mask_value", 0)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	if x.rank() < 3 {
		return nil, needRank(l, x, 3, 4, 5)
	}
	x = b.toKeras(x)
	n := l.Name
	differs := b.Op("Not", n+"_differs", []string{b.Op("Equal", n+"_equal", []string{x.name, b.scalar(n+"_mask_value", mv)})})
	// ReduceMax takes its axes as an attribute until opset 18.
	last := graph.IntsAttr("axes", []int64{-1})
	any := b.Op("ReduceMax", n+"_any", []string{b.Op("Cast", n+"_differs_f", []string{differs}, graph.IntAttr("to", onnxFloat))},
		last, graph.IntAttr("keepdims", 1))
	y := b.Op("Mul", n, []string{x.name, any})
	// The mask covers the time axis: features reduced, the other axes all true.
	m := any
	for r := x.rank() - 1; r > 2; r-- {
		m = b.Op("ReduceMax", n+"_any_step", []string{m}, last, graph.IntAttr("keepdims", 1))
	}
	m = b.Op("Squeeze", n+"_mask_f", []string{m, b.Int64(n+"_last", []int64{1}, []int64{-1})})
	mask := b.Op("Cast", n+"_mask", []string{m}, graph.IntAttr("to", onnxBool))
	return []*value{{name: y, shape: x.shape, elem: x.elem, mask: mask}}, nil
}

// maskPassing lists layers that hand their input's mask on unchanged (Keras'
// supports_masking without compute_mask of their own).
var maskPassing = map[string]bool{
	"Dropout": true, "SpatialDropout1D": true, "GaussianNoise": true, "GaussianDropout": true, "AlphaDropout": true,
	"Activation": true, "ReLU": true, "LeakyReLU": true, "PReLU": true, "ELU": true, "ThresholdedReLU": true,
	"Softmax": true, "Dense": true, "BatchNormalization": true, "LayerNormalization": true, "Rescaling": true,
	"ActivityRegularization": true,
}

var mergeClasses = map[string]bool{"Add": true, "Subtract": true, "Multiply": true, "Average": true,
	"Maximum": true, "Minimum": true, "Concatenate": true}

// passMask sets the mask of a layer's outputs from its inputs' as Keras does: passed
// on by layers in maskPassing, combined (and) by merges, dropped by others (Keras 3
// and tf.keras drop masks at layers that do not support them).
func (b *builder) passMask(l *layer, in, outs []*value) {
	if len(outs) == 0 || outs[0].mask != "" || outs[0].rank() < 2 {
		return
	}
	switch {
	case maskPassing[l.Class] && len(in) == 1:
		outs[0].mask = in[0].mask
	case mergeClasses[l.Class]:
		m := ""
		for _, v := range in {
			switch {
			case v.mask == "":
			case m == "":
				m = v.mask
			case m != v.mask:
				m = b.Op("And", l.Name+"_mask", []string{m, v.mask})
			}
		}
		outs[0].mask = m
	}
}
