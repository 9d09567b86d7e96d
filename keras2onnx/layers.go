package keras2onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// convertFunc converts one call of a layer: inputs in, outputs out (Keras order).
type convertFunc func(b *builder, l *layer, in []*value) ([]*value, error)

// converters maps Keras class names to converters. InputLayer is handled by Convert.
var converters = map[string]convertFunc{}

func init() {
	for class, f := range map[string]convertFunc{
		"Dense":                  dense,
		"Conv1D":                 conv(1),
		"Conv2D":                 conv(2),
		"Conv3D":                 conv(3),
		"Conv1DTranspose":        convTranspose(1),
		"Conv2DTranspose":        convTranspose(2),
		"Conv3DTranspose":        convTranspose(3),
		"DepthwiseConv1D":        depthwise(1, false),
		"DepthwiseConv2D":        depthwise(2, false),
		"SeparableConv1D":        depthwise(1, true),
		"SeparableConv2D":        depthwise(2, true),
		"BatchNormalization":     batchNorm,
		"LayerNormalization":     layerNorm,
		"Activation":             activationLayer,
		"ReLU":                   reluLayer,
		"LeakyReLU":              leakyReLU,
		"PReLU":                  prelu,
		"ELU":                    eluLayer,
		"ThresholdedReLU":        thresholdedReLU,
		"Softmax":                softmaxLayer,
		"MaxPooling1D":           pool(1, "MaxPool"),
		"MaxPooling2D":           pool(2, "MaxPool"),
		"MaxPooling3D":           pool(3, "MaxPool"),
		"AveragePooling1D":       pool(1, "AveragePool"),
		"AveragePooling2D":       pool(2, "AveragePool"),
		"AveragePooling3D":       pool(3, "AveragePool"),
		"GlobalAveragePooling1D": globalPool("GlobalAveragePool"),
		"GlobalAveragePooling2D": globalPool("GlobalAveragePool"),
		"GlobalAveragePooling3D": globalPool("GlobalAveragePool"),
		"GlobalMaxPooling1D":     globalPool("GlobalMaxPool"),
		"GlobalMaxPooling2D":     globalPool("GlobalMaxPool"),
		"GlobalMaxPooling3D":     globalPool("GlobalMaxPool"),
		"ZeroPadding1D":          zeroPadding(1),
		"ZeroPadding2D":          zeroPadding(2),
		"ZeroPadding3D":          zeroPadding(3),
		"Cropping1D":             cropping(1),
		"Cropping2D":             cropping(2),
		"Cropping3D":             cropping(3),
		"UpSampling1D":           upSampling(1),
		"UpSampling2D":           upSampling(2),
		"UpSampling3D":           upSampling(3),
		"Add":                    merge("Sum"),
		"Multiply":               merge("Mul"),
		"Subtract":               merge("Sub"),
		"Average":                merge("Mean"),
		"Maximum":                merge("Max"),
		"Minimum":                merge("Min"),
		"Concatenate":            concatenate,
		"Flatten":                flatten,
		"Reshape":                reshape,
		"Permute":                permuteLayer,
		"Embedding":              embedding,
		"Rescaling":              rescaling,
		"LSTM":                   recurrent,
		"GRU":                    recurrent,
		"SimpleRNN":              recurrent,
	} {
		converters[class] = f
	}
	for _, class := range []string{"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
		"GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"} {
		converters[class] = identity
	}
}

// Layers returns the Keras layer classes Convert supports, sorted.
func Layers() []string {
	out := []string{"InputLayer"}
	for k := range converters {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func one(in []*value, l *layer) (*value, error) {
	if len(in) != 1 {
		return nil, fmt.Errorf("%w: layer %q (%s) takes 1 input, got %d", refit.ErrFormat, l.Name, l.Class, len(in))
	}
	return in[0], nil
}

func unsupported(l *layer, format string, args ...any) error {
	return fmt.Errorf("%w: layer %q (%s): %s", refit.ErrUnsupported, l.Name, l.Class, fmt.Sprintf(format, args...))
}

func channelsLast(l *layer) error {
	if f := l.Cfg.str("data_format", "channels_last"); f != "channels_last" {
		return unsupported(l, "data_format %q", f)
	}
	return nil
}

func identity(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	return []*value{x}, err
}

func needRank(l *layer, x *value, ranks ...int) error {
	if !slices.Contains(ranks, x.rank()) {
		return fmt.Errorf("%w: layer %q (%s): input rank %d, want %v", refit.ErrFormat, l.Name, l.Class, x.rank(), ranks)
	}
	return nil
}

func dense(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	c := &l.Cfg
	units := c.int("units", -1)
	useBias := c.boolean("use_bias", true)
	act := c.activation("activation")
	if c.err != nil {
		return nil, c.err
	}
	if x.rank() < 2 {
		return nil, needRank(l, x, 2, 3, 4)
	}
	kernel, kshape, err := b.weightF32(l.Name, 0, []int64{x.channels(), units}, "kernel")
	if err != nil {
		return nil, err
	}
	if len(kshape) != 2 {
		return nil, fmt.Errorf("%w: layer %q: kernel shape %v", refit.ErrFormat, l.Name, kshape)
	}
	units = kshape[1]
	w := b.Float(l.Name+"_kernel", kshape, kernel)
	var bias string
	if useBias {
		bv, _, err := b.weightF32(l.Name, 1, []int64{units}, "bias")
		if err != nil {
			return nil, err
		}
		bias = b.Float(l.Name+"_bias", []int64{units}, bv)
	}
	shape := append(slices.Clone(x.shape[:x.rank()-1]), units)
	var out string
	if x.rank() == 2 {
		inputs := []string{x.name, w}
		if useBias {
			inputs = append(inputs, bias)
		}
		out = b.Op("Gemm", l.Name, inputs)
	} else {
		x = b.toKeras(x)
		out = b.Op("MatMul", l.Name+"_matmul", []string{x.name, w})
		if useBias {
			out = b.Op("Add", l.Name, []string{out, bias})
		}
	}
	y, err := b.activate(l, &value{name: out, shape: shape, elem: onnxFloat}, act)
	return []*value{y}, err
}

// spatialOut computes output sizes and begin/end pads for Keras padding "valid",
// "same" (TensorFlow's: the odd extra pad goes at the end) and "causal" (1D).
// Unknown input sizes (-1) with "same" give nil pads: use auto_pad SAME_UPPER.
func spatialOut(l *layer, in, k, s, d []int64, padding string) (out, pads []int64, err error) {
	nd := len(in)
	out = make([]int64, nd)
	pads = make([]int64, 2*nd)
	for i := range nd {
		if k[i] < 1 || s[i] < 1 || d[i] < 1 {
			return nil, nil, fmt.Errorf("%w: layer %q: kernel %v, strides %v, dilation %v", refit.ErrFormat, l.Name, k, s, d)
		}
		eff := (k[i]-1)*d[i] + 1
		switch padding {
		case "valid":
			out[i] = -1
			if in[i] >= 0 {
				if in[i] < eff {
					return nil, nil, fmt.Errorf("%w: layer %q: input size %d smaller than window %d", refit.ErrFormat, l.Name, in[i], eff)
				}
				out[i] = (in[i]-eff)/s[i] + 1
			}
		case "same":
			if in[i] < 0 {
				return []int64{-1, -1, -1}[:nd], nil, nil
			}
			out[i] = (in[i] + s[i] - 1) / s[i]
			total := max((out[i]-1)*s[i]+eff-in[i], 0)
			pads[i], pads[nd+i] = total/2, total-total/2
		case "causal":
			pads[i] = eff - 1
			out[i] = -1
			if in[i] >= 0 {
				out[i] = (in[i]+eff-1-eff)/s[i] + 1
			}
		default:
			return nil, nil, unsupported(l, "padding %q", padding)
		}
	}
	return out, pads, nil
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func windowAttrs(k, s, d, pads []int64) []*onnxpb.AttributeProto {
	attrs := []*onnxpb.AttributeProto{graph.IntsAttr("kernel_shape", k), graph.IntsAttr("strides", s)}
	if d != nil {
		attrs = append(attrs, graph.IntsAttr("dilations", d))
	}
	if pads == nil {
		attrs = append(attrs, graph.StringAttr("auto_pad", "SAME_UPPER"))
	} else {
		attrs = append(attrs, graph.IntsAttr("pads", pads))
	}
	return attrs
}

// kernelToOI moves a Keras kernel [k..., in, out] to ONNX [out, in, k...].
func kernelToOI(data []float32, shape []int64) ([]float32, []int64) {
	nd := len(shape) - 2
	perm := []int{nd + 1, nd}
	for i := range nd {
		perm = append(perm, i)
	}
	return permute(data, shape, perm)
}

func conv(nd int) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		c := &l.Cfg
		k := c.ints("kernel_size", nd, nil)
		s := c.ints("strides", nd, repeat(1, nd))
		d := c.ints("dilation_rate", nd, repeat(1, nd))
		padding := c.str("padding", "valid")
		groups := c.int("groups", 1)
		filters := c.int("filters", -1)
		useBias := c.boolean("use_bias", true)
		act := c.activation("activation")
		if c.err != nil {
			return nil, c.err
		}
		if k == nil || groups < 1 {
			return nil, fmt.Errorf("%w: layer %q: kernel_size %v, groups %d", refit.ErrFormat, l.Name, k, groups)
		}
		cin := x.channels()
		if cin > 0 {
			cin /= groups
		}
		kernel, kshape, err := b.weightF32(l.Name, 0, append(slices.Clone(k), cin, filters), "kernel")
		if err != nil {
			return nil, err
		}
		filters = kshape[nd+1]
		wd, ws := kernelToOI(kernel, kshape)
		inputs := []string{b.toCF(x).name, b.Float(l.Name+"_kernel", ws, wd)}
		if useBias {
			bv, _, err := b.weightF32(l.Name, 1, []int64{filters}, "bias")
			if err != nil {
				return nil, err
			}
			inputs = append(inputs, b.Float(l.Name+"_bias", []int64{filters}, bv))
		}
		outSp, pads, err := spatialOut(l, x.spatial(), k, s, d, padding)
		if err != nil {
			return nil, err
		}
		attrs := append(windowAttrs(k, s, d, pads), graph.IntAttr("group", groups))
		out := b.Op("Conv", l.Name, inputs, attrs...)
		shape := append(append([]int64{x.shape[0]}, outSp...), filters)
		y, err := b.activate(l, &value{name: out, shape: shape, cf: true, elem: onnxFloat}, act)
		return []*value{y}, err
	}
}

// depthwise converts DepthwiseConv and (separable) SeparableConv: a grouped conv with
// kernel [k..., C, M] -> [C*M, 1, k...], then for separable a 1x1 conv.
func depthwise(nd int, separable bool) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		c := &l.Cfg
		k := c.ints("kernel_size", nd, nil)
		s := c.ints("strides", nd, repeat(1, nd))
		d := c.ints("dilation_rate", nd, repeat(1, nd))
		padding := c.str("padding", "valid")
		mult := c.int("depth_multiplier", 1)
		filters := c.int("filters", -1)
		useBias := c.boolean("use_bias", true)
		act := c.activation("activation")
		if c.err != nil {
			return nil, c.err
		}
		if k == nil {
			return nil, fmt.Errorf("%w: layer %q: no kernel_size", refit.ErrFormat, l.Name)
		}
		kernel, kshape, err := b.weightF32(l.Name, 0, append(slices.Clone(k), x.channels(), mult), "depthwise_kernel", "kernel")
		if err != nil {
			return nil, err
		}
		ch, mult := kshape[nd], kshape[nd+1]
		perm := []int{nd, nd + 1}
		for i := range nd {
			perm = append(perm, i)
		}
		wd, _ := permute(kernel, kshape, perm)
		ws := append([]int64{ch * mult, 1}, k...)
		inputs := []string{b.toCF(x).name, b.Float(l.Name+"_depthwise_kernel", ws, wd)}
		outSp, pads, err := spatialOut(l, x.spatial(), k, s, d, padding)
		if err != nil {
			return nil, err
		}
		outCh := ch * mult
		biasIndex := 1
		if separable {
			biasIndex = 2
		}
		var bias string
		if useBias {
			want := outCh
			if separable {
				want = filters
			}
			bv, bs, err := b.weightF32(l.Name, biasIndex, []int64{want}, "bias")
			if err != nil {
				return nil, err
			}
			bias = b.Float(l.Name+"_bias", bs, bv)
		}
		if useBias && !separable {
			inputs = append(inputs, bias)
		}
		attrs := append(windowAttrs(k, s, d, pads), graph.IntAttr("group", ch))
		out := b.Op("Conv", l.Name+"_depthwise", inputs, attrs...)
		if separable {
			pk, pshape, err := b.weightF32(l.Name, 1, append(repeat(1, nd), outCh, filters), "pointwise_kernel")
			if err != nil {
				return nil, err
			}
			outCh = pshape[nd+1]
			pd, ps := kernelToOI(pk, pshape)
			pin := []string{out, b.Float(l.Name+"_pointwise_kernel", ps, pd)}
			if useBias {
				pin = append(pin, bias)
			}
			out = b.Op("Conv", l.Name, pin, graph.IntsAttr("kernel_shape", repeat(1, nd)))
		}
		shape := append(append([]int64{x.shape[0]}, outSp...), outCh)
		y, err := b.activate(l, &value{name: out, shape: shape, cf: true, elem: onnxFloat}, act)
		return []*value{y}, err
	}
}

// maxDefaultWeight caps weights made up from a config (LayerNormalization without gamma).
const maxDefaultWeight = 1 << 24

// singleAxis reads "axis" as an int or a one-element list.
func singleAxis(c *cfg, def int64) int64 {
	if l, ok := c.m["axis"].([]any); ok && len(l) == 1 {
		if i, ok := toInt(l[0]); ok {
			return i
		}
	}
	return c.int("axis", def)
}

func batchNorm(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	c := &l.Cfg
	axis := singleAxis(c, -1)
	eps := c.float("epsilon", 1e-3)
	center := c.boolean("center", true)
	scale := c.boolean("scale", true)
	if c.err != nil {
		return nil, c.err
	}
	r := int64(x.rank())
	if axis != -1 && axis != r-1 {
		return nil, unsupported(l, "axis %d of a rank-%d input (only the channel axis)", axis, r)
	}
	n := x.channels()
	i := 0
	next := func(name string, def float32) ([]float32, error) {
		v, s, err := b.weightF32(l.Name, i, []int64{n}, name)
		i++
		if err == nil {
			n = s[0]
		}
		_ = def
		return v, err
	}
	var gamma, beta []float32
	if scale {
		if gamma, err = next("gamma", 1); err != nil {
			return nil, err
		}
	}
	if center {
		if beta, err = next("beta", 0); err != nil {
			return nil, err
		}
	}
	mean, err := next("moving_mean", 0)
	if err != nil {
		return nil, err
	}
	variance, err := next("moving_variance", 1)
	if err != nil {
		return nil, err
	}
	if gamma == nil {
		gamma = ones(n)
	}
	if beta == nil {
		beta = make([]float32, n)
	}
	if r == 3 && !x.cf {
		// A sequence in Keras order: fold into a per-channel affine map on the last axis.
		mul, add := make([]float32, n), make([]float32, n)
		for k := range mul {
			s := float64(gamma[k]) / math.Sqrt(float64(variance[k])+eps)
			mul[k] = float32(s)
			add[k] = float32(float64(beta[k]) - float64(mean[k])*s)
		}
		y := b.Op("Mul", l.Name+"_scale", []string{x.name, b.Float(l.Name+"_mul", []int64{n}, mul)})
		y = b.Op("Add", l.Name, []string{y, b.Float(l.Name+"_add", []int64{n}, add)})
		return []*value{{name: y, shape: x.shape, elem: onnxFloat}}, nil
	}
	x = b.toCF(x)
	dims := []int64{n}
	y := b.Op("BatchNormalization", l.Name, []string{x.name,
		b.Float(l.Name+"_gamma", dims, gamma), b.Float(l.Name+"_beta", dims, beta),
		b.Float(l.Name+"_moving_mean", dims, mean), b.Float(l.Name+"_moving_variance", dims, variance)},
		graph.FloatAttr("epsilon", float32(eps)))
	return []*value{{name: y, shape: x.shape, cf: x.cf, elem: onnxFloat}}, nil
}

func layerNorm(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	c := &l.Cfg
	r := int64(x.rank())
	axes := c.ints("axis", -1, []int64{-1})
	eps := c.float("epsilon", 1e-3)
	center := c.boolean("center", true)
	scale := c.boolean("scale", true)
	if c.boolean("rms_scaling", false) {
		return nil, unsupported(l, "rms_scaling")
	}
	if c.err != nil {
		return nil, c.err
	}
	for i := range axes {
		if axes[i] < 0 {
			axes[i] += r
		}
	}
	slices.Sort(axes)
	if len(axes) == 0 || axes[0] < 1 || axes[len(axes)-1] != r-1 || int64(len(axes)) != r-axes[0] {
		return nil, unsupported(l, "axis %v (only trailing axes)", c.m["axis"])
	}
	x = b.toKeras(x)
	normShape := slices.Clone(x.shape[axes[0]:])
	i := 0
	var gamma, beta string
	if scale {
		v, s, err := b.weightF32(l.Name, i, normShape, "gamma")
		if err != nil {
			return nil, err
		}
		normShape = s
		gamma = b.Float(l.Name+"_gamma", s, v)
		i++
	}
	if center {
		v, s, err := b.weightF32(l.Name, i, normShape, "beta")
		if err != nil {
			return nil, err
		}
		normShape = s
		beta = b.Float(l.Name+"_beta", s, v)
	}
	n := int64(1)
	for _, d := range normShape {
		if d < 0 || d > maxDefaultWeight || n*d > maxDefaultWeight {
			return nil, unsupported(l, "normalized shape %v without weights", normShape)
		}
		n *= d
	}
	if gamma == "" {
		gamma = b.Float(l.Name+"_gamma", normShape, ones(n))
	}
	inputs := []string{x.name, gamma}
	if beta != "" {
		inputs = append(inputs, beta)
	}
	y := b.Op("LayerNormalization", l.Name, inputs, graph.IntAttr("axis", axes[0]), graph.FloatAttr("epsilon", float32(eps)))
	return []*value{{name: y, shape: x.shape, elem: onnxFloat}}, nil
}

// activate applies a Keras activation by name, keeping v's layout.
func (b *builder) activate(l *layer, v *value, name string) (*value, error) {
	base := l.Name + "_" + name
	out := func(n string) (*value, error) {
		return &value{name: n, shape: v.shape, cf: v.cf, elem: v.elem}, nil
	}
	x := v.name
	switch name {
	case "linear", "":
		return v, nil
	case "relu":
		return out(b.Op("Relu", base, []string{x}))
	case "relu6":
		return out(b.Op("Clip", base, []string{x, b.scalar(base+"_min", 0), b.scalar(base+"_max", 6)}))
	case "sigmoid":
		return out(b.Op("Sigmoid", base, []string{x}))
	case "tanh":
		return out(b.Op("Tanh", base, []string{x}))
	case "softmax", "log_softmax":
		axis, _ := axisOf(v, -1)
		op := map[string]string{"softmax": "Softmax", "log_softmax": "LogSoftmax"}[name]
		return out(b.Op(op, base, []string{x}, graph.IntAttr("axis", axis)))
	case "elu":
		return out(b.Op("Elu", base, []string{x}))
	case "selu":
		return out(b.Op("Selu", base, []string{x}))
	case "softplus":
		return out(b.Op("Softplus", base, []string{x}))
	case "softsign":
		return out(b.Op("Softsign", base, []string{x}))
	case "exponential":
		return out(b.Op("Exp", base, []string{x}))
	case "leaky_relu":
		return out(b.Op("LeakyRelu", base, []string{x}, graph.FloatAttr("alpha", float32(0.2))))
	case "swish", "silu":
		s := b.Op("Sigmoid", base+"_sigmoid", []string{x})
		return out(b.Op("Mul", base, []string{x, s}))
	case "hard_sigmoid", "hardSigmoid":
		// Keras 2 and TF.js: clip(0.2x + 0.5, 0, 1); Keras 3: relu6(x + 3) / 6.
		alpha := 0.2
		if b.keras3 {
			alpha = 1.0 / 6
		}
		return out(b.Op("HardSigmoid", base, []string{x}, graph.FloatAttr("alpha", float32(alpha)), graph.FloatAttr("beta", float32(0.5))))
	case "hard_swish", "hard_silu":
		s := b.Op("HardSigmoid", base+"_hard_sigmoid", []string{x}, graph.FloatAttr("alpha", float32(1.0/6)), graph.FloatAttr("beta", float32(0.5)))
		return out(b.Op("Mul", base, []string{x, s}))
	case "gelu":
		// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
		e := b.Op("Erf", base+"_erf", []string{b.Op("Mul", base+"_scaled", []string{x, b.scalar(base+"_rsqrt2", 1/math.Sqrt2)})})
		e = b.Op("Add", base+"_1p", []string{e, b.scalar(base+"_one", 1)})
		h := b.Op("Mul", base+"_half", []string{x, b.scalar(base+"_0.5", 0.5)})
		return out(b.Op("Mul", base, []string{h, e}))
	case "mish":
		t := b.Op("Tanh", base+"_tanh", []string{b.Op("Softplus", base+"_softplus", []string{x})})
		return out(b.Op("Mul", base, []string{x, t}))
	}
	return nil, unsupported(l, "activation %q", name)
}

func activationLayer(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	act := l.Cfg.activation("activation")
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	y, err := b.activate(l, x, act)
	return []*value{y}, err
}

func same(x *value, name string) []*value {
	return []*value{{name: name, shape: x.shape, cf: x.cf, elem: x.elem}}
}

// reluLayer is Keras ReLU: max_value if x >= max_value, x if threshold <= x,
// negative_slope * (x - threshold) otherwise.
func reluLayer(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	c := &l.Cfg
	hasMax := c.has("max_value")
	maxValue := c.float("max_value", 0)
	slope := c.float("negative_slope", 0)
	threshold := c.float("threshold", 0)
	if c.err != nil {
		return nil, c.err
	}
	n := l.Name
	switch {
	case slope == 0 && threshold == 0 && !hasMax:
		return same(x, b.Op("Relu", n, []string{x.name})), nil
	case slope == 0 && threshold == 0:
		return same(x, b.Op("Clip", n, []string{x.name, b.scalar(n+"_min", 0), b.scalar(n+"_max", maxValue)})), nil
	case threshold == 0 && !hasMax:
		return same(x, b.Op("LeakyRelu", n, []string{x.name}, graph.FloatAttr("alpha", float32(slope)))), nil
	}
	thr := b.scalar(n+"_threshold", threshold)
	cond := b.Op("GreaterOrEqual", n+"_ge", []string{x.name, thr})
	neg := b.Op("Mul", n+"_neg", []string{b.Op("Sub", n+"_shift", []string{x.name, thr}), b.scalar(n+"_slope", slope)})
	y := b.Op("Where", n+"_where", []string{cond, x.name, neg})
	if hasMax {
		y = b.Op("Min", n, []string{y, b.scalar(n+"_max", maxValue)})
	}
	return same(x, y), nil
}

func leakyReLU(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	alpha := l.Cfg.float("alpha", l.Cfg.float("negative_slope", 0.3))
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	return same(x, b.Op("LeakyRelu", l.Name, []string{x.name}, graph.FloatAttr("alpha", float32(alpha)))), nil
}

func eluLayer(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	alpha := l.Cfg.float("alpha", 1)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	return same(x, b.Op("Elu", l.Name, []string{x.name}, graph.FloatAttr("alpha", float32(alpha)))), nil
}

func thresholdedReLU(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	theta := l.Cfg.float("theta", 1)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	return same(x, b.Op("ThresholdedRelu", l.Name, []string{x.name}, graph.FloatAttr("alpha", float32(theta)))), nil
}

func softmaxLayer(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	axis, ok := axisOf(x, singleAxis(&l.Cfg, -1))
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	if !ok {
		return nil, fmt.Errorf("%w: layer %q: axis %v out of range", refit.ErrFormat, l.Name, l.Cfg.m["axis"])
	}
	return same(x, b.Op("Softmax", l.Name, []string{x.name}, graph.IntAttr("axis", axis))), nil
}

// prelu: alpha has the input's shape without batch (shared axes of size 1).
func prelu(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	alpha, ashape, err := b.weightF32(l.Name, 0, nil, "alpha")
	if err != nil {
		return nil, err
	}
	if len(ashape) != x.rank()-1 {
		return nil, fmt.Errorf("%w: layer %q: alpha shape %v for input rank %d", refit.ErrFormat, l.Name, ashape, x.rank())
	}
	if x.cf {
		// [spatial..., C] -> [C, spatial...]
		perm := []int{len(ashape) - 1}
		for i := range len(ashape) - 1 {
			perm = append(perm, i)
		}
		alpha, ashape = permute(alpha, ashape, perm)
	}
	slope := b.Float(l.Name+"_alpha", ashape, alpha)
	return same(x, b.Op("PRelu", l.Name, []string{x.name, slope})), nil
}

func pool(nd int, op string) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		c := &l.Cfg
		k := c.ints("pool_size", nd, repeat(2, nd))
		s := c.ints("strides", nd, k)
		padding := c.str("padding", "valid")
		if c.err != nil {
			return nil, c.err
		}
		outSp, pads, err := spatialOut(l, x.spatial(), k, s, repeat(1, nd), padding)
		if err != nil {
			return nil, err
		}
		attrs := windowAttrs(k, s, nil, pads)
		if op == "AveragePool" {
			attrs = append(attrs, graph.IntAttr("count_include_pad", 0)) // TF averages over real inputs only
		}
		y := b.Op(op, l.Name, []string{b.toCF(x).name}, attrs...)
		shape := append(append([]int64{x.shape[0]}, outSp...), x.channels())
		return []*value{{name: y, shape: shape, cf: true, elem: onnxFloat}}, nil
	}
}

// maskedMean is GlobalAveragePooling1D over a masked sequence: Keras averages the
// unmasked steps only.
func maskedMean(b *builder, l *layer, x *value, keep bool) []*value {
	x = b.toKeras(x)
	n := l.Name
	m := b.Op("Unsqueeze", n+"_mask_col", []string{b.Op("Cast", n+"_mask_f", []string{x.mask}, graph.IntAttr("to", onnxFloat)),
		b.Int64(n+"_axis2", []int64{1}, []int64{2})})
	keepdims := int64(0)
	shape := []int64{x.shape[0], x.channels()}
	if keep {
		keepdims, shape = 1, []int64{x.shape[0], 1, x.channels()}
	}
	steps := b.Int64(n+"_steps_axis", []int64{1}, []int64{1})
	sum := b.Op("ReduceSum", n+"_sum", []string{b.Op("Mul", n+"_masked", []string{x.name, m}), steps}, graph.IntAttr("keepdims", keepdims))
	count := b.Op("ReduceSum", n+"_count", []string{m, steps}, graph.IntAttr("keepdims", keepdims))
	return []*value{{name: b.Op("Div", n, []string{sum, count}), shape: shape, elem: onnxFloat}}
}

func globalPool(op string) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		keep := l.Cfg.boolean("keepdims", false)
		if l.Cfg.err != nil {
			return nil, l.Cfg.err
		}
		if x.mask != "" && op == "GlobalAveragePool" && x.rank() == 3 {
			return maskedMean(b, l, x, keep), nil
		}
		if x.rank() < 3 {
			return nil, needRank(l, x, 3, 4, 5)
		}
		y := b.Op(op, l.Name+"_pool", []string{b.toCF(x).name})
		if keep {
			shape := append(append([]int64{x.shape[0]}, repeat(1, x.rank()-2)...), x.channels())
			return []*value{{name: y, shape: shape, cf: true, elem: onnxFloat}}, nil
		}
		y = b.Op("Flatten", l.Name, []string{y}, graph.IntAttr("axis", 1))
		return []*value{{name: y, shape: []int64{x.shape[0], x.channels()}, elem: onnxFloat}}, nil
	}
}

func zeroPadding(nd int) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		begin, end := l.Cfg.pairs("padding", nd)
		if l.Cfg.err != nil {
			return nil, l.Cfg.err
		}
		pads := append(append([]int64{0, 0}, begin...), append([]int64{0, 0}, end...)...)
		y := b.Op("Pad", l.Name, []string{b.toCF(x).name, b.Int64(l.Name+"_pads", []int64{int64(len(pads))}, pads)})
		shape := slices.Clone(x.shape)
		for i := range nd {
			if shape[i+1] >= 0 {
				shape[i+1] += begin[i] + end[i]
			}
		}
		return []*value{{name: y, shape: shape, cf: true, elem: x.elem}}, nil
	}
}

func cropping(nd int) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		begin, end := l.Cfg.pairs("cropping", nd)
		if l.Cfg.err != nil {
			return nil, l.Cfg.err
		}
		starts, ends, axes := make([]int64, nd), make([]int64, nd), make([]int64, nd)
		shape := slices.Clone(x.shape)
		for i := range nd {
			starts[i], axes[i] = begin[i], int64(i+2)
			ends[i] = math.MaxInt64
			if end[i] > 0 {
				ends[i] = -end[i]
			}
			if shape[i+1] >= 0 {
				shape[i+1] -= begin[i] + end[i]
				if shape[i+1] <= 0 {
					return nil, fmt.Errorf("%w: layer %q crops %d-%d of size %d", refit.ErrFormat, l.Name, begin[i], end[i], x.shape[i+1])
				}
			}
		}
		dims := []int64{int64(nd)}
		y := b.Op("Slice", l.Name, []string{b.toCF(x).name, b.Int64(l.Name+"_starts", dims, starts),
			b.Int64(l.Name+"_ends", dims, ends), b.Int64(l.Name+"_axes", dims, axes)})
		return []*value{{name: y, shape: shape, cf: true, elem: x.elem}}, nil
	}
}

func upSampling(nd int) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		x, err := one(in, l)
		if err != nil {
			return nil, err
		}
		if err := needRank(l, x, nd+2); err != nil {
			return nil, err
		}
		if err := channelsLast(l); err != nil {
			return nil, err
		}
		size := l.Cfg.ints("size", nd, repeat(2, nd))
		interp := l.Cfg.str("interpolation", "nearest")
		if l.Cfg.err != nil {
			return nil, l.Cfg.err
		}
		scales := []float32{1, 1}
		shape := slices.Clone(x.shape)
		for i, s := range size {
			if s < 1 {
				return nil, fmt.Errorf("%w: layer %q: size %v", refit.ErrFormat, l.Name, size)
			}
			scales = append(scales, float32(s))
			if shape[i+1] >= 0 {
				shape[i+1] *= s
			}
		}
		var attrs []*onnxpb.AttributeProto
		switch interp {
		case "nearest":
			attrs = []*onnxpb.AttributeProto{graph.StringAttr("mode", "nearest"), graph.StringAttr("coordinate_transformation_mode", "asymmetric"),
				graph.StringAttr("nearest_mode", "floor")}
		case "bilinear":
			// TF 2 resizes with half-pixel centers; TF.js's resizeBilinear without.
			ctm := "half_pixel"
			if b.tfjs {
				ctm = "asymmetric"
			}
			attrs = []*onnxpb.AttributeProto{graph.StringAttr("mode", "linear"), graph.StringAttr("coordinate_transformation_mode", ctm)}
		default:
			return nil, unsupported(l, "interpolation %q", interp)
		}
		y := b.Op("Resize", l.Name, []string{b.toCF(x).name, "", b.Float(l.Name+"_scales", []int64{int64(len(scales))}, scales)}, attrs...)
		return []*value{{name: y, shape: shape, cf: true, elem: x.elem}}, nil
	}
}

// unify brings merge inputs to one layout: channels-first if any is and ranks agree.
func (b *builder) unify(in []*value) []*value {
	votes := 0 // channels-first minus Keras-order inputs of the first input's rank
	for _, v := range in {
		switch {
		case v.rank() != in[0].rank() || v.rank() < 3:
		case v.cf || v.twin != nil:
			votes++ // a value that has a channels-first twin costs nothing
		default:
			votes--
		}
	}
	cf := votes > 0
	out := make([]*value, len(in))
	for i, v := range in {
		if cf && v.rank() == in[0].rank() {
			out[i] = b.toCF(v)
		} else {
			out[i] = b.toKeras(v)
		}
	}
	return out
}

func mergedShape(in []*value) []int64 {
	shape := slices.Clone(in[0].shape)
	for _, v := range in[1:] {
		if len(v.shape) != len(shape) {
			continue
		}
		for i := range shape {
			if shape[i] < 0 || shape[i] == 1 {
				shape[i] = v.shape[i]
			}
		}
	}
	return shape
}

func merge(op string) convertFunc {
	return func(b *builder, l *layer, in []*value) ([]*value, error) {
		if len(in) < 2 || (op == "Sub" && len(in) != 2) {
			return nil, fmt.Errorf("%w: layer %q (%s) has %d inputs", refit.ErrFormat, l.Name, l.Class, len(in))
		}
		in = b.unify(in)
		names := make([]string, len(in))
		for i, v := range in {
			names[i] = v.name
		}
		switch {
		case op == "Sum" && len(in) == 2:
			op = "Add"
		case op == "Mul" && len(in) > 2:
			acc := names[0]
			for _, n := range names[1 : len(names)-1] {
				acc = b.Op("Mul", l.Name+"_partial", []string{acc, n})
			}
			names = []string{acc, names[len(names)-1]}
		}
		y := b.Op(op, l.Name, names)
		return []*value{{name: y, shape: mergedShape(in), cf: in[0].cf, elem: in[0].elem}}, nil
	}
}

func concatenate(b *builder, l *layer, in []*value) ([]*value, error) {
	if len(in) < 1 {
		return nil, fmt.Errorf("%w: layer %q has no inputs", refit.ErrFormat, l.Name)
	}
	kaxis := singleAxis(&l.Cfg, -1)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	in = b.unify(in)
	r := int64(in[0].rank())
	if kaxis < 0 {
		kaxis += r
	}
	axis, ok := axisOf(in[0], kaxis)
	if !ok || kaxis <= 0 || kaxis >= r {
		return nil, fmt.Errorf("%w: layer %q: axis %v for rank %d", refit.ErrFormat, l.Name, l.Cfg.m["axis"], r)
	}
	names := make([]string, len(in))
	shape := slices.Clone(in[0].shape)
	shape[kaxis] = 0
	for i, v := range in {
		if int64(v.rank()) != r {
			return nil, fmt.Errorf("%w: layer %q: inputs of ranks %d and %d", refit.ErrFormat, l.Name, r, v.rank())
		}
		names[i] = v.name
		if shape[kaxis] >= 0 && v.shape[kaxis] >= 0 {
			shape[kaxis] += v.shape[kaxis]
		} else {
			shape[kaxis] = -1
		}
	}
	y := b.Op("Concat", l.Name, names, graph.IntAttr("axis", axis))
	return []*value{{name: y, shape: shape, cf: in[0].cf, elem: in[0].elem}}, nil
}

func product(dims []int64) int64 {
	p := int64(1)
	for _, d := range dims {
		if d < 0 {
			return -1
		}
		p *= d
	}
	return p
}

func flatten(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	if err := channelsLast(l); err != nil {
		return nil, err
	}
	if x.rank() < 2 {
		return nil, needRank(l, x, 2, 3, 4, 5)
	}
	x = b.toKeras(x) // Keras flattens channels-last: Dense weights after it expect that order
	y := b.Op("Flatten", l.Name, []string{x.name}, graph.IntAttr("axis", 1))
	return []*value{{name: y, shape: []int64{x.shape[0], product(x.shape[1:])}, elem: x.elem}}, nil
}

func reshape(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	target := l.Cfg.ints("target_shape", -1, nil)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	if target == nil {
		return nil, fmt.Errorf("%w: layer %q has no target_shape", refit.ErrFormat, l.Name)
	}
	shape := append([]int64{x.shape[0]}, target...)
	if total := product(x.shape[1:]); total > 0 {
		known, unknown := int64(1), -1
		for i, d := range target {
			if d < 0 {
				unknown = i
			} else {
				known *= d
			}
		}
		if unknown >= 0 && known > 0 {
			shape[unknown+1] = total / known
		}
	}
	x = b.toKeras(x)
	y := b.Op("Reshape", l.Name, []string{x.name, b.Int64(l.Name+"_shape", []int64{int64(len(target) + 1)}, append([]int64{0}, target...))})
	return []*value{{name: y, shape: shape, elem: x.elem}}, nil
}

func permuteLayer(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	dims := l.Cfg.ints("dims", x.rank()-1, nil)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	perm := []int64{0}
	shape := []int64{x.shape[0]}
	for _, d := range dims {
		if d < 1 || d >= int64(x.rank()) || slices.Contains(perm, d) {
			return nil, fmt.Errorf("%w: layer %q: dims %v", refit.ErrFormat, l.Name, dims)
		}
		perm = append(perm, d)
		shape = append(shape, x.shape[d])
	}
	x = b.toKeras(x)
	y := b.Op("Transpose", l.Name, []string{x.name}, graph.IntsAttr("perm", perm))
	return []*value{{name: y, shape: shape, elem: x.elem}}, nil
}

func embedding(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	maskZero := l.Cfg.boolean("mask_zero", false)
	if l.Cfg.err != nil {
		return nil, l.Cfg.err
	}
	w, ws, err := b.weightF32(l.Name, 0, []int64{l.Cfg.int("input_dim", -1), l.Cfg.int("output_dim", -1)}, "embeddings")
	if err != nil {
		return nil, err
	}
	if len(ws) != 2 {
		return nil, fmt.Errorf("%w: layer %q: embeddings shape %v", refit.ErrFormat, l.Name, ws)
	}
	x = b.toKeras(x)
	idx := x.name
	if x.elem != onnxInt64 && x.elem != onnxInt32 {
		idx = b.Op("Cast", l.Name+"_indices", []string{idx}, graph.IntAttr("to", onnxInt64))
	}
	y := b.Op("Gather", l.Name, []string{b.Float(l.Name+"_embeddings", ws, w), idx}, graph.IntAttr("axis", 0))
	out := &value{name: y, shape: append(slices.Clone(x.shape), ws[1]), elem: onnxFloat}
	if maskZero && x.rank() == 2 {
		// mask_zero: index 0 is padding; steps holding it are masked for the layers after.
		id64 := idx
		if x.elem == onnxInt32 {
			id64 = b.Op("Cast", l.Name+"_indices64", []string{idx}, graph.IntAttr("to", onnxInt64))
		}
		out.mask = b.Op("Not", l.Name+"_mask", []string{b.Op("Equal", l.Name+"_is_pad", []string{id64, b.Int64(l.Name+"_pad", nil, []int64{0})})})
	}
	return []*value{out}, nil
}

func rescaling(b *builder, l *layer, in []*value) ([]*value, error) {
	x, err := one(in, l)
	if err != nil {
		return nil, err
	}
	scale := l.Cfg.float("scale", 1)
	offset := l.Cfg.float("offset", 0)
	if l.Cfg.err != nil {
		return nil, unsupported(l, "scale/offset other than numbers: %v", l.Cfg.err)
	}
	y := x.name
	if x.elem != onnxFloat {
		y = b.Op("Cast", l.Name+"_cast", []string{y}, graph.IntAttr("to", onnxFloat))
	}
	y = b.Op("Mul", l.Name+"_scale", []string{y, b.scalar(l.Name+"_scale", scale)})
	y = b.Op("Add", l.Name, []string{y, b.scalar(l.Name+"_offset", offset)})
	return []*value{{name: y, shape: x.shape, cf: x.cf, elem: onnxFloat}}, nil
}
