package cli

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/keras2onnx/torchgen"
	"github.com/refit-ml/refit/layout"
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
		layers, err := layout.LayersFromConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("reading the Keras layers for PyTorch layout: %w", err)
		}
		return layout.ToPyTorch(m, layers)
	}
	return m, nil
}

// writeModelPy generates a PyTorch nn.Module (model.py) for a Keras-family network
// and returns the state_dict it loads; the file is written to o.modelPy.
func writeModelPy(e *env, in string, src *refit.Model, o *convertOptions) (*refit.Model, error) {
	mp, ok, err := graphToONNX(e.ctx, in, src)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, usageError{fmt.Errorf("--model-py needs a Keras, TF.js or TFLite network, not %s", src.Format)}
	}
	code, sd, err := torchgen.Generate(mp)
	if err != nil {
		return nil, err
	}
	pf, err := refit.CreatePendingContext(e.ctx, o.modelPy, o.force)
	if err != nil {
		return nil, err
	}
	defer pf.Abort()
	if _, err := pf.WriteString(code); err != nil {
		return nil, err
	}
	if err := pf.Commit(); err != nil {
		return nil, err
	}
	return sd, nil
}
