package layout

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// torchParam is one PyTorch parameter of a Keras layer and the Keras weight it
// becomes (several parameters may join into one weight, as LSTM/GRU biases do).
type torchParam struct {
	torch, keras string
}

// torchParams lists, per class, the PyTorch parameters ToPyTorch produces, with the
// Keras weight each comes from.
var torchParams = map[string][]torchParam{
	"Dense":              {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv1D":             {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv2D":             {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv3D":             {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv2DTranspose":    {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv1DTranspose":    {{"weight", "kernel"}, {"bias", "bias"}},
	"Conv3DTranspose":    {{"weight", "kernel"}, {"bias", "bias"}},
	"DepthwiseConv2D":    {{"weight", "depthwise_kernel"}, {"bias", "bias"}},
	"SeparableConv2D":    {{"depthwise.weight", "depthwise_kernel"}, {"pointwise.weight", "pointwise_kernel"}, {"pointwise.bias", "bias"}},
	"BatchNormalization": {{"weight", "gamma"}, {"bias", "beta"}, {"running_mean", "moving_mean"}, {"running_var", "moving_variance"}},
	"LayerNormalization": {{"weight", "gamma"}, {"bias", "beta"}},
	"Embedding":          {{"weight", "embeddings"}},
	"LSTM":               {{"weight_ih_l0", "kernel"}, {"weight_hh_l0", "recurrent_kernel"}, {"bias_ih_l0", "bias"}, {"bias_hh_l0", "bias"}},
	"GRU":                {{"weight_ih_l0", "kernel"}, {"weight_hh_l0", "recurrent_kernel"}, {"bias_ih_l0", "bias"}, {"bias_hh_l0", "bias"}},
}

// ExpectedWeights lists the Keras weights a layer of a supported class holds, in
// creation order, as its config says: no bias when use_bias is false, no gamma or beta
// when BatchNormalization/LayerNormalization has scale or center false. Unsupported
// classes give nil.
func ExpectedWeights(l LayerInfo) []string {
	var out []string
	for _, w := range weightOrder[l.Class] {
		if l.Config != nil {
			if b, ok := l.Config["use_bias"].(bool); ok && !b && w == "bias" {
				continue
			}
			if b, ok := l.Config["scale"].(bool); ok && !b && w == "gamma" {
				continue
			}
			if b, ok := l.Config["center"].(bool); ok && !b && w == "beta" {
				continue
			}
		}
		out = append(out, w)
	}
	return out
}

// FromPyTorch is the inverse of ToPyTorch: it maps the PyTorch module parameters of
// the given Keras layers ("dense_1.weight", looked up under LayerInfo.Module or the
// layer name with "/" as ".") back to Keras weights in the TF.js naming convention
// ("dense_1/kernel"), in Keras order: layers in the given order, each layer's weights
// in creation order (the order of a TF.js model's weights). Layouts are inverted
// (Linear [out, in] to Dense [in, out], OIHW to HWIO, grouped convs to depthwise
// kernels using the config's depth_multiplier, GRU gates back to z, r, h); LSTM
// biases bias_ih + bias_hh are summed into one Keras bias, GRU biases stacked into
// [2, 3H]. BatchNorm's num_batches_tracked is dropped.
//
// A supported layer missing one of the weights its config calls for is an error
// (TF.js refuses such a model). Tensors of other layers are kept under their own names
// and listed in metadata "tflayout.unmapped". m is not modified; tensors are lazy.
func FromPyTorch(m *refit.Model, layers []LayerInfo) (*refit.Model, error) {
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	used := map[string]bool{}
	var out []*tensor.Tensor
	for _, l := range layers {
		params, ok := torchParams[l.Class]
		if !ok {
			continue
		}
		module := l.Module
		if module == "" {
			module = strings.ReplaceAll(l.Name, "/", ".")
		}
		ps := map[string]*tensor.Tensor{}
		for _, p := range params {
			if t := byName[module+"."+p.torch]; t != nil && !used[t.Name] {
				ps[p.torch] = t
				used[t.Name] = true
			}
		}
		if l.Class == "BatchNormalization" {
			if n := module + ".num_batches_tracked"; byName[n] != nil {
				used[n] = true
			}
		}
		if err := checkRecurrent(l); err != nil {
			return nil, fmt.Errorf("layout: layer %q (%s): %w", l.Name, l.Class, err)
		}
		ws, err := kerasWeights(l, ps)
		if err != nil {
			return nil, fmt.Errorf("layout: layer %q (%s): %w", l.Name, l.Class, err)
		}
		for _, w := range ExpectedWeights(l) {
			t := ws[w]
			if t == nil {
				return nil, fmt.Errorf("layout: layer %q (%s): no PyTorch parameter for Keras weight %q under module %q: %w",
					l.Name, l.Class, w, module, refit.ErrFormat)
			}
			out = append(out, renamed(t, l.Name+"/"+w))
			delete(ws, w)
		}
		if len(ws) > 0 {
			extra := slices.Sorted(maps.Keys(ws))
			return nil, fmt.Errorf("layout: layer %q (%s): PyTorch has parameters for Keras weights %q that the layer's config does not use: %w",
				l.Name, l.Class, extra, refit.ErrFormat)
		}
	}
	var unmapped []string
	for _, t := range m.Tensors {
		if !used[t.Name] {
			out = append(out, t)
			unmapped = append(unmapped, t.Name)
		}
	}
	r := m.Derive(out)
	r.Metadata.Delete("tflayout.unmapped")
	if len(unmapped) > 0 {
		r.Metadata.Set("tflayout.unmapped", unmapped)
	}
	return r, r.CheckNames()
}

// kerasWeights inverts one layer's parameters, keyed by Keras weight name.
func kerasWeights(l LayerInfo, ps map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	out := map[string]*tensor.Tensor{}
	set := func(w string) func(*tensor.Tensor, error) error {
		return func(t *tensor.Tensor, err error) error {
			if err != nil {
				return err
			}
			out[w] = t
			return nil
		}
	}
	same := func(t *tensor.Tensor) (*tensor.Tensor, error) { return t, nil }
	multiplier := depthMultiplier(l.Config)
	depthwise := func(t *tensor.Tensor) (*tensor.Tensor, error) { return DepthwiseWeight(t, multiplier) }
	var fns map[string]func(*tensor.Tensor) (*tensor.Tensor, error)
	switch l.Class {
	case "Dense":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": LinearWeight, "bias": same}
	case "Conv1D", "Conv1DTranspose":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": Conv1dWeight, "bias": same}
	case "Conv2D", "Conv2DTranspose":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": Conv2dWeight, "bias": same}
	case "Conv3D", "Conv3DTranspose":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": Conv3dWeight, "bias": same}
	case "DepthwiseConv2D":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": depthwise, "bias": same}
	case "SeparableConv2D":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"depthwise.weight": depthwise,
			"pointwise.weight": Conv2dWeight, "pointwise.bias": same}
	case "BatchNormalization", "LayerNormalization", "Embedding":
		fns = map[string]func(*tensor.Tensor) (*tensor.Tensor, error){"weight": same, "bias": same,
			"running_mean": same, "running_var": same}
	case "LSTM", "GRU":
		gru := l.Class == "GRU"
		for _, p := range []torchParam{{"weight_ih_l0", "kernel"}, {"weight_hh_l0", "recurrent_kernel"}} {
			if t := ps[p.torch]; t != nil {
				if err := set(p.keras)(RecurrentWeight(t, gru)); err != nil {
					return nil, err
				}
			}
		}
		ih, hh := ps["bias_ih_l0"], ps["bias_hh_l0"]
		if ih == nil && hh == nil {
			return out, nil
		}
		var err error
		if ih == nil {
			ih, err = zerosLike(hh.Name, hh)
		} else if hh == nil {
			hh, err = zerosLike(ih.Name, ih)
		}
		if err != nil {
			return nil, err
		}
		if gru {
			return out, set("bias")(GRUBiasInverse(ih, hh))
		}
		return out, set("bias")(LSTMBiasInverse(ih, hh))
	}
	for _, p := range torchParams[l.Class] {
		t := ps[p.torch]
		if t == nil {
			continue
		}
		if err := set(p.keras)(fns[p.torch](t)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// depthMultiplier reads a depthwise layer's depth_multiplier (default 1).
func depthMultiplier(config map[string]any) int64 {
	if f, ok := config["depth_multiplier"].(float64); ok && f >= 1 && f == math.Trunc(f) && f < 1<<31 {
		return int64(f)
	}
	return 1
}

// LSTMBiasInverse sums PyTorch's bias_ih and bias_hh into Keras's single LSTM bias
// [4H] (PyTorch adds both; Keras has one), computed in float32 and stored in their
// dtype. When bias_hh is all zeros (as LSTMBias makes it) the result is bias_ih exactly.
func LSTMBiasInverse(ih, hh *tensor.Tensor) (*tensor.Tensor, error) {
	if !ih.Shape.Equal(hh.Shape) || len(ih.Shape) != 1 || ih.DType != hh.DType || ih.Shape[0]%4 != 0 {
		return nil, fmt.Errorf("layout: LSTM biases %q %v and %q %v do not form a [4H] bias", ih.Name, ih.Shape, hh.Name, hh.Shape)
	}
	if !ih.DType.Float() || ih.DType.Quantized() {
		return nil, fmt.Errorf("layout: LSTM bias %q is %v: %w", ih.Name, ih.DType, tensor.ErrUnsupported)
	}
	dtype, name, shape := ih.DType, ih.Name, ih.Shape.Clone()
	sum := tensor.NewLazy(ih.Size(), func() ([]byte, error) {
		b, err := hh.Float32s()
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(b, func(x float32) bool { return x != 0 }) {
			return ih.Bytes() // exact in any dtype
		}
		a, err := ih.Float32s()
		if err != nil {
			return nil, err
		}
		buf := make([]byte, 4*len(a))
		for i := range a {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(a[i]+b[i]))
		}
		f, err := tensor.FromBytes(name, tensor.F32, shape, buf)
		if err != nil {
			return nil, err
		}
		c, err := tensor.Cast(f, dtype)
		if err != nil {
			return nil, err
		}
		return c.Bytes()
	})
	return tensor.New(name, dtype, shape, sum)
}
