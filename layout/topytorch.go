package layout

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// LayerInfo describes one Keras layer for ToPyTorch.
type LayerInfo struct {
	Name   string // Keras layer name, e.g. "dense_1"
	Class  string // Keras class name, e.g. "Dense", "Conv2D", "GRU"
	Module string // PyTorch module path; empty means Name with "/" replaced by "."

	// Config is the layer's Keras config, when known. ToPyTorch uses it to refuse
	// recurrent layers PyTorch cannot reproduce (activations other than tanh and
	// sigmoid, GRU with reset_after=false).
	Config map[string]any
}

// weightOrder is each supported class's weights in Keras's creation order (which is
// also the order of Keras 3 "vars/<i>"), with the PyTorch parameter each becomes.
var weightOrder = map[string][]string{
	"Dense":              {"kernel", "bias"},
	"Conv1D":             {"kernel", "bias"},
	"Conv2D":             {"kernel", "bias"},
	"Conv3D":             {"kernel", "bias"},
	"Conv2DTranspose":    {"kernel", "bias"},
	"Conv1DTranspose":    {"kernel", "bias"},
	"Conv3DTranspose":    {"kernel", "bias"},
	"DepthwiseConv2D":    {"depthwise_kernel", "bias"},
	"SeparableConv2D":    {"depthwise_kernel", "pointwise_kernel", "bias"},
	"BatchNormalization": {"gamma", "beta", "moving_mean", "moving_variance"},
	"LayerNormalization": {"gamma", "beta"},
	"Embedding":          {"embeddings"},
	"LSTM":               {"kernel", "recurrent_kernel", "bias"},
	"GRU":                {"kernel", "recurrent_kernel", "bias"},
}

// Classes lists the Keras layer classes ToPyTorch maps.
func Classes() []string {
	out := make([]string, 0, len(weightOrder))
	for c := range weightOrder {
		out = append(out, c)
	}
	return out
}

// LayersFromConfig reads the top-level layers of a Keras model config (Keras 2
// model_config, Keras 3 config.json, or a TF.js layers-model topology).
func LayersFromConfig(config string) ([]LayerInfo, error) {
	var root struct {
		ClassName string `json:"class_name"`
		Config    struct {
			Layers []struct {
				ClassName string         `json:"class_name"`
				Config    map[string]any `json:"config"`
			} `json:"layers"`
		} `json:"config"`
		ModelConfig *json.RawMessage `json:"model_config"` // TF.js wraps the Keras config
	}
	if err := json.Unmarshal([]byte(config), &root); err != nil {
		return nil, fmt.Errorf("layout: model config: %w", err)
	}
	if root.ModelConfig != nil && len(root.Config.Layers) == 0 {
		return LayersFromConfig(string(*root.ModelConfig))
	}
	var out []LayerInfo
	for _, l := range root.Config.Layers {
		name, _ := l.Config["name"].(string)
		out = append(out, LayerInfo{Name: name, Class: l.ClassName, Config: l.Config})
	}
	return out, nil
}

// findWeight returns the tensor of layer's weight w (index i in the class's order),
// accepting the names Keras writers use: "<layer>/<w>:0" (h5), "<layer>/<w>" (TF.js),
// "<layer>/<cell>/<w>:0" (RNN cells), "<layer>/vars/<i>" (Keras 3), and the
// checkpoint form "<layer>/<w>/.ATTRIBUTES/VARIABLE_VALUE".
func findWeight(byName map[string]*tensor.Tensor, names []string, layer, w string, i int) *tensor.Tensor {
	for _, n := range []string{layer + "/" + w + ":0", layer + "/" + w, layer + "/vars/" + strconv.Itoa(i),
		layer + "/" + w + "/.ATTRIBUTES/VARIABLE_VALUE"} {
		if t := byName[n]; t != nil {
			return t
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, layer+"/") && (strings.HasSuffix(n, "/"+w+":0") || strings.HasSuffix(n, "/"+w)) &&
			strings.Count(strings.TrimPrefix(n, layer+"/"), "/") == 1 {
			return byName[n]
		}
	}
	return nil
}

// ToPyTorch maps the weights of the given Keras layers to PyTorch module parameters
// ("dense_1/kernel:0" becomes "dense_1.weight", transposed), lazily. Tensors of
// layers not listed, or of classes not supported, are kept under their own names and
// listed in metadata "tflayout.unmapped". m is not modified.
func ToPyTorch(m *refit.Model, layers []LayerInfo) (*refit.Model, error) {
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	var names []string
	for _, t := range m.Tensors {
		byName[t.Name] = t
		names = append(names, t.Name)
	}
	used := map[string]bool{}
	var out []*tensor.Tensor
	for _, l := range layers {
		order, ok := weightOrder[l.Class]
		if !ok {
			continue
		}
		module := l.Module
		if module == "" {
			module = strings.ReplaceAll(l.Name, "/", ".")
		}
		ws := map[string]*tensor.Tensor{}
		for i, w := range order {
			if t := findWeight(byName, names, l.Name, w, i); t != nil && !used[t.Name] {
				ws[w] = t
				used[t.Name] = true
			}
		}
		if len(ws) == 0 {
			continue
		}
		if err := checkRecurrent(l); err != nil {
			return nil, fmt.Errorf("layout: layer %q (%s): %w", l.Name, l.Class, err)
		}
		mapped, err := convertLayer(l.Class, module, ws)
		if err != nil {
			return nil, fmt.Errorf("layout: layer %q (%s): %w", l.Name, l.Class, err)
		}
		out = append(out, mapped...)
	}
	var unmapped []string
	for _, t := range m.Tensors {
		if !used[t.Name] {
			out = append(out, t)
			unmapped = append(unmapped, t.Name)
		}
	}
	r := m.Derive(out)
	if len(unmapped) > 0 {
		r.Metadata.Set("tflayout.unmapped", unmapped)
	}
	return r, r.CheckNames()
}

func convertLayer(class, module string, ws map[string]*tensor.Tensor) ([]*tensor.Tensor, error) {
	var out []*tensor.Tensor
	add := func(name string, t *tensor.Tensor, err error) error {
		if err != nil {
			return err
		}
		out = append(out, renamed(t, module+"."+name))
		return nil
	}
	same := func(t *tensor.Tensor) (*tensor.Tensor, error) { return t, nil }
	type step struct {
		keras, torch string
		fn           func(*tensor.Tensor) (*tensor.Tensor, error)
	}
	var steps []step
	var biases []*tensor.Tensor // LSTM/GRU biases, added after the kernels
	switch class {
	case "Dense":
		steps = []step{{"kernel", "weight", DenseKernel}, {"bias", "bias", same}}
	case "Conv1D", "Conv1DTranspose":
		steps = []step{{"kernel", "weight", Conv1DKernel}, {"bias", "bias", same}}
	case "Conv2D", "Conv2DTranspose":
		steps = []step{{"kernel", "weight", Conv2DKernel}, {"bias", "bias", same}}
	case "Conv3D", "Conv3DTranspose":
		steps = []step{{"kernel", "weight", Conv3DKernel}, {"bias", "bias", same}}
	case "DepthwiseConv2D":
		steps = []step{{"depthwise_kernel", "weight", DepthwiseKernel}, {"bias", "bias", same}}
	case "SeparableConv2D":
		steps = []step{{"depthwise_kernel", "depthwise.weight", DepthwiseKernel},
			{"pointwise_kernel", "pointwise.weight", Conv2DKernel}, {"bias", "pointwise.bias", same}}
	case "BatchNormalization":
		steps = []step{{"gamma", "weight", same}, {"beta", "bias", same},
			{"moving_mean", "running_mean", same}, {"moving_variance", "running_var", same}}
	case "LayerNormalization":
		steps = []step{{"gamma", "weight", same}, {"beta", "bias", same}}
	case "Embedding":
		steps = []step{{"embeddings", "weight", same}}
	case "LSTM", "GRU":
		gru := class == "GRU"
		kernel := func(t *tensor.Tensor) (*tensor.Tensor, error) { return RecurrentKernel(t, gru) }
		steps = []step{{"kernel", "weight_ih_l0", kernel}, {"recurrent_kernel", "weight_hh_l0", kernel}}
		if b := ws["bias"]; b != nil {
			var ih, hh *tensor.Tensor
			var err error
			if gru {
				ih, hh, err = GRUBias(b)
			} else {
				ih, hh, err = LSTMBias(b)
			}
			if err != nil {
				return nil, err
			}
			biases = []*tensor.Tensor{renamed(ih, module+".bias_ih_l0"), renamed(hh, module+".bias_hh_l0")}
		}
	}
	for _, s := range steps {
		t := ws[s.keras]
		if t == nil {
			continue
		}
		c, err := s.fn(t)
		if err := add(s.torch, c, err); err != nil {
			return nil, err
		}
	}
	return append(out, biases...), nil
}

// checkRecurrent refuses LSTM and GRU configs whose computation PyTorch's modules do
// not perform. Missing keys take the Keras 2/3 defaults.
func checkRecurrent(l LayerInfo) error {
	if l.Class != "LSTM" && l.Class != "GRU" || l.Config == nil {
		return nil
	}
	if a, ok := l.Config["activation"].(string); ok && a != "tanh" {
		return fmt.Errorf("activation %q (PyTorch uses tanh): %w", a, tensor.ErrUnsupported)
	}
	if a, ok := l.Config["recurrent_activation"].(string); ok && a != "sigmoid" {
		return fmt.Errorf("recurrent_activation %q (PyTorch uses sigmoid): %w", a, tensor.ErrUnsupported)
	}
	if l.Class == "GRU" {
		if r, ok := l.Config["reset_after"].(bool); ok && !r {
			return fmt.Errorf("reset_after=false: %w", tensor.ErrUnsupported)
		}
	}
	return nil
}

// ForPyTorch renames and re-lays Keras-family weights as PyTorch expects them (Dense
// kernels transposed to Linear weights, HWIO convolutions to OIHW, ...) when m carries
// a Keras layer configuration (see refit.KerasConfig); other models pass through.
func ForPyTorch(m *refit.Model) (*refit.Model, error) {
	cfg := refit.KerasConfig(m)
	if cfg == "" {
		return m, nil
	}
	layers, err := LayersFromConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("reading the Keras layers for PyTorch layout: %w", err)
	}
	return ToPyTorch(m, layers)
}
