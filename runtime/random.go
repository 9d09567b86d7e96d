package runtime

import (
	"fmt"
	"math/rand/v2"

	"github.com/refit-ml/refit/tensor"
)

// RandomOptions tune RandomInputs. The zero value means defaults.
type RandomOptions struct {
	// DimSizes gives sizes for symbolic dimensions by name; unnamed or unlisted
	// symbolic and unknown dimensions get DefaultDim.
	DimSizes map[string]int64
	// DefaultDim is the size of unresolved dimensions; 0 means 1. Open dimensions
	// other than the first can get more where the graph needs it (InputShapes).
	DefaultDim int64
	// Shapes gives whole shapes by input name; each must agree with the declared
	// rank and fixed dimensions (ErrInputShape).
	Shapes map[string][]int64
}

// RandomInputs makes one value per session input from its declared dtype and the
// shape InputShapes chooses, deterministic for a seed: floats uniform in [-1, 1),
// integers in [0, 10), bools fair coins. Inputs without a declared dtype or shape are an error; their memory is
// charged to the session's budget (Options.MaxMemory).
func RandomInputs(s *Session, seed uint64, opts *RandomOptions) (map[string]*Value, error) {
	if opts == nil {
		opts = &RandomOptions{}
	}
	shapes, err := InputShapes(s, opts)
	if err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	out := map[string]*Value{}
	for k, in := range s.Inputs() {
		if !supported(in.DType) {
			return nil, fmt.Errorf("runtime: input %q: dtype %v: %w", in.Name, in.DType, errUnsupported)
		}
		shape := shapes[k].Shape
		n, err := numElements(shape)
		if err != nil || n > 1<<30 {
			return nil, fmt.Errorf("runtime: input %q: shape %v is too large", in.Name, tensor.Shape(shape))
		}
		// Charged like any tensor of the session: a declared shape can be hostile.
		data, err := s.budget.newSlice(in.DType, int64(n), func() string {
			return fmt.Sprintf("random input %q %v%v", in.Name, in.DType, tensor.Shape(shape))
		})
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		v := &Value{DType: in.DType, Shape: shape, Data: data}
		for i := 0; i < n; i++ {
			switch {
			case in.DType == tensor.Bool:
				setInt64(v, i, int64(r.IntN(2)))
			case in.DType.Float():
				setFloat64(v, i, r.Float64()*2-1)
			default:
				setInt64(v, i, int64(r.IntN(10)))
			}
		}
		out[in.Name] = v
	}
	return out, nil
}
