package compare

import (
	"context"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// QuantizedReport measures a quantized copy of a model against the original.
type QuantizedReport struct {
	Tensors []TensorDiff // one per float or block-quantized tensor, in got's order
	MaxAbs  float64      // over all tensors
	Cosine  float64      // of all compared values as one vector
	MinCos  float64      // of the worst tensor
}

// Quantized compares every tensor of got whose source in src (same name) is float or
// block-quantized with that source, dequantizing both a chunk of whole blocks at a
// time, so memory stays O(1) whatever the tensor sizes. Other tensors (integers) are
// skipped. Shapes must agree; a tensor of got missing from src is an error.
func Quantized(ctx context.Context, src, got *refit.Model) (*QuantizedReport, error) {
	r := &QuantizedReport{Cosine: 1, MinCos: 1}
	var all floatStats
	srcByName := ByName(src)
	for _, g := range got.Tensors {
		s := srcByName[g.Name]
		if s == nil {
			return nil, fmt.Errorf("compare: tensor %s is not in the source model", g.Name)
		}
		if !quantizable(s.DType) {
			continue
		}
		if !quantizable(g.DType) || !s.Shape.Equal(g.Shape) {
			return nil, fmt.Errorf("compare: tensor %s is %v %v, its source %v %v", g.Name, g.DType, g.Shape, s.DType, s.Shape)
		}
		d := TensorDiff{Name: g.Name, DTypeA: s.DType, DTypeB: g.DType, ShapeA: s.Shape, ShapeB: g.Shape,
			Types: s.DType.String() + "->" + g.DType.String()}
		acc, err := streamFloats(ctx, &d, s, g)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", g.Name, err)
		}
		acc.finish(&d)
		all.dot, all.na, all.nb = all.dot+acc.dot, all.na+acc.na, all.nb+acc.nb
		all.inexact = all.inexact || acc.inexact
		r.MaxAbs = max(r.MaxAbs, d.MaxAbs)
		r.MinCos = min(r.MinCos, d.Cosine)
		r.Tensors = append(r.Tensors, d)
	}
	var total TensorDiff
	all.finish(&total)
	r.Cosine = total.Cosine
	return r, nil
}

func quantizable(t tensor.DType) bool { return t.Float() || t.Quantized() }
