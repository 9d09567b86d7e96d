package runtime

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Value is a dense tensor held in memory: a dtype, a shape and a typed Go slice in
// row-major order. Data's Go type follows DType:
//
//	F32 []float32   F64 []float64   F16, BF16, U16 []uint16 (raw bits for the floats)
//	I8 []int8  I16 []int16  I32 []int32  I64 []int64
//	U8 []uint8  U32 []uint32  U64 []uint64  Bool []bool
//
// len(Data) always equals the product of Shape. Values handed to kernels are
// read-only; a kernel writes only to values it allocated.
//
// Kind tells a tensor from ONNX's container values (see value_seq.go): a sequence or
// an optional holds its elements in Elems and has no Shape or Data.
type Value struct {
	DType tensor.DType
	Shape []int64
	Data  any
	Kind  Kind
	Elems []*Value

	buf *buffer // pooled storage shared by views; nil for values the pool does not own
}

// NewValue allocates a zero-filled value. It panics on an invalid dtype or a negative or
// overflowing shape: callers validate shapes that come from files first.
func NewValue(dt tensor.DType, shape []int64) *Value {
	n, err := tensor.Shape(shape).NumElements()
	if err != nil {
		panic(err)
	}
	return &Value{DType: dt, Shape: slices.Clone(shape), Data: makeSlice(dt, int(n))}
}

// FromSlice wraps data (not copied) as a value of the given shape; the dtype follows
// data's Go type ([]uint16 means F16 unless dt says BF16 or U16).
func FromSlice(data any, shape ...int64) (*Value, error) {
	dt := dtypeOf(data)
	if dt == tensor.Invalid {
		return nil, fmt.Errorf("runtime: unsupported slice type %T", data)
	}
	v := &Value{DType: dt, Shape: slices.Clone(shape), Data: data}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// Scalar returns a rank-0 value holding x.
func Scalar[T any](x T) *Value {
	v, err := FromSlice([]T{x})
	if err != nil {
		panic(err)
	}
	v.Shape = []int64{}
	return v
}

// Validate checks that Data's type and length agree with DType and Shape.
func (v *Value) Validate() error {
	if v.Kind != KindTensor {
		return v.validateContainer()
	}
	n, err := tensor.Shape(v.Shape).NumElements()
	if err != nil {
		return fmt.Errorf("runtime: %w", err)
	}
	if !sliceFits(v.DType, v.Data) {
		return fmt.Errorf("runtime: %v value holds %T", v.DType, v.Data)
	}
	if l := sliceLen(v.Data); int64(l) != n {
		return fmt.Errorf("runtime: shape %v needs %d elements, have %d", v.Shape, n, l)
	}
	return nil
}

// Len is the number of elements.
func (v *Value) Len() int {
	if v.Kind != KindTensor {
		return len(v.Strings()) // 0 for sequences and optionals
	}
	return sliceLen(v.Data)
}

// Rank is the number of dimensions.
func (v *Value) Rank() int { return len(v.Shape) }

func (v *Value) String() string {
	if v.Kind != KindTensor {
		return v.containerString()
	}
	return fmt.Sprintf("%v%v", v.DType, tensor.Shape(v.Shape))
}

// Float32s returns the data as float32 when DType is F32, else nil.
func (v *Value) Float32s() []float32 { s, _ := v.Data.([]float32); return s }

// Int64s returns the data as int64 when DType is I64, else nil.
func (v *Value) Int64s() []int64 { s, _ := v.Data.([]int64); return s }

// Clone returns a deep copy that the pool does not own.
func (v *Value) Clone() *Value {
	if v.Kind != KindTensor {
		return v.cloneContainer()
	}
	return &Value{DType: v.DType, Shape: slices.Clone(v.Shape), Data: cloneSlice(v.Data)}
}

// AsInt64s converts an integer value's elements to int64 (shape inputs such as Reshape's).
func (v *Value) AsInt64s() ([]int64, error) {
	switch d := v.Data.(type) {
	case []int64:
		return d, nil
	case []int32:
		return convertSlice[int32, int64](d), nil
	case []int16:
		return convertSlice[int16, int64](d), nil
	case []int8:
		return convertSlice[int8, int64](d), nil
	case []uint8:
		if v.DType == tensor.U8 {
			return convertSlice[uint8, int64](d), nil
		}
	case []uint32:
		return convertSlice[uint32, int64](d), nil
	case []uint16:
		if v.DType == tensor.U16 {
			return convertSlice[uint16, int64](d), nil
		}
	case []uint64:
		return convertSlice[uint64, int64](d), nil
	}
	return nil, fmt.Errorf("runtime: want an integer tensor, have %v", v)
}

// Float64At returns element i of a numeric or bool tensor as float64, without
// copying the data (NaN for other kinds).
func (v *Value) Float64At(i int) float64 { return elemFloat64(v, i) }

// AsFloat64s converts any numeric or bool value to float64.
func (v *Value) AsFloat64s() []float64 {
	out := make([]float64, v.Len())
	for i := range out {
		out[i] = elemFloat64(v, i)
	}
	return out
}

// elemFloat64 reads element i of any value as float64.
func elemFloat64(v *Value, i int) float64 {
	switch d := v.Data.(type) {
	case []float32:
		return float64(d[i])
	case []float64:
		return d[i]
	case []uint16:
		switch v.DType {
		case tensor.F16:
			return float64(tensor.F16ToF32(d[i]))
		case tensor.BF16:
			return float64(tensor.BF16ToF32(d[i]))
		}
		return float64(d[i])
	case []int8:
		return float64(d[i])
	case []int16:
		return float64(d[i])
	case []int32:
		return float64(d[i])
	case []int64:
		return float64(d[i])
	case []uint8:
		return float64(d[i])
	case []uint32:
		return float64(d[i])
	case []uint64:
		return float64(d[i])
	case []bool:
		if d[i] {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// supported reports whether the runtime can hold values of dtype dt.
func supported(dt tensor.DType) bool {
	switch dt {
	case tensor.F32, tensor.F64, tensor.F16, tensor.BF16, tensor.I8, tensor.I16, tensor.I32, tensor.I64,
		tensor.U8, tensor.U16, tensor.U32, tensor.U64, tensor.Bool:
		return true
	}
	return false
}

func makeSlice(dt tensor.DType, n int) any {
	switch dt {
	case tensor.F32:
		return make([]float32, n)
	case tensor.F64:
		return make([]float64, n)
	case tensor.F16, tensor.BF16, tensor.U16:
		return make([]uint16, n)
	case tensor.I8:
		return make([]int8, n)
	case tensor.I16:
		return make([]int16, n)
	case tensor.I32:
		return make([]int32, n)
	case tensor.I64:
		return make([]int64, n)
	case tensor.U8:
		return make([]uint8, n)
	case tensor.U32:
		return make([]uint32, n)
	case tensor.U64:
		return make([]uint64, n)
	case tensor.Bool:
		return make([]bool, n)
	}
	panic(fmt.Sprintf("runtime: unsupported dtype %v", dt))
}

func dtypeOf(data any) tensor.DType {
	switch data.(type) {
	case []float32:
		return tensor.F32
	case []float64:
		return tensor.F64
	case []uint16:
		return tensor.F16
	case []int8:
		return tensor.I8
	case []int16:
		return tensor.I16
	case []int32:
		return tensor.I32
	case []int64:
		return tensor.I64
	case []uint8:
		return tensor.U8
	case []uint32:
		return tensor.U32
	case []uint64:
		return tensor.U64
	case []bool:
		return tensor.Bool
	}
	return tensor.Invalid
}

func sliceFits(dt tensor.DType, data any) bool {
	want := dtypeOf(data)
	if want == tensor.F16 {
		return dt == tensor.F16 || dt == tensor.BF16 || dt == tensor.U16
	}
	return want == dt && want != tensor.Invalid
}

func sliceLen(data any) int {
	switch d := data.(type) {
	case []float32:
		return len(d)
	case []float64:
		return len(d)
	case []uint16:
		return len(d)
	case []int8:
		return len(d)
	case []int16:
		return len(d)
	case []int32:
		return len(d)
	case []int64:
		return len(d)
	case []uint8:
		return len(d)
	case []uint32:
		return len(d)
	case []uint64:
		return len(d)
	case []bool:
		return len(d)
	}
	return -1
}

func cloneSlice(data any) any {
	switch d := data.(type) {
	case []float32:
		return slices.Clone(d)
	case []float64:
		return slices.Clone(d)
	case []uint16:
		return slices.Clone(d)
	case []int8:
		return slices.Clone(d)
	case []int16:
		return slices.Clone(d)
	case []int32:
		return slices.Clone(d)
	case []int64:
		return slices.Clone(d)
	case []uint8:
		return slices.Clone(d)
	case []uint32:
		return slices.Clone(d)
	case []uint64:
		return slices.Clone(d)
	case []bool:
		return slices.Clone(d)
	}
	panic(fmt.Sprintf("runtime: unsupported slice %T", data))
}

type integer interface {
	~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

type float interface{ ~float32 | ~float64 }

type number interface{ integer | float }

func convertSlice[S, D number](s []S) []D {
	out := make([]D, len(s))
	for i, x := range s {
		out[i] = D(x)
	}
	return out
}

// FromTensor reads a tensor's bytes into a new Value.
func FromTensor(t *tensor.Tensor) (*Value, error) {
	if !supported(t.DType) {
		return nil, fmt.Errorf("runtime: tensor %q: dtype %v: %w", t.Name, t.DType, errUnsupported)
	}
	if _, err := tensor.ByteSize(t.DType, t.Shape); err != nil {
		return nil, fmt.Errorf("runtime: tensor %q: %w", t.Name, err)
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	return decodeLE(t.DType, t.Shape, b)
}

// decodeLE decodes little-endian bytes holding exactly the elements of shape.
func decodeLE(dt tensor.DType, shape []int64, b []byte) (*Value, error) {
	want, err := tensor.ByteSize(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	if int64(len(b)) != want {
		return nil, fmt.Errorf("runtime: %v%v needs %d bytes, have %d: %w", dt, tensor.Shape(shape), want, len(b), refit.ErrFormat)
	}
	v := NewValue(dt, shape)
	le := binary.LittleEndian
	switch d := v.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case []float64:
		for i := range d {
			d[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
	case []uint16:
		for i := range d {
			d[i] = le.Uint16(b[2*i:])
		}
	case []int8:
		for i := range d {
			d[i] = int8(b[i])
		}
	case []int16:
		for i := range d {
			d[i] = int16(le.Uint16(b[2*i:]))
		}
	case []int32:
		for i := range d {
			d[i] = int32(le.Uint32(b[4*i:]))
		}
	case []int64:
		for i := range d {
			d[i] = int64(le.Uint64(b[8*i:]))
		}
	case []uint8:
		copy(d, b)
	case []uint32:
		for i := range d {
			d[i] = le.Uint32(b[4*i:])
		}
	case []uint64:
		for i := range d {
			d[i] = le.Uint64(b[8*i:])
		}
	case []bool:
		for i := range d {
			d[i] = b[i] != 0
		}
	}
	return v, nil
}

// Bytes encodes the value's elements little-endian, as tensor.Tensor stores them.
func (v *Value) Bytes() []byte {
	size := v.DType.TypeSize()
	b := make([]byte, v.Len()*size)
	le := binary.LittleEndian
	switch d := v.Data.(type) {
	case []float32:
		for i, x := range d {
			le.PutUint32(b[4*i:], math.Float32bits(x))
		}
	case []float64:
		for i, x := range d {
			le.PutUint64(b[8*i:], math.Float64bits(x))
		}
	case []uint16:
		for i, x := range d {
			le.PutUint16(b[2*i:], x)
		}
	case []int8:
		for i, x := range d {
			b[i] = byte(x)
		}
	case []int16:
		for i, x := range d {
			le.PutUint16(b[2*i:], uint16(x))
		}
	case []int32:
		for i, x := range d {
			le.PutUint32(b[4*i:], uint32(x))
		}
	case []int64:
		for i, x := range d {
			le.PutUint64(b[8*i:], uint64(x))
		}
	case []uint8:
		copy(b, d)
	case []uint32:
		for i, x := range d {
			le.PutUint32(b[4*i:], x)
		}
	case []uint64:
		for i, x := range d {
			le.PutUint64(b[8*i:], x)
		}
	case []bool:
		for i, x := range d {
			if x {
				b[i] = 1
			}
		}
	}
	return b
}

// Tensor returns the value as a named tensor.Tensor over a copy of its bytes.
func (v *Value) Tensor(name string) (*tensor.Tensor, error) {
	if v.Kind != KindTensor {
		return nil, fmt.Errorf("runtime: %s is a %v value, not a numeric tensor: %w", name, v.Kind, errUnsupported)
	}
	return tensor.FromBytes(name, v.DType, tensor.Shape(slices.Clone(v.Shape)), v.Bytes())
}

// scalarInt reads a one-element integer input.
func scalarInt(v *Value, what string) (int64, error) {
	if v == nil || v.Len() != 1 {
		return 0, fmt.Errorf("%s must hold one value, have %v", what, v)
	}
	s, err := v.AsInt64s()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return s[0], nil
}
