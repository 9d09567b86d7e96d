package distill

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// FromModel reads a dataset from decoded arrays (an .npz): the float32 array named
// input (or the only float array) and an optional integer array named label or
// labels.
func FromModel(m *refit.Model, input string) (*Data, error) {
	var x, lab *tensor.Tensor
	var floats []*tensor.Tensor
	for _, t := range m.Tensors {
		switch {
		case t.Name == input:
			x = t
		case t.Name == "label" || t.Name == "labels":
			lab = t
		case t.DType.Float():
			floats = append(floats, t)
		}
	}
	if x == nil && len(floats) == 1 {
		x = floats[0]
	}
	if x == nil {
		return nil, fmt.Errorf("%w: data has no array named %q", ErrIncompatible, input)
	}
	if x.DType != tensor.F32 || len(x.Shape) < 2 {
		return nil, fmt.Errorf("%w: data array %q is %s%v, want float32 [N, ...]", ErrIncompatible, x.Name, x.DType, x.Shape)
	}
	f, err := x.Float32s()
	if err != nil {
		return nil, err
	}
	d := &Data{X: f, Shape: []int64(x.Shape.Clone())}
	if lab != nil {
		if !lab.DType.Integer() || len(lab.Shape) != 1 || lab.Shape[0] != x.Shape[0] {
			return nil, fmt.Errorf("%w: labels are %s%v, want integers [%d]", ErrIncompatible, lab.DType, lab.Shape, x.Shape[0])
		}
		lf, err := lab.Float32s()
		if err != nil {
			return nil, err
		}
		d.Labels = make([]int64, len(lf))
		for i, v := range lf {
			d.Labels[i] = int64(v)
		}
	}
	return d, d.Check()
}

// KeepLabels returns a copy of d whose labels after the first n are -1 (unlabeled).
func (d *Data) KeepLabels(n int) *Data {
	c := *d
	if d.Labels != nil && n >= 0 && n < len(d.Labels) {
		c.Labels = append([]int64(nil), d.Labels...)
		for i := n; i < len(c.Labels); i++ {
			c.Labels[i] = -1
		}
	}
	return &c
}
