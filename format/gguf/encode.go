package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// EncodeOptions control Encode. The zero value means defaults.
type EncodeOptions struct {
	// Alignment of the data section and of each tensor: a power of two. Zero means
	// the model's general.alignment metadata if present, else DefaultAlignment.
	// A non-default alignment is recorded in general.alignment.
	Alignment uint32
}

// Encode writes m as a version 3 GGUF file: metadata in m's order, then tensor infos
// in m's order at offsets computed up front, then each tensor streamed from its source
// and zero-padded to the alignment. A model without tensors has no data section and
// no padding after its header (as gguf-py writes vocab-only files), unless it was
// decoded from a file padded that way (see Source). Model shapes are row-major and are written
// reversed, in ggml order. Tensor types without a ggml equivalent (U8, BOOL, F8, ...)
// give an error wrapping refit.ErrUnsupported; cast them first.
func Encode(w io.Writer, m *refit.Model, opts *EncodeOptions) error {
	l, err := newLayout(m, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(l.header); err != nil {
		return err
	}
	if err := writeZeros(bw, l.padding); err != nil {
		return err
	}
	for _, t := range m.Tensors {
		// A tensor copied from a file goes to w itself, so that an output file can
		// place the copy (refit.MappedFile.CopyRange); others stay buffered.
		dst := io.Writer(bw)
		if _, ok := t.SourceOffset(); ok {
			if err := bw.Flush(); err != nil {
				return err
			}
			dst = w
		}
		n, err := t.WriteTo(dst)
		if err != nil {
			return fmt.Errorf("gguf: writing tensor %q: %w", t.Name, err)
		}
		if n != t.Size() {
			return fmt.Errorf("gguf: tensor %q wrote %d bytes, want %d", t.Name, n, t.Size())
		}
		if err := writeZeros(bw, alignUp(n, l.alignment)-n); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// EncodedSize returns the number of bytes Encode(w, m, opts) writes, computed from
// the layout alone: metadata, names, shapes and types. No tensor data is read.
func EncodedSize(m *refit.Model, opts *EncodeOptions) (int64, error) {
	l, err := newLayout(m, opts)
	if err != nil {
		return 0, err
	}
	return int64(len(l.header)) + l.padding + l.dataSize, nil
}

// layout is what Encode writes before the tensors' data: the header, the zero
// padding after it, and the size of the data section (each tensor padded).
type layout struct {
	header    []byte
	padding   int64
	alignment int64
	dataSize  int64
}

func newLayout(m *refit.Model, opts *EncodeOptions) (*layout, error) {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	if err := m.CheckNames(); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	kvs := make([]KV, 0, m.Metadata.Len()+1)
	for _, k := range m.Metadata.Keys() {
		v, _ := m.Metadata.Get(k)
		kvs = append(kvs, KV{k, v})
	}
	alignment, kvs, err := chooseAlignment(kvs, opts.Alignment)
	if err != nil {
		return nil, err
	}
	infos := make([]TensorInfo, len(m.Tensors))
	var offset uint64
	for i, t := range m.Tensors {
		ti, err := tensorInfo(t)
		if err != nil {
			return nil, err
		}
		size, err := ti.Size()
		if err != nil {
			return nil, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
		if t.Size() != size {
			return nil, fmt.Errorf("gguf: tensor %q has %d bytes of data, its shape and type need %d", t.Name, t.Size(), size)
		}
		ti.Offset = offset
		padded := alignUp(size, alignment)
		if padded < 0 || offset > math.MaxInt64-uint64(padded) {
			return nil, fmt.Errorf("gguf: data section size overflows")
		}
		offset += uint64(padded)
		infos[i] = ti
	}
	header, err := appendHeader(nil, 3, kvs, infos)
	if err != nil {
		return nil, err
	}
	return &layout{header: header, alignment: alignment, dataSize: int64(offset),
		padding: headerPadding(int64(len(header)), alignment, len(m.Tensors), sourcePadded(m))}, nil
}

// tensorInfo converts a Model tensor's header (offset left zero).
func tensorInfo(t *tensor.Tensor) (TensorInfo, error) {
	id, ok := TypeFor(t.DType)
	if !ok {
		return TensorInfo{}, unsupportedf("tensor %q has type %v, which GGUF cannot store", t.Name, t.DType)
	}
	if len(t.Shape) > MaxDims {
		return TensorInfo{}, unsupportedf("tensor %q has %d dimensions; GGUF allows %d", t.Name, len(t.Shape), MaxDims)
	}
	if len(t.Name) > MaxNameLen {
		return TensorInfo{}, unsupportedf("tensor name %q is %d bytes; ggml allows %d", t.Name, len(t.Name), MaxNameLen)
	}
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[len(shape)-1-i] = d
	}
	return TensorInfo{Name: t.Name, Shape: shape, Type: id}, nil
}

// chooseAlignment returns the alignment to use and kvs with general.alignment set to it
// when it differs from the default or was already present.
func chooseAlignment(kvs []KV, requested uint32) (int64, []KV, error) {
	idx := slices.IndexFunc(kvs, func(kv KV) bool { return kv.Key == AlignmentKey })
	a := requested
	if a == 0 {
		a = DefaultAlignment
		if idx >= 0 {
			v, ok := kvs[idx].Value.(uint32)
			if !ok {
				return 0, nil, fmt.Errorf("gguf: %s must be a uint32, not %T", AlignmentKey, kvs[idx].Value)
			}
			a = v
		}
	}
	if a == 0 || a&(a-1) != 0 {
		return 0, nil, fmt.Errorf("gguf: alignment %d is not a power of two", a)
	}
	switch {
	case idx >= 0:
		kvs[idx].Value = a
	case a != DefaultAlignment:
		kvs = append(kvs, KV{AlignmentKey, a})
	}
	return int64(a), kvs, nil
}

// fileAlignment reads general.alignment from kvs as Parse does.
func fileAlignment(kvs []KV) (int64, error) {
	for _, kv := range kvs {
		if kv.Key == AlignmentKey {
			a, ok := kv.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return 0, fmt.Errorf("gguf: %s must be a UINT32 power of two, got %T %v", AlignmentKey, kv.Value, kv.Value)
			}
			return int64(a), nil
		}
	}
	return DefaultAlignment, nil
}

// WriteTo writes f: its header (rebuilt from Version, KVs and Tensors), zero padding
// to the alignment, then the source file's data section copied verbatim. Tensor
// offsets are relative to the data section, so metadata may be edited freely; the
// tensor infos must still describe the source's data. A file parsed and written back
// unchanged is byte-identical to its source whenever the source's header padding is
// zero, as every GGUF writer makes it.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if f.src == nil {
		return 0, fmt.Errorf("gguf: WriteTo needs a File returned by Parse")
	}
	alignment, err := fileAlignment(f.KVs)
	if err != nil {
		return 0, err
	}
	dataSize := max(f.srcSize-f.DataOffset, 0)
	if err := checkTensors(f.Tensors, alignment, dataSize); err != nil {
		return 0, err
	}
	if err := checkNames(f.KVs, f.Tensors); err != nil {
		return 0, err
	}
	header, err := appendHeader(nil, f.Version, f.KVs, f.Tensors)
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	if _, err := cw.Write(header); err != nil {
		return cw.n, err
	}
	// A source without tensors ending before its aligned data offset was not padded.
	padded := f.srcSize >= f.DataOffset
	if err := writeZeros(cw, headerPadding(int64(len(header)), alignment, len(f.Tensors), padded)); err != nil {
		return cw.n, err
	}
	if dataSize > 0 {
		if _, err := io.Copy(cw, io.NewSectionReader(f.src, f.DataOffset, dataSize)); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

// checkNames rejects duplicate keys and empty or duplicate tensor names.
func checkNames(kvs []KV, ts []TensorInfo) error {
	seen := make(map[string]bool, max(len(kvs), len(ts)))
	for _, kv := range kvs {
		if seen[kv.Key] {
			return fmt.Errorf("gguf: duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
	}
	clear(seen)
	for _, t := range ts {
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("gguf: empty or duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

var zeros [4096]byte

func writeZeros(w io.Writer, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := w.Write(zeros[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// appendHeader encodes everything before the data section's padding.
func appendHeader(b []byte, version uint32, kvs []KV, ts []TensorInfo) ([]byte, error) {
	le := binary.LittleEndian
	b = append(b, magic...)
	b = le.AppendUint32(b, version)
	b = le.AppendUint64(b, uint64(len(ts)))
	b = le.AppendUint64(b, uint64(len(kvs)))
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		if seen[kv.Key] {
			return nil, fmt.Errorf("gguf: duplicate metadata key %q", kv.Key)
		}
		seen[kv.Key] = true
		t, _, err := typeOf(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("gguf: metadata %q: %w", kv.Key, err)
		}
		b = appendString(b, kv.Key)
		b = le.AppendUint32(b, uint32(t))
		if b, err = appendValue(b, kv.Value, 0); err != nil {
			return nil, fmt.Errorf("gguf: metadata %q: %w", kv.Key, err)
		}
	}
	for _, ti := range ts {
		if len(ti.Shape) > MaxDims {
			return nil, fmt.Errorf("gguf: tensor %q has %d dimensions, more than %d", ti.Name, len(ti.Shape), MaxDims)
		}
		b = appendString(b, ti.Name)
		b = le.AppendUint32(b, uint32(len(ti.Shape)))
		for _, d := range ti.Shape {
			b = le.AppendUint64(b, uint64(d))
		}
		b = le.AppendUint32(b, uint32(ti.Type))
		b = le.AppendUint64(b, ti.Offset)
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// typeOf returns the GGUF type of v and, for arrays, the element type.
func typeOf(v any) (t, elem ValueType, err error) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, nil
	case int8:
		return TypeInt8, 0, nil
	case uint16:
		return TypeUint16, 0, nil
	case int16:
		return TypeInt16, 0, nil
	case uint32:
		return TypeUint32, 0, nil
	case int32:
		return TypeInt32, 0, nil
	case float32:
		return TypeFloat32, 0, nil
	case bool:
		return TypeBool, 0, nil
	case string:
		return TypeString, 0, nil
	case uint64:
		return TypeUint64, 0, nil
	case int64:
		return TypeInt64, 0, nil
	case float64:
		return TypeFloat64, 0, nil
	case []uint8:
		return TypeArray, TypeUint8, nil
	case []int8:
		return TypeArray, TypeInt8, nil
	case []uint16:
		return TypeArray, TypeUint16, nil
	case []int16:
		return TypeArray, TypeInt16, nil
	case []uint32:
		return TypeArray, TypeUint32, nil
	case []int32:
		return TypeArray, TypeInt32, nil
	case []float32:
		return TypeArray, TypeFloat32, nil
	case []bool:
		return TypeArray, TypeBool, nil
	case []string:
		return TypeArray, TypeString, nil
	case []uint64:
		return TypeArray, TypeUint64, nil
	case []int64:
		return TypeArray, TypeInt64, nil
	case []float64:
		return TypeArray, TypeFloat64, nil
	case []any:
		return TypeArray, TypeArray, nil
	}
	return 0, 0, fmt.Errorf("value of Go type %T has no GGUF type (use a sized type such as int32, or a typed slice)", v)
}

// appendValue encodes v without its type tag; depth counts enclosing arrays.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		return append(b, x), nil
	case int8:
		return append(b, byte(x)), nil
	case uint16:
		return le.AppendUint16(b, x), nil
	case int16:
		return le.AppendUint16(b, uint16(x)), nil
	case uint32:
		return le.AppendUint32(b, x), nil
	case int32:
		return le.AppendUint32(b, uint32(x)), nil
	case float32:
		return le.AppendUint32(b, math.Float32bits(x)), nil
	case bool:
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case string:
		return appendString(b, x), nil
	case uint64:
		return le.AppendUint64(b, x), nil
	case int64:
		return le.AppendUint64(b, uint64(x)), nil
	case float64:
		return le.AppendUint64(b, math.Float64bits(x)), nil
	}
	// An array: element type, count, elements.
	if depth >= MaxNesting {
		return nil, fmt.Errorf("arrays nested more than %d deep", MaxNesting)
	}
	t, elem, err := typeOf(v)
	if err != nil {
		return nil, err
	}
	if t != TypeArray {
		panic("gguf: unreachable")
	}
	b = le.AppendUint32(b, uint32(elem))
	switch x := v.(type) {
	case []uint8:
		return appendSlice(b, x, depth)
	case []int8:
		return appendSlice(b, x, depth)
	case []uint16:
		return appendSlice(b, x, depth)
	case []int16:
		return appendSlice(b, x, depth)
	case []uint32:
		return appendSlice(b, x, depth)
	case []int32:
		return appendSlice(b, x, depth)
	case []float32:
		return appendSlice(b, x, depth)
	case []bool:
		return appendSlice(b, x, depth)
	case []string:
		return appendSlice(b, x, depth)
	case []uint64:
		return appendSlice(b, x, depth)
	case []int64:
		return appendSlice(b, x, depth)
	case []float64:
		return appendSlice(b, x, depth)
	case []any:
		b = le.AppendUint64(b, uint64(len(x)))
		for i, e := range x {
			if et, _, err := typeOf(e); err != nil || et != TypeArray {
				return nil, fmt.Errorf("element %d of an array of arrays is a %T, not an array", i, e)
			}
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	panic("gguf: unreachable")
}

func appendSlice[T any](b []byte, s []T, depth int) ([]byte, error) {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	var err error
	for _, e := range s {
		if b, err = appendValue(b, e, depth+1); err != nil {
			return nil, err
		}
	}
	return b, nil
}
