package gguf

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/refit-ml/refit"
)

const (
	magic = "GGUF"

	// DefaultAlignment is the data alignment when general.alignment is absent.
	DefaultAlignment = 32
	// AlignmentKey names the metadata value (UINT32) that sets the data alignment.
	AlignmentKey = "general.alignment"
	// MaxDims is GGML_MAX_DIMS: a tensor has at most four dimensions.
	MaxDims = 4
	// MaxNesting caps how deeply arrays of arrays may nest.
	MaxNesting = 16
	// MaxNameLen is the longest tensor name ggml accepts (GGML_MAX_NAME minus the NUL).
	MaxNameLen = 63

	// Smallest encodings, used to bound counts read from a file before allocating.
	minKVSize     = 8 + 4 + 1         // empty key, type, one-byte value
	minTensorSize = 8 + 4 + 4 + 8     // empty name, n_dims, type, offset
	headerSize    = 4 + 4 + 8 + 8     // magic, version, tensor count, kv count
	maxKVs        = math.MaxInt64 / 2 // keeps count arithmetic far from overflow
)

// File is a parsed GGUF file: its header, metadata and tensor infos. Tensor bytes
// stay in the source; WriteTo copies them verbatim.
type File struct {
	Version uint32 // 2 or 3
	// KVs holds the metadata in file order. See KV for how values are represented.
	KVs []KV
	// Tensors lists the tensor infos in file order.
	Tensors []TensorInfo
	// Alignment of the data section and of every tensor offset (general.alignment or 32).
	Alignment int64
	// DataOffset is where the data section starts: the end of the tensor infos rounded
	// up to Alignment. Tensor offsets are relative to it.
	DataOffset int64

	src     io.ReaderAt
	srcSize int64
}

// KV is one metadata entry. Value is a Go value whose type names its GGUF type:
//
//	uint8 int8 uint16 int16 uint32 int32 uint64 int64 float32 float64 bool string
//	    scalars of the GGUF type with the same name (UINT8 ... FLOAT64, BOOL, STRING)
//	[]uint8 []int8 ... []float64 []bool []string
//	    an ARRAY of that element type (empty slices keep their element type)
//	[]any
//	    an ARRAY of ARRAYs; every element is itself one of the two array forms above
//
// The same representation is used for refit.Model metadata, so a decoded file
// re-encodes with identical types. Other Go types (int, uint, []any of scalars) are rejected.
type KV struct {
	Key   string
	Value any
}

// Type returns the GGUF type of the value, or an error if it has no GGUF representation.
func (kv KV) Type() (ValueType, error) {
	t, _, err := typeOf(kv.Value)
	return t, err
}

// TensorInfo describes one tensor. Shape is in ggml order: Shape[0] (ne[0]) is the
// innermost, fastest-varying dimension, the reverse of a row-major refit.Model shape.
type TensorInfo struct {
	Name   string
	Shape  []int64
	Type   GGMLType
	Offset uint64 // relative to File.DataOffset; a multiple of File.Alignment
}

// Size returns the tensor's size in bytes, checking for overflow and for a type
// whose block size does not divide the innermost dimension.
func (ti *TensorInfo) Size() (int64, error) {
	info, ok := ggmlTypes[ti.Type]
	if !ok {
		return 0, fmt.Errorf("unknown ggml type %d", uint32(ti.Type))
	}
	if len(ti.Shape) > MaxDims {
		return 0, fmt.Errorf("%d dimensions, more than %d", len(ti.Shape), MaxDims)
	}
	ne0 := int64(1)
	if len(ti.Shape) > 0 {
		ne0 = ti.Shape[0]
	}
	if ne0%info.blockSize != 0 {
		return 0, fmt.Errorf("innermost dimension %d of a %v tensor is not a multiple of %d", ne0, ti.Type, info.blockSize)
	}
	n := uint64(1)
	for _, d := range ti.Shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, errSizeOverflow
		}
		n = lo
	}
	hi, lo := bits.Mul64(n/uint64(info.blockSize), uint64(info.typeSize))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, errSizeOverflow
	}
	return int64(lo), nil
}

var errSizeOverflow = errors.New("size overflows int64")

// Get returns the value stored under key.
func (f *File) Get(key string) (any, bool) {
	for _, kv := range f.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Parse reads the header, metadata and tensor infos of a GGUF file of the given size,
// validating every count, length and offset against size before allocating.
// Tensor bytes are not read. The memory the metadata takes is charged to a budget of
// refit.DefaultMaxMemory; ParseBudget takes the budget.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	return ParseBudget(r, size, refit.NewBudget(refit.DefaultMaxMemory()))
}

// ParseBudget is Parse charging budget (nil: no limit) with the Go memory of the
// metadata and tensor infos before allocating it, so that a file listing millions of
// small values (empty arrays take 12 bytes each) is refused with an error wrapping
// refit.ErrBudget.
func ParseBudget(r io.ReaderAt, size int64, budget *refit.Budget) (*File, error) {
	if size < 0 {
		return nil, fmt.Errorf("gguf: negative size %d", size)
	}
	d := &reader{br: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10), size: size, budget: budget}
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	f.src, f.srcSize = r, size
	return f, nil
}

// reader reads little-endian values sequentially, tracking the offset and refusing
// any read that would pass the end of the file.
type reader struct {
	br      *bufio.Reader
	off     int64
	size    int64
	buf     [8]byte
	scratch [256]byte
	chunk   [4096]byte // readArray's buffer: a local one escapes, 4 KiB per (even empty) array
	budget  *refit.Budget
}

// Go memory per value, charged to the budget: a slice header boxed in an interface, an
// interface slot, a string header, and a KV or TensorInfo with its share of a map entry.
const (
	boxedSliceCost = 24
	anyCost        = 16
	stringCost     = 16
	kvCost         = 32 + 48
	tensorInfoCost = 56 + 48
)

// charge charges the budget n elements of size bytes each.
func (d *reader) charge(n, size int64, what string) error {
	if n > math.MaxInt64/max(size, 1) {
		n, size = math.MaxInt64, 1
	}
	if err := d.budget.Charge(n*size, what); err != nil {
		return &budgetError{off: d.off, err: err}
	}
	return nil
}

func (d *reader) errorf(off int64, msg string, args ...any) error {
	return refit.Errorf("gguf", off, msg, args...)
}

// need fails with io.ErrUnexpectedEOF unless n more bytes remain.
func (d *reader) need(n int64, what string) error {
	if n < 0 || n > d.size-d.off {
		return refit.WrapErrorf("gguf", d.off, io.ErrUnexpectedEOF, "truncated %s: need %d bytes, %d remain", what, n, d.size-d.off)
	}
	return nil
}

// next returns the next n (<= 8) bytes.
func (d *reader) next(n int, what string) ([]byte, error) {
	if err := d.need(int64(n), what); err != nil {
		return nil, err
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.br, b); err != nil {
		return nil, d.ioError(err)
	}
	d.off += int64(n)
	return b, nil
}

// ioError reports a read that failed although the size said the bytes were there.
func (d *reader) ioError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return refit.WrapErrorf("gguf", d.off, err, "read failed")
}

func (d *reader) u32(what string) (uint32, error) {
	b, err := d.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *reader) u64(what string) (uint64, error) {
	b, err := d.next(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a u64 count of items each at least minSize bytes long, rejecting
// counts the remaining bytes cannot hold.
func (d *reader) count(what string, minSize int64) (int64, error) {
	at := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(d.size-d.off)/uint64(minSize) {
		return 0, refit.WrapErrorf("gguf", at, io.ErrUnexpectedEOF, "%s %d exceeds what the remaining %d bytes can hold", what, n, d.size-d.off)
	}
	return int64(n), nil
}

func (d *reader) str(what string) (string, error) {
	at := d.off
	lb, err := d.next(8, what) // reports "truncated <what>"; no per-call string building
	if err != nil {
		return "", err
	}
	n := binary.LittleEndian.Uint64(lb)
	if n > uint64(d.size-d.off) {
		return "", refit.WrapErrorf("gguf", at, io.ErrUnexpectedEOF, "%s length %d exceeds the remaining %d bytes", what, n, d.size-d.off)
	}
	if err := d.charge(int64(n), 1, "metadata strings"); err != nil {
		return "", err
	}
	var b []byte
	if n <= uint64(len(d.scratch)) {
		b = d.scratch[:n] // short strings: one allocation, in string(b)
	} else {
		b = make([]byte, n)
	}
	if _, err := io.ReadFull(d.br, b); err != nil {
		return "", d.ioError(err)
	}
	d.off += int64(n)
	return string(b), nil
}

func (d *reader) file() (*File, error) {
	b, err := d.next(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(b) != magic {
		return nil, d.errorf(0, "bad magic %q, want %q", b, magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, unsupportedf("GGUF version 1 (superseded in 2023; convert it with a current llama.cpp)")
	case version == 0:
		return nil, d.errorf(4, "version 0")
	case version&0xffff == 0 && bits.ReverseBytes32(version) <= 3:
		return nil, unsupportedf("big-endian GGUF (version field %#x)", version)
	default:
		return nil, unsupportedf("GGUF version %d", version)
	}
	nTensors, err := d.count("tensor count", minTensorSize)
	if err != nil {
		return nil, err
	}
	nKV, err := d.count("metadata count", minKVSize)
	if err != nil {
		return nil, err
	}
	if err := d.charge(nKV, kvCost, "metadata entries"); err != nil {
		return nil, err
	}
	if err := d.charge(nTensors, tensorInfoCost, "tensor infos"); err != nil {
		return nil, err
	}
	f := &File{Version: version, KVs: make([]KV, 0, nKV), Tensors: make([]TensorInfo, 0, nTensors)}

	seen := make(map[string]bool, nKV)
	for range nKV {
		at := d.off
		key, err := d.str("metadata key")
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, d.errorf(at, "duplicate metadata key %q", key)
		}
		seen[key] = true
		typAt := d.off
		t, err := d.u32("metadata value type")
		if err != nil {
			return nil, err
		}
		if !ValueType(t).Valid() {
			return nil, d.errorf(typAt, "metadata %q has unknown value type %d", key, t)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, withContext(err, "metadata "+strconv.Quote(key))
		}
		f.KVs = append(f.KVs, KV{key, v})
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.Get(AlignmentKey); ok {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, d.errorf(-1, "%s must be a UINT32 power of two, got %T %v", AlignmentKey, v, v)
		}
		f.Alignment = int64(a)
	}

	names := make(map[string]bool, nTensors)
	for range nTensors {
		ti, err := d.tensorInfo()
		if err != nil {
			return nil, err
		}
		if names[ti.Name] {
			return nil, d.errorf(d.off, "duplicate tensor name %q", ti.Name)
		}
		names[ti.Name] = true
		f.Tensors = append(f.Tensors, ti)
	}
	f.DataOffset = alignUp(d.off, f.Alignment)
	if f.DataOffset < 0 {
		return nil, d.errorf(d.off, "data offset overflows")
	}
	if err := checkTensors(f.Tensors, f.Alignment, d.size-f.DataOffset); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *reader) tensorInfo() (TensorInfo, error) {
	at := d.off
	name, err := d.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	if name == "" {
		return TensorInfo{}, d.errorf(at, "empty tensor name")
	}
	ndimsAt := d.off
	ndims, err := d.u32("tensor dimension count")
	if err != nil {
		return TensorInfo{}, err
	}
	if ndims > MaxDims {
		return TensorInfo{}, d.errorf(ndimsAt, "tensor %q has %d dimensions, more than %d", name, ndims, MaxDims)
	}
	if err := d.charge(int64(ndims), 8, "tensor shapes"); err != nil {
		return TensorInfo{}, err
	}
	ti := TensorInfo{Name: name, Shape: make([]int64, ndims)}
	for i := range ti.Shape {
		dimAt := d.off
		v, err := d.u64("tensor dimension")
		if err != nil {
			return TensorInfo{}, err
		}
		if v > math.MaxInt64 {
			return TensorInfo{}, d.errorf(dimAt, "tensor %q dimension %d is negative", name, int64(v))
		}
		ti.Shape[i] = int64(v)
	}
	typAt := d.off
	t, err := d.u32("tensor type")
	if err != nil {
		return TensorInfo{}, err
	}
	ti.Type = GGMLType(t)
	if !ti.Type.Known() {
		return TensorInfo{}, d.errorf(typAt, "tensor %q has unknown ggml type %d", name, t)
	}
	if _, err := ti.Size(); err != nil {
		return TensorInfo{}, d.errorf(at, "tensor %q: %v", name, err)
	}
	if ti.Offset, err = d.u64("tensor offset"); err != nil {
		return TensorInfo{}, err
	}
	return ti, nil
}

// checkTensors validates tensor offsets: aligned, within a data section of dataSize
// bytes, and not overlapping one another.
func checkTensors(ts []TensorInfo, alignment, dataSize int64) error {
	type span struct {
		start, end int64
		name       string
	}
	spans := make([]span, 0, len(ts))
	for i := range ts {
		ti := &ts[i]
		size, err := ti.Size()
		if err != nil {
			return refit.Errorf("gguf", -1, "tensor %q: %v", ti.Name, err)
		}
		if ti.Offset%uint64(alignment) != 0 {
			return refit.Errorf("gguf", -1, "tensor %q offset %d is not a multiple of the alignment %d", ti.Name, ti.Offset, alignment)
		}
		if ti.Offset > math.MaxInt64 || int64(ti.Offset) > dataSize || size > dataSize-int64(ti.Offset) {
			return refit.WrapErrorf("gguf", -1, io.ErrUnexpectedEOF, "tensor %q (%d bytes at data offset %d) extends past the end of the data section (%d bytes)", ti.Name, size, ti.Offset, max(dataSize, 0))
		}
		if size > 0 {
			spans = append(spans, span{int64(ti.Offset), int64(ti.Offset) + size, ti.Name})
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return refit.Errorf("gguf", -1, "tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return nil
}

// alignUp rounds n up to a multiple of the power of two a; the result is negative on overflow.
func alignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

// value reads one value of type t; depth counts enclosing arrays.
func (d *reader) value(t ValueType, depth int) (any, error) {
	if t != TypeArray {
		if err := d.charge(1, anyCost, "metadata values"); err != nil { // boxed in an interface
			return nil, err
		}
	}
	switch t {
	case TypeString:
		return d.str("string")
	case TypeArray:
		return d.array(depth + 1)
	}
	b, err := d.next(int(valueSizes[t]), t.String()+" value")
	if err != nil {
		return nil, err
	}
	return scalar(t, b, d.off-int64(len(b)))
}

// scalar decodes a fixed-size value.
func scalar(t ValueType, b []byte, at int64) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return b[0], nil
	case TypeInt8:
		return int8(b[0]), nil
	case TypeUint16:
		return le.Uint16(b), nil
	case TypeInt16:
		return int16(le.Uint16(b)), nil
	case TypeUint32:
		return le.Uint32(b), nil
	case TypeInt32:
		return int32(le.Uint32(b)), nil
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case TypeBool:
		// Only 0 and 1 are kept: any other byte could not be rewritten identically.
		if b[0] > 1 {
			return nil, refit.Errorf("gguf", at, "BOOL value %d is neither 0 nor 1", b[0])
		}
		return b[0] == 1, nil
	case TypeUint64:
		return le.Uint64(b), nil
	case TypeInt64:
		return int64(le.Uint64(b)), nil
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	panic("gguf: scalar called with " + t.String())
}

func (d *reader) array(depth int) (any, error) {
	at := d.off
	if depth > MaxNesting {
		return nil, d.errorf(at, "arrays nested more than %d deep", MaxNesting)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return nil, err
	}
	t := ValueType(et)
	if !t.Valid() {
		return nil, d.errorf(at, "array has unknown element type %d", et)
	}
	n, err := d.count("array length", t.minEncodedSize())
	if err != nil {
		return nil, err
	}
	// Charged before the slice is made: an array of empty arrays costs 40 bytes of Go
	// memory per 12 bytes of file.
	elem := valueSizes[t]
	switch t {
	case TypeString:
		elem = stringCost
	case TypeArray:
		elem = anyCost
	case TypeBool:
		elem = 2 // the raw bytes, then the bools
	}
	if err := d.charge(n, elem, "metadata arrays"); err != nil {
		return nil, err
	}
	if err := d.charge(1, boxedSliceCost, "metadata arrays"); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return readArray(d, t, n, func(b []byte) uint8 { return b[0] })
	case TypeInt8:
		return readArray(d, t, n, func(b []byte) int8 { return int8(b[0]) })
	case TypeUint16:
		return readArray(d, t, n, le.Uint16)
	case TypeInt16:
		return readArray(d, t, n, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		return readArray(d, t, n, le.Uint32)
	case TypeInt32:
		return readArray(d, t, n, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		return readArray(d, t, n, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeBool:
		start := d.off
		raw, err := readArray(d, t, n, func(b []byte) uint8 { return b[0] })
		if err != nil {
			return nil, err
		}
		out := make([]bool, n)
		for i, v := range raw {
			if v > 1 {
				return nil, refit.Errorf("gguf", start+int64(i), "BOOL value %d is neither 0 nor 1", v)
			}
			out[i] = v == 1
		}
		return out, nil
	case TypeUint64:
		return readArray(d, t, n, le.Uint64)
	case TypeInt64:
		return readArray(d, t, n, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case TypeFloat64:
		return readArray(d, t, n, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	case TypeString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = d.str("string"); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	out := make([]any, n)
	for i := range out {
		if out[i], err = d.array(depth + 1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readArray reads n fixed-size elements in chunks; n was already checked against the
// bytes left.
func readArray[T any](d *reader, t ValueType, n int64, dec func([]byte) T) ([]T, error) {
	out := make([]T, n)
	size := valueSizes[t]
	per := int64(len(d.chunk)) / size
	for i := int64(0); i < n; i += per {
		k := min(per, n-i)
		b := d.chunk[:k*size]
		if err := d.need(int64(len(b)), t.String()+" array"); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(d.br, b); err != nil {
			return nil, d.ioError(err)
		}
		d.off += int64(len(b))
		for j := range k {
			out[i+j] = dec(b[j*size:])
		}
	}
	return out, nil
}
