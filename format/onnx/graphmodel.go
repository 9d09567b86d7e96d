package onnx

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// NewModel returns a Model holding the graph of mp, whose top-level initializers
// take their data from tensors (matched by name, each of the type and shape its
// initializer declares) or, for initializers without a tensor, from their own
// raw_data. It is how a graph built in memory gets written with weights computed
// only when the encoder pulls them (tensor.Lazy): Encode, EncodeFS and EncodeFile
// stream them one at a time, into external data when the model needs it. mp is
// not modified; its initializers' data must not change while the Model is in use.
func NewModel(mp *onnxpb.ModelProto, tensors []*tensor.Tensor) (*refit.Model, error) {
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("onnx: model has no graph")
	}
	byName := make(map[string]*tensor.Tensor, len(tensors))
	for _, t := range tensors {
		byName[t.Name] = t
	}
	g := shallowCopy(mp.Graph)
	g.Initializer = make([]*onnxpb.TensorProto, len(mp.Graph.Initializer))
	out := shallowCopy(mp)
	out.Graph = g
	m := &refit.Model{Format: "onnx"}
	for i, tp := range mp.Graph.Initializer {
		t := byName[tp.GetName()]
		if t != nil {
			delete(byName, tp.GetName())
			if err := checkReplacement(tp, t); err != nil {
				return nil, err
			}
		} else {
			if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || hasTyped(tp) || (tp.RawData == nil && !empty(tp.Dims)) {
				return nil, fmt.Errorf("onnx: initializer %q has no tensor and no raw_data: %w", tp.GetName(), refit.ErrUnsupported)
			}
			d, err := DTypeOf(tp.GetDataType())
			if err != nil {
				return nil, fmt.Errorf("onnx: initializer %q: %w", tp.GetName(), err)
			}
			if t, err = tensor.FromBytes(tp.GetName(), d, tensor.Shape(tp.Dims), tp.RawData); err != nil {
				return nil, fmt.Errorf("onnx: initializer %q: %w", tp.GetName(), err)
			}
		}
		g.Initializer[i] = shallowCopy(tp, dataFields...)
		m.Tensors = append(m.Tensors, t)
	}
	if len(byName) > 0 {
		for n := range byName {
			return nil, fmt.Errorf("onnx: tensor %q is no initializer of the graph", n)
		}
	}
	if err := m.CheckNames(); err != nil {
		return nil, err
	}
	m.Source = &Source{proto: out}
	return m, nil
}

// empty reports whether dims hold no element.
func empty(dims []int64) bool {
	for _, d := range dims {
		if d == 0 {
			return true
		}
	}
	return false
}
