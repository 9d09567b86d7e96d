package numpy

import (
	"fmt"
	"io"

	"github.com/refit-ml/refit/tensor"
)

// DefaultName names the tensor of a .npy file read without a file name.
const DefaultName = "array"

// ReadNPY reads the header of the .npy array in r (exactly size bytes) and returns a
// tensor named DefaultName whose data is read lazily from r. Little-endian C-ordered
// data is a view of r; big-endian or Fortran-ordered data is converted when read.
func ReadNPY(r io.ReaderAt, size int64) (*tensor.Tensor, error) {
	h, err := ReadHeader(r, size)
	if err != nil {
		return nil, err
	}
	return newTensor(DefaultName, h, func() ([]byte, error) {
		buf := make([]byte, h.DataSize)
		if n, err := r.ReadAt(buf, h.DataOffset); n != len(buf) {
			return nil, fmt.Errorf("numpy: reading %q: %w", DefaultName, unexpectedEOF(err))
		}
		return buf, nil
	}, io.NewSectionReader(r, h.DataOffset, h.DataSize))
}

// newTensor builds the tensor h describes. view is the stored data when it needs no
// conversion (nil if it cannot be viewed directly); read returns the stored bytes.
func newTensor(name string, h *Header, read func() ([]byte, error), view tensor.Data) (*tensor.Tensor, error) {
	var data tensor.Data = view
	if view == nil || h.needsConversion() {
		data = tensor.NewLazy(h.DataSize, func() ([]byte, error) {
			b, err := read()
			if err != nil {
				return nil, err
			}
			return toRefitLayout(h, b), nil
		})
	}
	return tensor.New(name, h.DType, h.Shape.Clone(), data)
}

// toRefitLayout converts stored bytes to little-endian row-major, reusing b when it can.
func toRefitLayout(h *Header, b []byte) []byte {
	if h.byteSwapped() {
		unit := h.DType.TypeSize()
		if h.DType == tensor.C64 || h.DType == tensor.C128 {
			unit /= 2 // real and imaginary parts swap separately
		}
		swapBytes(b, unit)
	}
	if h.transposed() {
		out := make([]byte, len(b))
		fortranToC(out, b, h.Shape, h.DType.TypeSize())
		b = out
	}
	return b
}

// swapBytes reverses the bytes of every unit-sized word of b.
func swapBytes(b []byte, unit int) {
	for i := 0; i+unit <= len(b); i += unit {
		w := b[i : i+unit]
		for j, k := 0, unit-1; j < k; j, k = j+1, k-1 {
			w[j], w[k] = w[k], w[j]
		}
	}
}

// fortranToC copies the column-major elements of src into dst in row-major order.
// dst and src hold the same number of elements of size es; shape has no zero dimension
// when the arrays are non-empty.
func fortranToC(dst, src []byte, shape tensor.Shape, es int) {
	if len(dst) == 0 {
		return
	}
	n := len(shape)
	// strides[k] is how far (in elements) src moves when index k grows by one.
	strides := make([]int64, n)
	st := int64(1)
	for k := range n {
		strides[k] = st
		st *= shape[k]
	}
	idx := make([]int64, n)
	inner, innerStride := shape[n-1], strides[n-1]*int64(es)
	o := 0
	var s int64 // src element offset of idx
	for {
		p := s * int64(es)
		for range inner {
			copy(dst[o:o+es], src[p:p+int64(es)])
			o += es
			p += innerStride
		}
		k := n - 2
		for ; k >= 0; k-- {
			idx[k]++
			s += strides[k]
			if idx[k] < shape[k] {
				break
			}
			s -= strides[k] * shape[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// EncodeNPY writes t as a .npy array in the layout numpy.save uses: format version
// 1.0 (2.0 if the header needs it), little-endian, C order. Types numpy lacks
// (BF16, the F8 types, GGML blocks) give an error wrapping refit.ErrUnsupported.
func EncodeNPY(w io.Writer, t *tensor.Tensor) error {
	if err := checkEncodable(t); err != nil {
		return err
	}
	descr, _ := descrFor(t.DType)
	if _, err := w.Write(appendHeader(nil, descr, t.Shape)); err != nil {
		return err
	}
	n, err := t.WriteTo(w)
	if err != nil {
		return fmt.Errorf("numpy: writing tensor %q: %w", t.Name, err)
	}
	if n != t.Size() {
		return fmt.Errorf("numpy: tensor %q: wrote %d of %d bytes", t.Name, n, t.Size())
	}
	return nil
}
