package tfjs

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/layout"
	"github.com/refit-ml/refit/tensor"
)

// ErrNoTopology reports a model written as TF.js without a Keras topology to name
// its weights after.
var ErrNoTopology = errors.New("tfjs: the model has no Keras topology; give one (a TF.js model.json, a Keras config .json, or the original .h5/.keras)")

// Prepare maps m onto a TF.js layers model (see LayersModel) for the Keras topology
// opts.Topology or, when nil, the one m carries, and casts tensors to the types TF.js
// stores (float32 for float64 and bfloat16, int32 for 8- and 16-bit integers), so that
// what is written reads back exactly.
func Prepare(m *refit.Model, opts *refit.EncodeOptions) (*refit.Model, error) {
	topo := opts.Topology
	if topo == nil {
		cfg := refit.KerasConfig(m)
		if cfg == "" {
			return nil, fmt.Errorf("%w (a %s model): %w", ErrNoTopology, m.Format, refit.ErrUnsupported)
		}
		topo = []byte(cfg)
	}
	lm, err := LayersModel(m, topo, opts.Topology == nil)
	if err != nil {
		return nil, err
	}
	lm.Tensors = slices.Clone(lm.Tensors)
	for i, t := range lm.Tensors {
		c, _, err := storedAs(t)
		if err != nil {
			return nil, err
		}
		if c.DType != t.DType && t.DType != tensor.F16 {
			lm.Tensors[i] = c
		}
	}
	return lm, nil
}

// LayersModel maps m's weights onto the Keras topology (a TF.js model.json, a Keras
// model config or a Keras 2 config, see LayersTopology) as a TF.js layers model that
// EncodeFiles writes for tf.loadLayersModel. PyTorch-named weights ("dense.weight") are
// mapped with layout.FromPyTorch; kerasNamed says m's weights carry Keras names and
// layouts instead, which are normalized to TF.js names.
func LayersModel(m *refit.Model, topology []byte, kerasNamed bool) (*refit.Model, error) {
	topo, err := LayersTopology(topology)
	if err != nil {
		return nil, err
	}
	layers, err := layout.LayersFromConfig(string(topo))
	if err != nil {
		return nil, err
	}
	weights := m
	if kerasNamed { // Keras names: to PyTorch's and back gives TF.js names
		if weights, err = layout.ToPyTorch(m, layers); err != nil {
			return nil, err
		}
	}
	if weights, err = layout.FromPyTorch(weights, layers); err != nil {
		return nil, err
	}
	if v, ok := weights.Metadata.Get("tflayout.unmapped"); ok {
		names, _ := v.([]string)
		return nil, fmt.Errorf("%d tensors belong to no layer of the topology that has weights (%s): %w",
			len(names), abbreviate(names, 5), refit.ErrFormat)
	}
	return layersModel(weights, topo)
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", ... %d more", len(names)-n)
}
