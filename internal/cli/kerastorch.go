package cli

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/onnx2torch"
)

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
	code, sd, err := onnx2torch.Generate(mp)
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
