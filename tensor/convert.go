package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ToFloat32 decodes src, holding len(dst) elements of type d, into dst.
// Integers convert exactly where float32 can hold them; block types are dequantized.
func ToFloat32(dst []float32, src []byte, d DType) error {
	n := int64(len(dst))
	want, err := ByteSize(d, Shape{n})
	if err != nil {
		return err
	}
	if int64(len(src)) != want {
		return fmt.Errorf("tensor: %d elements of %v need %d bytes, have %d", n, d, want, len(src))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F16:
		ConvertF16ToF32(dst, src)
	case BF16:
		ConvertBF16ToF32(dst, src)
	case F8E4M3:
		for i := range dst {
			dst[i] = F8E4M3ToF32(src[i])
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = F8E5M2ToF32(src[i])
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case U8, Bool:
		for i := range dst {
			dst[i] = float32(src[i])
		}
	default:
		if d.Quantized() {
			return Dequantize(dst, src, d)
		}
		return fmt.Errorf("tensor: cannot convert %v to float32", d)
	}
	return nil
}

// FromFloat32 encodes src as type d into dst, which must hold exactly len(src) elements of d.
// Float targets round to nearest even; integer targets round half away from zero and saturate.
func FromFloat32(dst []byte, src []float32, d DType) error {
	if d.Quantized() {
		return fmt.Errorf("tensor: quantizing to %v is not a cast; use package quant", d)
	}
	want, err := ByteSize(d, Shape{int64(len(src))})
	if err != nil {
		return err
	}
	if int64(len(dst)) != want {
		return fmt.Errorf("tensor: %d elements of %v need %d bytes, have %d", len(src), d, want, len(dst))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	case F16:
		ConvertF32ToF16(dst, src)
	case BF16:
		ConvertF32ToBF16(dst, src)
	case F8E4M3:
		for i, v := range src {
			dst[i] = F32ToF8E4M3(v)
		}
	case F8E5M2:
		for i, v := range src {
			dst[i] = F32ToF8E5M2(v)
		}
	case I64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], uint64(int64(sat(v, math.MinInt64, math.MaxInt64))))
		}
	case I32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], uint32(int32(sat(v, math.MinInt32, math.MaxInt32))))
		}
	case I16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(int16(sat(v, math.MinInt16, math.MaxInt16))))
		}
	case I8:
		for i, v := range src {
			dst[i] = byte(int8(sat(v, math.MinInt8, math.MaxInt8)))
		}
	case U64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], uint64(sat(v, 0, math.MaxUint64)))
		}
	case U32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], uint32(sat(v, 0, math.MaxUint32)))
		}
	case U16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(sat(v, 0, math.MaxUint16)))
		}
	case U8:
		for i, v := range src {
			dst[i] = byte(sat(v, 0, math.MaxUint8))
		}
	case Bool:
		for i, v := range src {
			if v != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		return fmt.Errorf("tensor: cannot convert float32 to %v", d)
	}
	return nil
}

func sat(v float32, lo, hi float64) float64 {
	f := math.Round(float64(v))
	switch {
	case math.IsNaN(f):
		return 0
	case f < lo:
		return lo
	case f > hi:
		return hi
	}
	return f
}

// EncodeFloat32 appends v as little-endian float32 bytes to dst.
func EncodeFloat32(dst []byte, v []float32) []byte {
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}

// Cast returns t converted to type d, computed lazily. Casting to the same type returns t.
// Casts go through float32, except that an F64 source rounds once, directly, to a float
// target (F32, F16, BF16, F8), as numpy does; rounding through float32 could round twice.
func Cast(t *Tensor, d DType) (*Tensor, error) {
	if t.DType == d {
		return t, nil
	}
	size, err := ByteSize(d, t.Shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	src := t
	data := NewLazy(size, func() ([]byte, error) {
		if src.DType == F64 && d.Float() && !d.Quantized() {
			b, err := src.Bytes()
			if err != nil {
				return nil, err
			}
			out := make([]byte, size)
			if castF64(out, b, d) {
				return out, nil
			}
		}
		f, err := src.Float32s()
		if err != nil {
			return nil, err
		}
		out := make([]byte, size)
		if err := FromFloat32(out, f, d); err != nil {
			return nil, err
		}
		return out, nil
	})
	return &Tensor{Name: t.Name, DType: d, Shape: t.Shape.Clone(), Data: data}, nil
}
