package runtime

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// onnxString is TensorProto.DataType STRING.
const onnxString = 8

// NewStrings returns a string tensor (KindString) of the given shape over data (not
// copied). The core dtype table has no string type, so strings are their own kind:
// DType is Invalid and Data is a []string.
func NewStrings(data []string, shape ...int64) (*Value, error) {
	v := &Value{Kind: KindString, Shape: slices.Clone(shape), Data: data}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// Strings returns a string tensor's data, else nil.
func (v *Value) Strings() []string { s, _ := v.Data.([]string); return s }

func (v *Value) validateStrings() error {
	n, err := tensor.Shape(v.Shape).NumElements()
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	s, ok := v.Data.([]string)
	if !ok {
		return fmt.Errorf("runtime: string value holds %T", v.Data)
	}
	if int64(len(s)) != n {
		return fmt.Errorf("runtime: shape %v needs %d elements, have %d", v.Shape, n, len(s))
	}
	return nil
}

// stringsFromProto decodes a STRING TensorProto (string_data, one entry per element).
func stringsFromProto(tp *onnxpb.TensorProto) (*Value, error) {
	shape := tp.GetDims()
	n, err := tensor.Shape(shape).NumElements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", refit.ErrFormat, err)
	}
	if tp.GetDataLocation() == 1 || tp.GetRawData() != nil {
		return nil, fmt.Errorf("string tensor in raw or external data: %w", refit.ErrFormat)
	}
	src := tp.GetStringData()
	if int64(len(src)) != n {
		return nil, fmt.Errorf("%w: string%v needs %d values, have %d", refit.ErrFormat, tensor.Shape(shape), n, len(src))
	}
	data := make([]string, n)
	for i, b := range src {
		data[i] = string(b)
	}
	return NewStrings(data, shape...)
}

// castStrings implements Cast between strings and numbers: to string when toString,
// else parsing each string as a number of dtype dt.
func castStrings(x *Value, toString bool, dt tensor.DType) (*Value, error) {
	if x.Kind == KindString && toString {
		return x, nil
	}
	if toString {
		if x.Kind != KindTensor {
			return nil, fmt.Errorf("cannot cast %v to string", x)
		}
		out := make([]string, x.Len())
		for i := range out {
			out[i] = formatNumber(x, i)
		}
		return NewStrings(out, x.Shape...)
	}
	if x.Kind != KindString {
		return nil, fmt.Errorf("input %v is not a string tensor", x)
	}
	if !supported(dt) {
		return nil, fmt.Errorf("cast to %v: %w", dt, errUnsupported)
	}
	out := NewValue(dt, x.Shape)
	for i, s := range x.Strings() {
		s = strings.TrimSpace(s)
		if dt.Float() {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil && !isRangeErr(err) {
				return nil, fmt.Errorf("element %d: %q is not a number", i, s)
			}
			setFloat64(out, i, f)
			continue
		}
		if dt == tensor.Bool {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("element %d: %q is not a number", i, s)
			}
			out.Data.([]bool)[i] = f != 0
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("element %d: %q is not an integer", i, s)
		}
		setInt64(out, i, n)
	}
	return out, nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// formatNumber writes element i the way numpy's str does for scalars: the shortest
// round-tripping digits at the element's precision, "nan", "inf", "-inf".
func formatNumber(v *Value, i int) string {
	if v.DType.Integer() {
		if v.DType == tensor.U64 {
			return strconv.FormatUint(v.Data.([]uint64)[i], 10)
		}
		return strconv.FormatInt(elemInt64(v, i), 10)
	}
	if v.DType == tensor.Bool {
		if v.Data.([]bool)[i] {
			return "True"
		}
		return "False"
	}
	f := elemFloat64(v, i)
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	bits := 64
	if v.DType == tensor.F32 || v.DType == tensor.F16 || v.DType == tensor.BF16 {
		bits = 32
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}
