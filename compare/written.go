package compare

import (
	"context"
	"fmt"
	"math"

	"github.com/refit-ml/refit"
)

// MismatchError reports an output that does not hold what was written.
type MismatchError struct{ Msg string }

func (e *MismatchError) Error() string { return e.Msg }

func mismatch(format string, args ...any) error {
	return &MismatchError{Msg: fmt.Sprintf(format, args...)}
}

// WrittenReport is the verification of a written model (see Written).
type WrittenReport struct {
	Tensors []TensorDiff // per tensor; cast tensors measured against the original
	Exact   int          // tensors bit-exact to the original
	MaxAbs  float64      // largest error against the original
	MinCos  float64      // smallest cosine against the original
}

// Written checks that got, a model re-read from an output, holds exactly the tensors
// of want (the model that was encoded): the same names, shapes and values. Tensors
// whose type differs from base's (the model before a cast) are then measured against
// base, so the report says how far the conversion moved each tensor. A mismatch is
// a *MismatchError. Tensors are compared a chunk at a time.
func Written(ctx context.Context, base, want, got *refit.Model) (*WrittenReport, error) {
	rep, err := ModelsContext(ctx, want, got, nil)
	if err != nil {
		return nil, err
	}
	if len(rep.Missing) > 0 || len(rep.Extra) > 0 {
		return nil, mismatch("output tensors differ from input: missing %v, extra %v", rep.Missing, rep.Extra)
	}
	r := &WrittenReport{MinCos: 1}
	baseByName, gotByName := ByName(base), ByName(got)
	for i, d := range rep.Tensors {
		if d.ShapeMismatch() || d.Note != "" {
			return nil, mismatch("tensor %s: %s", d.Name, d.Note)
		}
		if !d.Exact {
			return nil, mismatch("tensor %s differs from what was written (max error %g)", d.Name, d.MaxAbs)
		}
		if orig := baseByName[d.Name]; orig != nil && orig.DType != d.DTypeB {
			// A cast tensor: report its error against the original values.
			cd, err := TensorsContext(ctx, orig, gotByName[d.Name])
			if err != nil {
				return nil, err
			}
			rep.Tensors[i], d = cd, cd
		}
		if d.Exact {
			r.Exact++
		}
		r.MaxAbs = math.Max(r.MaxAbs, d.MaxAbs)
		r.MinCos = math.Min(r.MinCos, d.Cosine)
	}
	r.Tensors = rep.Tensors
	return r, nil
}
