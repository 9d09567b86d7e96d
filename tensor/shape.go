package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// MaxDims caps the rank of any shape read from a file.
const MaxDims = 64

// ErrOverflow reports a shape whose element or byte count does not fit in int64.
var ErrOverflow = errors.New("tensor: size overflows int64")

// Shape lists dimension sizes, outermost first (row-major order).
type Shape []int64

// NumElements returns the product of the dimensions, checking for negative sizes and overflow.
// The empty shape is a scalar with one element.
func (s Shape) NumElements() (int64, error) {
	if len(s) > MaxDims {
		return 0, fmt.Errorf("tensor: rank %d exceeds %d", len(s), MaxDims)
	}
	n := uint64(1)
	for _, d := range s {
		if d < 0 {
			return 0, fmt.Errorf("tensor: negative dimension %d in %v", d, s)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, ErrOverflow
		}
		n = lo
	}
	return int64(n), nil
}

// Elements is NumElements for shapes already known to be valid; it panics otherwise.
func (s Shape) Elements() int64 {
	n, err := s.NumElements()
	if err != nil {
		panic(err)
	}
	return n
}

// ByteSize returns the number of bytes a tensor of this shape and type occupies.
// For block types the innermost dimension must be a multiple of the block size.
func ByteSize(d DType, s Shape) (int64, error) {
	if !d.Valid() {
		return 0, fmt.Errorf("tensor: invalid dtype %v", d)
	}
	n, err := s.NumElements()
	if err != nil {
		return 0, err
	}
	bs := int64(d.BlockSize())
	if bs > 1 {
		if len(s) == 0 || s[len(s)-1]%bs != 0 {
			return 0, fmt.Errorf("tensor: %v needs the last dimension of %v to be a multiple of %d", d, s, bs)
		}
	}
	blocks := n / bs
	hi, lo := bits.Mul64(uint64(blocks), uint64(d.TypeSize()))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, ErrOverflow
	}
	return int64(lo), nil
}

// Equal reports whether two shapes have the same dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
