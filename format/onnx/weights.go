package onnx

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// ReplaceWeights puts the tensors of newWeights into mp's top-level initializers of
// the same names, as raw_data. Every tensor must name an initializer and match its
// element type and shape; on error mp is unchanged. The new bytes are read into
// memory; for large models prefer WithWeights and EncodeFile, which stream.
func ReplaceWeights(mp *onnxpb.ModelProto, newWeights *refit.Model) error {
	byName := map[string]*onnxpb.TensorProto{}
	for _, tp := range mp.GetGraph().GetInitializer() {
		byName[tp.GetName()] = tp
	}
	for _, t := range newWeights.Tensors {
		tp := byName[t.Name]
		if tp == nil {
			return fmt.Errorf("onnx: tensor %q is not an initializer of the graph", t.Name)
		}
		if err := checkReplacement(tp, t); err != nil {
			return err
		}
	}
	raws := make([][]byte, len(newWeights.Tensors))
	for i, t := range newWeights.Tensors {
		b, err := t.Bytes()
		if err != nil {
			return err
		}
		raws[i] = b
	}
	for i, t := range newWeights.Tensors {
		tp := byName[t.Name]
		tp.FloatData, tp.Int32Data, tp.StringData, tp.Int64Data, tp.DoubleData, tp.Uint64Data = nil, nil, nil, nil, nil, nil
		tp.ExternalData, tp.DataLocation = nil, nil
		tp.RawData = raws[i]
	}
	return nil
}

// WithWeights returns a model like m (decoded from ONNX) whose tensors named in
// newWeights are replaced by those, after checking dtype and shape; Encode then
// streams them into m's graph. Names unknown to m are an error.
func WithWeights(m, newWeights *refit.Model) (*refit.Model, error) {
	repl := map[string]*tensor.Tensor{}
	for _, t := range newWeights.Tensors {
		repl[t.Name] = t
	}
	out := slices.Clone(m.Tensors)
	for i, t := range out {
		nt := repl[t.Name]
		if nt == nil {
			continue
		}
		delete(repl, t.Name)
		if nt.DType != t.DType || !nt.Shape.Equal(t.Shape) {
			return nil, refit.Unsupportedf("onnx", "new weight %q is %v %v, the model has %v %v", t.Name, nt.DType, nt.Shape, t.DType, t.Shape)
		}
		out[i] = nt
	}
	if len(repl) > 0 {
		var extra []string
		for n := range repl {
			extra = append(extra, n)
		}
		slices.Sort(extra)
		return nil, fmt.Errorf("onnx: new weights %q are not in the model", extra)
	}
	return m.Derive(out), nil
}
