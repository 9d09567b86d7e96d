package safetensors

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// MaxHeaderSize caps the JSON header, as the reference implementation does (100 MB).
const MaxHeaderSize = 100_000_000

// headerAlign is the alignment the header is padded to with spaces, so that the byte
// buffer, and every tensor in it when ordered by dtype size, is naturally aligned.
const headerAlign = 8

// metadataKey is the reserved header key that holds free-form string metadata.
const metadataKey = "__metadata__"

// dtypeInfo maps a safetensors dtype name to Refit's type. rank is the position in
// the reference implementation's Dtype enum, which orders tensors on output.
type dtypeInfo struct {
	name string
	d    tensor.DType
	rank int
}

// dtypeTable lists every dtype Refit reads and writes, in the reference enum order.
var dtypeTable = []dtypeInfo{
	{"BOOL", tensor.Bool, 0},
	{"U8", tensor.U8, 1},
	{"I8", tensor.I8, 2},
	{"F8_E5M2", tensor.F8E5M2, 3},
	{"F8_E4M3", tensor.F8E4M3, 4},
	{"I16", tensor.I16, 5},
	{"U16", tensor.U16, 6},
	{"F16", tensor.F16, 7},
	{"BF16", tensor.BF16, 8},
	{"I32", tensor.I32, 9},
	{"U32", tensor.U32, 10},
	{"F32", tensor.F32, 11},
	{"C64", tensor.C64, 12},
	{"F64", tensor.F64, 13},
	{"I64", tensor.I64, 14},
	{"U64", tensor.U64, 15},
}

// knownUnsupported are dtypes of newer safetensors versions that Refit has no type for.
var knownUnsupported = []string{"F4", "F6_E2M3", "F6_E3M2", "F8_E8M0"}

func dtypeByName(s string) (dtypeInfo, bool) {
	for _, e := range dtypeTable {
		if e.name == s {
			return e, true
		}
	}
	return dtypeInfo{}, false
}

func dtypeByType(d tensor.DType) (dtypeInfo, bool) {
	for _, e := range dtypeTable {
		if e.d == d {
			return e, true
		}
	}
	return dtypeInfo{}, false
}

// Header is the parsed and validated header of one safetensors file.
type Header struct {
	// Metadata is the free-form __metadata__ map (nil when absent).
	Metadata map[string]string
	// Tensors are ordered by their offsets in the byte buffer.
	Tensors []TensorInfo
	// DataOffset is where the byte buffer starts: 8 + the header length.
	DataOffset int64
}

// TensorInfo describes one tensor; Begin and End are relative to the byte buffer.
type TensorInfo struct {
	Name       string
	DType      tensor.DType
	Shape      tensor.Shape
	Begin, End int64
}

// ReadHeader reads and validates the header of a safetensors file of the given size.
// It checks every structural rule before returning: the header length against the file
// size and MaxHeaderSize, UTF-8 and strict JSON (duplicate keys rejected), known dtypes,
// non-negative dimensions with overflow-checked sizes, byte sizes matching shapes, and
// offsets that tile the byte buffer exactly, which must end at the end of the file.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	if size < 8 {
		return nil, refit.WrapErrorf("safetensors", 0, io.ErrUnexpectedEOF, "file of %d bytes is shorter than the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := refit.ReadFullAt(r, lenBuf[:], 0); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, refit.Errorf("safetensors", 0, "header length %d exceeds the %d-byte cap", n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, refit.WrapErrorf("safetensors", 0, io.ErrUnexpectedEOF, "header length %d exceeds the %d bytes after it", n, size-8)
	}
	hdr := make([]byte, n)
	if err := refit.ReadFullAt(r, hdr, 8); err != nil {
		return nil, err
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	h.DataOffset = 8 + int64(n)
	if err := h.validate(size - h.DataOffset); err != nil {
		return nil, err
	}
	return h, nil
}

// jsonParser reads the header with a token decoder so that duplicate keys, unknown
// fields and non-integer numbers are all rejected; nothing in a header nests deeper
// than two levels, so anything deeper fails at once.
type jsonParser struct {
	dec  *json.Decoder
	base int64 // file offset of the JSON text
}

func newParser(b []byte, base int64) *jsonParser {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return &jsonParser{dec: dec, base: base}
}

func (p *jsonParser) off() int64 { return p.base + p.dec.InputOffset() }

func (p *jsonParser) errorf(msg string, args ...any) error {
	return refit.Errorf("safetensors", p.off(), msg, args...)
}

func (p *jsonParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, refit.WrapErrorf("safetensors", p.off(), err, "invalid JSON")
	}
	return t, nil
}

func (p *jsonParser) delim(want json.Delim) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return p.errorf("expected %q, found %v", want, t)
	}
	return nil
}

// key returns the next object key, or ok=false at the closing brace.
func (p *jsonParser) key() (k string, ok bool, err error) {
	t, err := p.token()
	if err != nil {
		return "", false, err
	}
	if d, isDelim := t.(json.Delim); isDelim && d == '}' {
		return "", false, nil
	}
	s, isStr := t.(string)
	if !isStr {
		return "", false, p.errorf("expected an object key, found %v", t)
	}
	return s, true, nil
}

func (p *jsonParser) str(what string) (string, error) {
	t, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", p.errorf("%s must be a string, found %v", what, t)
	}
	return s, nil
}

// ints reads an array of non-negative integers that fit in int64.
func (p *jsonParser) ints(what string, max int) ([]int64, error) {
	if err := p.delim('['); err != nil {
		return nil, err
	}
	var out []int64
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if d, ok := t.(json.Delim); ok && d == ']' {
			return out, nil
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, p.errorf("%s must hold integers, found %v", what, t)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 {
			return nil, p.errorf("%s holds %s, not a non-negative 64-bit integer", what, num)
		}
		if len(out) == max {
			return nil, p.errorf("%s has more than %d entries", what, max)
		}
		out = append(out, v)
	}
}

// end checks that only whitespace follows the top-level value.
func (p *jsonParser) end() error {
	if _, err := p.dec.Token(); err != io.EOF {
		return p.errorf("unexpected data after the header object")
	}
	return nil
}

// skip consumes one value of any shape.
func (p *jsonParser) skip() error {
	depth := 0
	for {
		t, err := p.token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

func parseHeader(b []byte) (*Header, error) {
	if !utf8.Valid(b) {
		return nil, refit.Errorf("safetensors", 8, "header is not valid UTF-8")
	}
	p := newParser(b, 8)
	if err := p.delim('{'); err != nil {
		return nil, err
	}
	h := &Header{}
	seen := map[string]bool{}
	for {
		name, ok, err := p.key()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if seen[name] {
			return nil, p.errorf("duplicate key %q", name)
		}
		seen[name] = true
		if name == metadataKey {
			if h.Metadata, err = p.metadata(); err != nil {
				return nil, err
			}
			continue
		}
		if name == "" {
			return nil, p.errorf("tensor with an empty name")
		}
		ti, err := p.tensorInfo(name)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, ti)
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return h, nil
}

func (p *jsonParser) metadata() (map[string]string, error) {
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, nil // "__metadata__": null is an absent map
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, p.errorf("%s must be an object, found %v", metadataKey, t)
	}
	md := map[string]string{}
	for {
		k, ok, err := p.key()
		if err != nil {
			return nil, err
		}
		if !ok {
			return md, nil
		}
		if _, dup := md[k]; dup {
			return nil, p.errorf("duplicate metadata key %q", k)
		}
		if md[k], err = p.str(fmt.Sprintf("metadata value %q", k)); err != nil {
			return nil, err
		}
	}
}

func (p *jsonParser) tensorInfo(name string) (TensorInfo, error) {
	ti := TensorInfo{Name: name}
	if err := p.delim('{'); err != nil {
		return ti, err
	}
	var haveDType, haveShape, haveOffsets bool
	for {
		k, ok, err := p.key()
		if err != nil {
			return ti, err
		}
		if !ok {
			break
		}
		switch k {
		case "dtype":
			if haveDType {
				return ti, p.errorf("tensor %q: duplicate key %q", name, k)
			}
			haveDType = true
			s, err := p.str("dtype")
			if err != nil {
				return ti, err
			}
			e, known := dtypeByName(s)
			if !known {
				if slices.Contains(knownUnsupported, s) {
					return ti, refit.Unsupportedf("safetensors", "tensor %q: dtype %s", name, s)
				}
				return ti, p.errorf("tensor %q: unknown dtype %q", name, s)
			}
			ti.DType = e.d
		case "shape":
			if haveShape {
				return ti, p.errorf("tensor %q: duplicate key %q", name, k)
			}
			haveShape = true
			dims, err := p.ints("shape", tensor.MaxDims)
			if err != nil {
				return ti, err
			}
			ti.Shape = tensor.Shape(dims)
			if ti.Shape == nil {
				ti.Shape = tensor.Shape{}
			}
		case "data_offsets":
			if haveOffsets {
				return ti, p.errorf("tensor %q: duplicate key %q", name, k)
			}
			haveOffsets = true
			offs, err := p.ints("data_offsets", 2)
			if err != nil {
				return ti, err
			}
			if len(offs) != 2 {
				return ti, p.errorf("tensor %q: data_offsets needs 2 entries, has %d", name, len(offs))
			}
			ti.Begin, ti.End = offs[0], offs[1]
		default:
			return ti, p.errorf("tensor %q: unknown key %q", name, k)
		}
	}
	if !haveDType || !haveShape || !haveOffsets {
		return ti, p.errorf("tensor %q: needs dtype, shape and data_offsets", name)
	}
	return ti, nil
}

// validate checks sizes and that the offsets tile a buffer of bufLen bytes, then sorts
// the tensors by offset.
func (h *Header) validate(bufLen int64) error {
	for _, ti := range h.Tensors {
		want, err := tensor.ByteSize(ti.DType, ti.Shape)
		if err != nil {
			return refit.WrapErrorf("safetensors", -1, err, "tensor %q: shape %v", ti.Name, ti.Shape)
		}
		if ti.End < ti.Begin {
			return refit.Errorf("safetensors", -1, "tensor %q: data_offsets [%d, %d] end before they begin", ti.Name, ti.Begin, ti.End)
		}
		if ti.End-ti.Begin != want {
			return refit.Errorf("safetensors", -1, "tensor %q: %v %v needs %d bytes, data_offsets [%d, %d] hold %d",
				ti.Name, ti.DType, ti.Shape, want, ti.Begin, ti.End, ti.End-ti.Begin)
		}
	}
	slices.SortStableFunc(h.Tensors, func(a, b TensorInfo) int {
		if c := cmp.Compare(a.Begin, b.Begin); c != 0 {
			return c
		}
		return cmp.Compare(a.End, b.End)
	})
	var pos int64
	for _, ti := range h.Tensors {
		switch {
		case ti.Begin > pos:
			return refit.Errorf("safetensors", h.DataOffset+pos, "gap in the byte buffer before tensor %q (data_offsets [%d, %d], previous end %d)", ti.Name, ti.Begin, ti.End, pos)
		case ti.Begin < pos:
			return refit.Errorf("safetensors", h.DataOffset+ti.Begin, "tensor %q overlaps the previous tensor (data_offsets [%d, %d], previous end %d)", ti.Name, ti.Begin, ti.End, pos)
		}
		pos = ti.End
	}
	if pos != bufLen {
		return refit.Errorf("safetensors", h.DataOffset+pos, "tensors cover %d bytes of a %d-byte buffer; it must end at the end of the file", pos, bufLen)
	}
	return nil
}

// sortedKeys returns the keys of m in increasing order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
