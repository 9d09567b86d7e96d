package tfgraph

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
)

// msg is a protobuf message being read: buf holds its bytes, base is where buf
// starts in the file (for error offsets and tensor views).
type msg struct {
	buf  []byte
	base int64
	pos  int
}

// field is one field of a message; for LEN fields sub is its payload.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint, fixed32 or fixed64 value
	sub msg    // BytesType payload
}

func (m *msg) off() int64 { return m.base + int64(m.pos) }

func (m *msg) errorf(format string, args ...any) error {
	return refit.Errorf("tfgraph", m.off(), format, args...)
}

func (m *msg) more() bool { return m.pos < len(m.buf) }

// next reads the next field. Lengths are checked against the bytes left by protowire.
func (m *msg) next() (field, error) {
	num, typ, n := protowire.ConsumeTag(m.buf[m.pos:])
	if n < 0 {
		return field{}, m.errorf("bad field tag: %v", protowire.ParseError(n))
	}
	start := m.pos
	m.pos += n
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(m.buf[m.pos:])
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(m.buf[m.pos:])
		f.v = uint64(v)
	case protowire.Fixed64Type:
		f.v, n = protowire.ConsumeFixed64(m.buf[m.pos:])
	case protowire.BytesType:
		var b []byte
		b, n = protowire.ConsumeBytes(m.buf[m.pos:])
		if n >= 0 {
			f.sub = msg{buf: b, base: m.base + int64(m.pos+n-len(b))}
		}
	default:
		// Groups are not used by TensorFlow's protos; skip them generically.
		n = protowire.ConsumeFieldValue(num, typ, m.buf[m.pos:])
	}
	if n < 0 {
		m.pos = start
		return field{}, m.errorf("field %d: %v", num, protowire.ParseError(n))
	}
	m.pos += n
	return f, nil
}

func (f field) str() string { return string(f.sub.buf) }

// ints appends the values of a repeated integer field, packed or not.
func (f field) ints(dst []int64) ([]int64, error) {
	if f.typ == protowire.VarintType {
		return append(dst, int64(f.v)), nil
	}
	if f.typ != protowire.BytesType {
		return dst, f.sub.errorf("field %d: wire type %d for integers", f.num, f.typ)
	}
	b := f.sub.buf
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return dst, f.sub.errorf("packed field %d: %v", f.num, protowire.ParseError(n))
		}
		dst = append(dst, int64(v))
		b = b[n:]
	}
	return dst, nil
}

// floats appends the values of a repeated float field, packed or not.
func (f field) floats(dst []float32) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.v))), nil
	case protowire.BytesType:
		b := f.sub.buf
		if len(b)%4 != 0 {
			return dst, f.sub.errorf("packed floats of %d bytes", len(b))
		}
		for i := 0; i < len(b); i += 4 {
			dst = append(dst, math.Float32frombits(uint32(b[i])|uint32(b[i+1])<<8|uint32(b[i+2])<<16|uint32(b[i+3])<<24))
		}
		return dst, nil
	}
	return dst, f.sub.errorf("field %d: wire type %d for floats", f.num, f.typ)
}

// doubles appends the values of a repeated double field, packed or not.
func (f field) doubles(dst []float64) ([]float64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(dst, math.Float64frombits(f.v)), nil
	case protowire.BytesType:
		b := f.sub.buf
		if len(b)%8 != 0 {
			return dst, f.sub.errorf("packed doubles of %d bytes", len(b))
		}
		for i := 0; i < len(b); i += 8 {
			var v uint64
			for k := 7; k >= 0; k-- {
				v = v<<8 | uint64(b[i+k])
			}
			dst = append(dst, math.Float64frombits(v))
		}
		return dst, nil
	}
	return dst, f.sub.errorf("field %d: wire type %d for doubles", f.num, f.typ)
}

// need checks that f has wire type t.
func (f field) need(t protowire.Type) error {
	if f.typ != t {
		return f.sub.errorf("field %d: wire type %d, want %d", f.num, f.typ, t)
	}
	return nil
}
