package cli

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/arch/tflayout"
)

// kerasConfigKeys are the metadata keys under which the Keras-family readers keep the
// model's layer configuration.
var kerasConfigKeys = []string{"keras.model_config", "keras.config", "tfjs.model_topology"}

// toPyTorchLayout renames and re-lays Keras-family weights as PyTorch expects them
// (Dense kernels transposed to Linear weights, HWIO convolutions to OIHW, ...), when
// converting a Keras, TF.js or TF checkpoint model to PyTorch. Other models pass through.
func toPyTorchLayout(m *refit.Model, target string) (*refit.Model, error) {
	if target != "pytorch" {
		return m, nil
	}
	for _, key := range kerasConfigKeys {
		cfg := m.Metadata.String(key)
		if cfg == "" {
			continue
		}
		layers, err := tflayout.LayersFromConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("reading the Keras layers for PyTorch layout: %w", err)
		}
		return tflayout.ToPyTorch(m, layers)
	}
	return m, nil
}
