package tensor

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// nativeLittleEndian allows reading little-endian float32 bytes straight into a []float32.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// ToFloat32 decodes src, holding len(dst) elements of type d, into dst.
// Integers convert exactly where float32 can hold them; block types are dequantized
// (on up to GOMAXPROCS goroutines; Dequantize takes a thread count).
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
		src = src[:4*len(dst)] // lets the compiler drop the per-value bounds checks
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i : 4*i+4]))
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
			return Dequantize(dst, src, d, 0)
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
		convertF32ToF16(dst, src)
	case BF16:
		convertF32ToBF16(dst, src)
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
//
// The result converts on demand, a chunk at a time: reading or writing it holds a few
// hundred KiB of scratch memory, never a float32 copy of the whole tensor.
func Cast(t *Tensor, d DType) (*Tensor, error) {
	if t.DType == d {
		return t, nil
	}
	size, err := ByteSize(d, t.Shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if d.Quantized() || !t.DType.Valid() {
		// Not a cast (FromFloat32 refuses it): fail on use, as before.
		src := t
		data := NewLazy(size, func() ([]byte, error) {
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
	data := &castData{src: t, to: d, n: t.NumElements(), size: size}
	return &Tensor{Name: t.Name, DType: d, Shape: t.Shape.Clone(), Data: data}, nil
}

// A CastWatcher sees what the WriteTo of a cast tensor (CastWatched) writes, chunk by
// chunk, so that a caller can check or measure the result in the same pass as the
// conversion instead of converting again. Begin starts each WriteTo; Chunk follows
// every chunk written, in order, with the source values as float32 (nil for a
// float64 source, which rounds directly) and the bytes written, neither of which it
// may keep (the values may lie in a mapping released after the call); End follows the last
// chunk of a WriteTo that wrote everything. Reads through ReadAt are not watched.
type CastWatcher interface {
	Begin()
	Chunk(src []float32, dst []byte)
	End()
}

// CastWatched is Cast whose WriteTo reports to w. Like Cast, casting to the same
// type returns t (and w sees nothing).
func CastWatched(t *Tensor, d DType, w CastWatcher) (*Tensor, error) {
	c, err := Cast(t, d)
	if err != nil || c == t {
		return c, err
	}
	if cd, ok := c.Data.(*castData); ok {
		cd.watch = w
	}
	return c, nil
}

// castChunk is the number of elements converted at once: a multiple of every block size.
const castChunk = 1 << 16

// castData is the bytes of src cast to a scalar type, converted chunk by chunk on read.
type castData struct {
	src   *Tensor
	to    DType
	n     int64 // elements
	size  int64 // bytes of the result
	watch CastWatcher
}

func (c *castData) Size() int64 { return c.size }

// ReadAt implements io.ReaderAt by converting the elements that cover [off, off+len(p)).
func (c *castData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tensor %q: negative offset", c.src.Name)
	}
	if off >= c.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := min(int64(len(p)), c.size-off)
	es := int64(c.to.TypeSize())
	bs := int64(c.src.DType.BlockSize())
	first := off / es / bs * bs // whole source blocks
	end := min((off+want+es-1)/es, c.n)
	var scratch castScratch
	done := int64(0)
	for e := first; e < end; e += castChunk {
		k := min(int64(castChunk), c.n-e)
		out, err := c.convert(&scratch, e, k)
		if err != nil {
			return int(done), err
		}
		// out holds bytes [e*es, (e+k)*es) of the result; copy the part p wants.
		lo := max(off+done-e*es, 0)
		done += int64(copy(p[done:want], out[lo:]))
	}
	if done < int64(len(p)) {
		return int(done), io.EOF
	}
	return int(done), nil
}

// castScratch holds the buffers of one ReadAt, reused across its chunks.
type castScratch struct {
	src, dst []byte
	f        []float32
}

func grow[T any](b []T, n int64) []T {
	if int64(cap(b)) < n {
		return make([]T, n)
	}
	return b[:n]
}

// convert casts the k elements starting at element e (a block boundary) into s.dst.
func (c *castData) convert(s *castScratch, e, k int64) ([]byte, error) {
	from, err := ByteSize(c.src.DType, Shape{e})
	if err != nil {
		return nil, err
	}
	srcLen, err := ByteSize(c.src.DType, Shape{k})
	if err != nil {
		return nil, err
	}
	s.dst = grow(s.dst, k*int64(c.to.TypeSize()))
	if c.src.DType == F32 && nativeLittleEndian && k > 0 {
		// Read the source straight into the float32 buffer: no decoding copy.
		s.f = grow(s.f, k)
		if err := readFullAt(c.src.Data, unsafe.Slice((*byte)(unsafe.Pointer(&s.f[0])), 4*k), from); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", c.src.Name, err)
		}
		if err := FromFloat32(s.dst, s.f, c.to); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", c.src.Name, err)
		}
		return s.dst, nil
	}
	s.src = grow(s.src, srcLen)
	if err := readFullAt(c.src.Data, s.src, from); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", c.src.Name, err)
	}
	if c.src.DType == F64 && c.to.Float() && castF64(s.dst, s.src, c.to) {
		s.f = s.f[:0] // no float32 values: the watcher gets nil
		return s.dst, nil
	}
	s.f = grow(s.f, k)
	if err := ToFloat32(s.f, s.src, c.src.DType); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", c.src.Name, err)
	}
	if err := FromFloat32(s.dst, s.f, c.to); err != nil {
		return nil, fmt.Errorf("tensor %q: %w", c.src.Name, err)
	}
	return s.dst, nil
}

// writeChunks streams the whole result to w, one chunk at a time.
func (c *castData) writeChunks(w io.Writer) (int64, error) {
	if sc, off, ok := mappedFloat32s(c.src); ok {
		return c.writeMapped(w, sc, off)
	}
	var s castScratch
	var total int64
	if c.watch != nil {
		c.watch.Begin()
	}
	for e := int64(0); e < c.n; e += castChunk {
		out, err := c.convert(&s, e, min(int64(castChunk), c.n-e))
		if err != nil {
			return total, err
		}
		n, err := w.Write(out)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if c.watch != nil {
			var src []float32
			if len(s.f) > 0 {
				src = s.f
			}
			c.watch.Chunk(src, out)
		}
	}
	if c.watch != nil {
		c.watch.End()
	}
	return total, nil
}

// readFullAt reads exactly len(p) bytes at off.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// mappedFloat32s reports whether t is little-endian float32 data lying in a mapped
// file (a Scanner under section readers) at an offset that keeps the values aligned,
// so that a cast can convert them straight from the mapping.
func mappedFloat32s(t *Tensor) (Scanner, int64, bool) {
	if t.DType != F32 || !nativeLittleEndian {
		return nil, 0, false
	}
	outer, off, ok := OuterRange(t.Data)
	if !ok || off%4 != 0 {
		return nil, 0, false
	}
	sc, ok := outer.(Scanner)
	return sc, off, ok
}

// writeMapped is writeChunks for float32 source values in a mapped file: the values
// are converted straight from the mapping, a window at a time (Scanner.Scan), instead
// of being read into a buffer first: one copy of the source fewer (BenchmarkCastMapped).
func (c *castData) writeMapped(w io.Writer, sc Scanner, off int64) (int64, error) {
	var (
		dst   []byte
		total int64
	)
	if c.watch != nil {
		c.watch.Begin()
	}
	es := int64(c.to.TypeSize())
	err := sc.Scan(off, 4*c.n, func(b []byte) error {
		// The windows start at off plus multiples of the window size (a multiple
		// of 4), so each holds whole, aligned values.
		if len(b)%4 != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(b)))%4 != 0 {
			return fmt.Errorf("tensor: a mapped window of %d bytes splits a float32", len(b))
		}
		f := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/4)
		for len(f) > 0 {
			part := f[:min(len(f), castChunk)]
			f = f[len(part):]
			dst = grow(dst, int64(len(part))*es)
			if err := FromFloat32(dst, part, c.to); err != nil {
				return err
			}
			n, err := w.Write(dst)
			total += int64(n)
			if err != nil {
				return err
			}
			if c.watch != nil {
				c.watch.Chunk(part, dst)
			}
		}
		return nil
	})
	if err != nil {
		return total, fmt.Errorf("tensor %q: %w", c.src.Name, err)
	}
	if c.watch != nil {
		c.watch.End()
	}
	return total, nil
}
