package optimize

import (
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// state is the working state of Model: an editor of the main graph plus what the
// passes need to know about the model.
type state struct {
	*graph.Editor
	opts  *Options
	opset int64
	// folded is the bytes of the constants fold-constants made, over all rounds;
	// they stay in the model (see Options.MaxFoldTotal).
	folded int64
}

func newState(m *onnxpb.ModelProto, opts *Options) *state {
	s := &state{Editor: graph.NewEditor(m.Graph), opts: opts, opset: 1}
	if v := graph.Opset(m, ""); v != 0 {
		s.opset = v
	}
	return s
}

// floats decodes a float constant as float32 values; nil when name is not a constant.
func (s *state) floats(name string) ([]float32, tensor.Shape, tensor.DType, error) {
	t, err := s.Constant(name)
	if err != nil || t == nil {
		return nil, nil, 0, err
	}
	if !t.DType.Float() {
		return nil, nil, 0, nil
	}
	f, err := t.Float32s()
	return f, t.Shape, t.DType, err
}

// addFloats stores float32 values as an initializer of type d (F32, F16, F64 or BF16).
func (s *state) addFloats(name string, shape tensor.Shape, d tensor.DType, v []float32) error {
	t, err := tensor.NewF32(name, shape, v)
	if err != nil {
		return err
	}
	if d != tensor.F32 {
		if t, err = tensor.Cast(t, d); err != nil {
			return err
		}
		b, err := t.Bytes()
		if err != nil {
			return err
		}
		if t, err = tensor.FromBytes(name, d, shape, b); err != nil {
			return err
		}
	}
	return s.AddTensor(name, t)
}

func hasSubgraph(n *onnxpb.NodeProto) bool { return len(graph.Subgraphs(n)) > 0 }

// staticRank returns the rank of name when the graph declares it, or -1.
func (s *state) staticRank(name string) int {
	p := s.Producers()[name]
	if p != nil && graph.IsDefaultDomain(p) {
		switch p.GetOpType() {
		case "Flatten", "Gemm":
			return 2
		}
	}
	for _, list := range [][]*onnxpb.ValueInfoProto{s.G.Input, s.G.ValueInfo, s.G.Output} {
		for _, v := range list {
			if v.GetName() == name {
				if tt := v.GetType().GetTensorType(); tt != nil && tt.Shape != nil {
					return len(tt.Shape.Dim)
				}
			}
		}
	}
	if t := s.ConstantInitializer(name); t != nil {
		return len(t.Dims)
	}
	return -1
}

// dropStaleValueInfo forgets value_info entries of values no node writes any more
// (rewrites renamed or removed them), so no description outlives its value.
func (s *state) dropStaleValueInfo() {
	if len(s.G.ValueInfo) == 0 {
		return
	}
	produced := s.Producers()
	kept := s.G.ValueInfo[:0]
	for _, v := range s.G.ValueInfo {
		if produced[v.GetName()] != nil {
			kept = append(kept, v)
		}
	}
	clear(s.G.ValueInfo[len(kept):])
	s.G.ValueInfo = kept
}
