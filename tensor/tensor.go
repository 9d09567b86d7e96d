package tensor

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// Data is a tensor's storage: Size() bytes, readable at any offset, never modified through
// this interface. *io.SectionReader (a view of an mmap'd file) and *bytes.Reader satisfy it.
type Data interface {
	io.ReaderAt
	Size() int64
}

// Tensor is a named n-dimensional array whose bytes are read lazily from Data.
// Bytes are little-endian and row-major (C order); block types store whole blocks
// along the innermost dimension, as GGML does.
type Tensor struct {
	Name  string
	DType DType
	Shape Shape
	Data  Data
}

// New returns a tensor after checking that data holds exactly the bytes the type and shape need.
func New(name string, d DType, s Shape, data Data) (*Tensor, error) {
	want, err := ByteSize(d, s)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", name, err)
	}
	if data.Size() != want {
		return nil, fmt.Errorf("tensor %q: %v %v needs %d bytes, have %d", name, d, s, want, data.Size())
	}
	return &Tensor{Name: name, DType: d, Shape: s, Data: data}, nil
}

// FromBytes wraps b (not copied) as a tensor's data.
func FromBytes(name string, d DType, s Shape, b []byte) (*Tensor, error) {
	return New(name, d, s, bytes.NewReader(b))
}

// NewF32 builds an F32 tensor from values (copied).
func NewF32(name string, s Shape, v []float32) (*Tensor, error) {
	return FromBytes(name, F32, s, EncodeFloat32(nil, v))
}

// Size is the tensor's size in bytes.
func (t *Tensor) Size() int64 { return t.Data.Size() }

// NumElements is the product of the shape.
func (t *Tensor) NumElements() int64 { return t.Shape.Elements() }

// Bytes reads the whole tensor into a new slice.
func (t *Tensor) Bytes() ([]byte, error) {
	if l, ok := t.Data.(*Lazy); ok {
		return l.Compute()
	}
	buf := make([]byte, t.Data.Size())
	n, err := t.Data.ReadAt(buf, 0)
	if n == len(buf) {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
}

// WriteTo streams the tensor's bytes to w in chunks.
func (t *Tensor) WriteTo(w io.Writer) (int64, error) {
	if l, ok := t.Data.(*Lazy); ok {
		b, err := l.Compute()
		if err != nil {
			return 0, err
		}
		n, err := w.Write(b)
		return int64(n), err
	}
	if c, ok := t.Data.(*castData); ok {
		return c.writeChunks(w)
	}
	if sr, ok := t.Data.(*io.SectionReader); ok {
		if rc, ok := outerRangeCopier(sr); ok {
			return rc.copyRange(w)
		}
	}
	return io.Copy(w, io.NewSectionReader(t.Data, 0, t.Data.Size()))
}

// RangeCopier is implemented by file-backed readers (refit.MappedFile) that can copy a
// byte range to a writer without passing it through user memory: when w is, or
// buffers for, an *os.File, the kernel copies file to file (copy_file_range).
type RangeCopier interface {
	CopyRange(w io.Writer, off, n int64) (int64, error)
}

type rangeCopy struct {
	rc     RangeCopier
	off, n int64
}

func (r rangeCopy) copyRange(w io.Writer) (int64, error) { return r.rc.CopyRange(w, r.off, r.n) }

// outerRangeCopier finds a RangeCopier under a (possibly nested) section reader.
func outerRangeCopier(sr *io.SectionReader) (rangeCopy, bool) {
	outer, off, _ := OuterRange(sr)
	rc, ok := outer.(RangeCopier)
	return rangeCopy{rc, off, sr.Size()}, ok
}

// Float32s decodes the tensor to float32 values, dequantizing block types.
func (t *Tensor) Float32s() ([]float32, error) {
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	n := t.NumElements()
	out := make([]float32, n)
	if err := ToFloat32(out, b, t.DType); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// WithData returns a copy of t's header over new data.
func (t *Tensor) WithData(d DType, s Shape, data Data) (*Tensor, error) {
	return New(t.Name, d, s, data)
}

// Lazy is Data computed by a function; it is how transforms (casts, strided views)
// stay lazy until an encoder pulls the tensor. Bytes and WriteTo compute the data
// afresh and keep nothing, so streaming a model through an encoder holds one tensor
// at a time. ReadAt keeps the computed bytes for random access until a read reaches
// the end of the data or Release is called; a later read computes them again.
type Lazy struct {
	size int64
	fn   func() ([]byte, error)
	mu   sync.Mutex
	buf  []byte
}

// NewLazy returns Data of the given size whose bytes fn computes on use.
func NewLazy(size int64, fn func() ([]byte, error)) *Lazy { return &Lazy{size: size, fn: fn} }

// Size implements Data.
func (l *Lazy) Size() int64 { return l.size }

// Compute runs the function and returns fresh bytes.
func (l *Lazy) Compute() ([]byte, error) {
	b, err := l.fn()
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != l.size {
		return nil, fmt.Errorf("tensor: lazy data produced %d bytes, want %d", len(b), l.size)
	}
	return b, nil
}

// ReadAt implements io.ReaderAt.
func (l *Lazy) ReadAt(p []byte, off int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		b, err := l.Compute()
		if err != nil {
			return 0, err
		}
		l.buf = b
	}
	if off < 0 || off > l.size {
		return 0, io.EOF
	}
	n := copy(p, l.buf[off:])
	if off+int64(n) == l.size && n > 0 {
		// Read to its end, as encoders and comparisons read: drop the bytes, so that
		// reading a model of many lazy tensors holds one at a time, not all of them.
		l.buf = nil
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Release drops bytes kept by ReadAt.
func (l *Lazy) Release() {
	l.mu.Lock()
	l.buf = nil
	l.mu.Unlock()
}
