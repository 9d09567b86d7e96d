package numpy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/npyheader"
	"github.com/refit-ml/refit/tensor"
)

// Magic starts every .npy file; the format version's major and minor bytes follow it.
const Magic = "\x93NUMPY"

const (
	// MaxHeaderSize caps the header length read from a file before it is allocated.
	// numpy itself refuses headers over 10,000 characters unless pickles are allowed.
	MaxHeaderSize = 1 << 20

	// headerAlign is numpy's ARRAY_ALIGN: the data starts at a multiple of 64 bytes.
	headerAlign = 64
	// growthPadding is numpy's GROWTH_AXIS_MAX_DIGITS: spare room numpy leaves in the
	// header so that the leading dimension can be rewritten in place.
	growthPadding = 21
)

// Header is the parsed header of a .npy array.
type Header struct {
	Major, Minor uint8        // format version: 1.0, 2.0 or 3.0
	Descr        string       // the dtype descriptor as written, e.g. "<f4"
	DType        tensor.DType // the element type
	BigEndian    bool         // elements are stored most significant byte first
	FortranOrder bool         // elements are stored column-major
	Shape        tensor.Shape
	DataOffset   int64 // bytes before the array data (magic, length field, header)
	DataSize     int64 // bytes of array data
}

// needsConversion reports whether the stored bytes differ from Refit's
// little-endian row-major layout.
func (h *Header) needsConversion() bool {
	return h.byteSwapped() || h.transposed()
}

func (h *Header) byteSwapped() bool { return h.BigEndian && h.DType.TypeSize() > 1 }

func (h *Header) transposed() bool {
	if !h.FortranOrder {
		return false
	}
	long := 0 // dimensions longer than 1; with at most one, both orders agree
	for _, d := range h.Shape {
		if d > 1 {
			long++
		}
	}
	return long > 1
}

// ReadHeader reads and validates the header of the .npy array in r, which must hold
// exactly size bytes: the header and the data it declares.
func ReadHeader(r io.ReaderAt, size int64) (*Header, error) {
	return readHeader(io.NewSectionReader(r, 0, size), size)
}

// readHeader reads a header from the start of rd, a stream of exactly size bytes
// (a file, or a zip member whose declared size is size).
func readHeader(rd io.Reader, size int64) (*Header, error) {
	var prefix [12]byte
	if size < 10 {
		return nil, refit.WrapErrorf("numpy", 0, io.ErrUnexpectedEOF, "file of %d bytes is too short for a .npy header", size)
	}
	if _, err := io.ReadFull(rd, prefix[:8]); err != nil {
		return nil, refit.WrapErrorf("numpy", 0, unexpectedEOF(err), "reading magic")
	}
	if string(prefix[:6]) != Magic {
		return nil, refit.Errorf("numpy", 0, "bad magic %q, want %q", prefix[:6], Magic)
	}
	h := &Header{Major: prefix[6], Minor: prefix[7]}
	var hlen int64
	switch {
	case h.Major == 1 && h.Minor == 0:
		if _, err := io.ReadFull(rd, prefix[8:10]); err != nil {
			return nil, refit.WrapErrorf("numpy", 8, unexpectedEOF(err), "reading header length")
		}
		hlen = int64(binary.LittleEndian.Uint16(prefix[8:10]))
		h.DataOffset = 10
	case (h.Major == 2 || h.Major == 3) && h.Minor == 0:
		if size < 12 {
			return nil, refit.WrapErrorf("numpy", 8, io.ErrUnexpectedEOF, "file of %d bytes is too short for a version %d header", size, h.Major)
		}
		if _, err := io.ReadFull(rd, prefix[8:12]); err != nil {
			return nil, refit.WrapErrorf("numpy", 8, unexpectedEOF(err), "reading header length")
		}
		hlen = int64(binary.LittleEndian.Uint32(prefix[8:12]))
		h.DataOffset = 12
	default:
		return nil, refit.Unsupportedf("numpy", "format version %d.%d", h.Major, h.Minor)
	}
	// The length comes from the file: check it against the cap and the bytes
	// present before allocating.
	if hlen > MaxHeaderSize {
		return nil, refit.Errorf("numpy", 8, "header length %d exceeds the %d-byte limit", hlen, MaxHeaderSize)
	}
	if hlen > size-h.DataOffset {
		return nil, refit.WrapErrorf("numpy", 8, io.ErrUnexpectedEOF, "header length %d exceeds the %d bytes left", hlen, size-h.DataOffset)
	}
	text := make([]byte, hlen)
	if _, err := io.ReadFull(rd, text); err != nil {
		return nil, refit.WrapErrorf("numpy", h.DataOffset, unexpectedEOF(err), "reading header")
	}
	if err := h.parseDict(string(text)); err != nil {
		return nil, err
	}
	h.DataOffset += hlen

	n, err := tensor.ByteSize(h.DType, h.Shape)
	if err != nil {
		return nil, refit.WrapErrorf("numpy", h.DataOffset, err, "shape %v of %s", h.Shape, h.Descr)
	}
	h.DataSize = n
	switch left := size - h.DataOffset; {
	case n > left:
		return nil, refit.WrapErrorf("numpy", h.DataOffset, io.ErrUnexpectedEOF, "%s %v needs %d data bytes, have %d", h.Descr, h.Shape, n, left)
	case n < left:
		return nil, refit.Errorf("numpy", h.DataOffset+n, "%d bytes after the array data", left-n)
	}
	return h, nil
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseDict fills h from the header's dictionary literal.
func (h *Header) parseDict(text string) error {
	const at = 10 // header text starts at byte 10 or 12; report the start
	// Versions 1 and 2 are latin-1; the fields Refit reads are ASCII either way.
	if h.Major >= 3 && !utf8.ValidString(text) {
		return refit.Errorf("numpy", at, "version 3 header is not UTF-8")
	}
	v, err := npyheader.Parse(text)
	if err != nil {
		return refit.WrapErrorf("numpy", at, err, "malformed header")
	}
	d, ok := v.(*npyheader.Dict)
	if !ok {
		return refit.Errorf("numpy", at, "header is not a dict")
	}
	if len(d.Keys) != 3 {
		return refit.Errorf("numpy", at, "header keys %q, want descr, fortran_order and shape", d.Keys)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d.Vals[k]; !ok {
			return refit.Errorf("numpy", at, "header keys %q, want descr, fortran_order and shape", d.Keys)
		}
	}
	// numpy.load unpickles the data of any dtype that is or holds an object, whatever
	// its spelling. One that cannot be classified is refused below all the same.
	if obj, err := npyheader.HasObject(d.Vals["descr"]); obj && err == nil {
		return refit.Unsupportedf("numpy", "dtype %v holds pickled Python objects, which Refit never loads", d.Vals["descr"])
	}
	switch descr := d.Vals["descr"].(type) {
	case string:
		h.Descr = descr
		h.DType, h.BigEndian, err = parseDescr(descr)
		if err != nil {
			return err
		}
	case npyheader.List, npyheader.Tuple:
		return refit.Unsupportedf("numpy", "structured dtype %v", descr)
	default:
		return refit.Errorf("numpy", at, "descr %v is not a string", descr)
	}
	fortran, ok := d.Vals["fortran_order"].(bool)
	if !ok {
		return refit.Errorf("numpy", at, "fortran_order %v is not a bool", d.Vals["fortran_order"])
	}
	h.FortranOrder = fortran
	shape, ok := d.Vals["shape"].(npyheader.Tuple)
	if !ok {
		return refit.Errorf("numpy", at, "shape %v is not a tuple", d.Vals["shape"])
	}
	if len(shape) > tensor.MaxDims {
		return refit.Errorf("numpy", at, "rank %d exceeds %d", len(shape), tensor.MaxDims)
	}
	h.Shape = make(tensor.Shape, len(shape))
	for i, x := range shape {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return refit.Errorf("numpy", at, "shape dimension %v is not a non-negative integer", x)
		}
		h.Shape[i] = n
	}
	return nil
}

// descrTypes maps numpy type codes (kind and byte size) to Refit types.
var descrTypes = map[string]tensor.DType{
	"f2": tensor.F16, "f4": tensor.F32, "f8": tensor.F64,
	"i1": tensor.I8, "i2": tensor.I16, "i4": tensor.I32, "i8": tensor.I64,
	"u1": tensor.U8, "u2": tensor.U16, "u4": tensor.U32, "u8": tensor.U64,
	"b1": tensor.Bool, "c8": tensor.C64, "c16": tensor.C128,
}

// numpyKinds are the kind characters numpy defines; a descr of a known kind that
// Refit cannot hold (strings, datetimes, long doubles) is unsupported, not malformed.
const numpyKinds = "biufcmMOSUVa?"

// typeCode is the shape of a type code numpy could define: a kind, a size, a unit.
var typeCode = regexp.MustCompile(`^[A-Za-z?][A-Za-z0-9]*(\[[A-Za-z0-9]+\])?$`)

// nativeBigEndian is the host byte order, which '=' and '|' descriptors mean.
var nativeBigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// parseDescr parses a simple dtype descriptor such as "<f4", ">i8" or "|b1".
func parseDescr(s string) (d tensor.DType, bigEndian bool, err error) {
	code := s
	bigEndian = nativeBigEndian
	if code != "" && strings.IndexByte("<>=|", code[0]) >= 0 {
		switch code[0] {
		case '<':
			bigEndian = false
		case '>':
			bigEndian = true
		}
		code = code[1:]
	}
	if code == "O" || code == "O8" || code == "O4" {
		return 0, false, refit.Unsupportedf("numpy", "object dtype %q holds pickled Python objects, which Refit never loads", s)
	}
	if d, ok := descrTypes[code]; ok {
		return d, bigEndian, nil
	}
	if npyheader.Known(s) || code != "" && strings.IndexByte(numpyKinds, code[0]) >= 0 && typeCode.MatchString(code) {
		return 0, false, refit.Unsupportedf("numpy", "dtype %q", s)
	}
	return 0, false, refit.Errorf("numpy", -1, "invalid dtype descriptor %q", s)
}

// descrFor returns the little-endian numpy descriptor of d, or false if numpy has no such type.
func descrFor(d tensor.DType) (string, bool) {
	for code, t := range descrTypes {
		if t == d {
			if d.TypeSize() == 1 {
				return "|" + code, true
			}
			return "<" + code, true
		}
	}
	return "", false
}

// errUnsupportedDType is wrapped when a tensor's type has no numpy equivalent.
var errUnsupportedDType = errors.New("numpy has no such dtype")

func checkEncodable(t *tensor.Tensor) error {
	if _, ok := descrFor(t.DType); !ok {
		return fmt.Errorf("numpy: tensor %q: %v: %w (%w); convert it first, e.g. with --dtype f32 or f16",
			t.Name, t.DType, errUnsupportedDType, refit.ErrUnsupported)
	}
	want, err := tensor.ByteSize(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("numpy: tensor %q: %w", t.Name, err)
	}
	if t.Data == nil || t.Data.Size() != want {
		return fmt.Errorf("numpy: tensor %q: %v %v needs %d bytes of data", t.Name, t.DType, t.Shape, want)
	}
	return nil
}

// appendHeader appends the magic, length field and header numpy.save writes for a
// C-ordered little-endian array, choosing version 1.0 unless the header needs 2.0.
func appendHeader(dst []byte, descr string, shape tensor.Shape) []byte {
	var b strings.Builder
	b.WriteString("{'descr': '")
	b.WriteString(descr)
	b.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteString("), }")
	if len(shape) > 0 {
		if pad := growthPadding - len(strconv.FormatInt(shape[0], 10)); pad > 0 {
			b.WriteString(strings.Repeat(" ", pad))
		}
	}
	text := b.String()

	major, lenSize := uint8(1), 2
	hlen := len(text) + 1 // the final newline
	pad := headerAlign - (len(Magic)+2+lenSize+hlen)%headerAlign
	if hlen+pad > 0xFFFF {
		major, lenSize = 2, 4
		pad = headerAlign - (len(Magic)+2+lenSize+hlen)%headerAlign
	}
	dst = append(dst, Magic...)
	dst = append(dst, major, 0)
	if major == 1 {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(hlen+pad))
	} else {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(hlen+pad))
	}
	dst = append(dst, text...)
	for range pad {
		dst = append(dst, ' ')
	}
	return append(dst, '\n')
}
