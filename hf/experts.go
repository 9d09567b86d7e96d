package hf

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// expertStack collects one block's experts for one weight.
type expertStack struct {
	name    string
	members map[int]*tensor.Tensor
}

// stack returns the experts 0..n-1 as one lazily concatenated tensor.
func (s *expertStack) stack(n int) (*tensor.Tensor, error) {
	if len(s.members) != n {
		return nil, errorf("%s: found %d experts, config.json says %d", s.name, len(s.members), n)
	}
	first := s.members[0]
	if first == nil {
		return nil, errorf("%s: expert 0 is missing", s.name)
	}
	parts := make([]*tensor.Tensor, n)
	for i := range n {
		t := s.members[i]
		if t == nil {
			return nil, errorf("%s: expert %d is missing", s.name, i)
		}
		if t.DType != first.DType || !t.Shape.Equal(first.Shape) {
			return nil, errorf("%s: expert %d is %v %v, expert 0 is %v %v", s.name, i, t.DType, t.Shape, first.DType, first.Shape)
		}
		parts[i] = t
	}
	shape := append(tensor.Shape{int64(n)}, first.Shape...)
	size, err := tensor.ByteSize(first.DType, shape)
	if err != nil {
		return nil, fmt.Errorf("hf: %s: %w", s.name, err)
	}
	data := tensor.NewLazy(size, func() ([]byte, error) {
		out := make([]byte, 0, size)
		for _, p := range parts {
			b, err := p.Bytes()
			if err != nil {
				return nil, err
			}
			out = append(out, b...)
		}
		return out, nil
	})
	return &tensor.Tensor{Name: s.name, DType: first.DType, Shape: shape, Data: data}, nil
}

func errorf(msg string, args ...any) error {
	return fmt.Errorf("hf: %s: %w", fmt.Sprintf(msg, args...), refit.ErrFormat)
}
