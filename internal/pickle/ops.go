package pickle

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Source is the byte stream an OpReader decodes: a window over an io.ReaderAt for the
// unpickler, a buffered stream for the scanner.
type Source interface {
	// Offset is the absolute position of the next unread byte.
	Offset() int64
	// Remaining is the number of bytes left, or -1 when the stream does not know.
	Remaining() int64
	// ReadByte returns the next byte, io.EOF at the end.
	ReadByte() (byte, error)
	// Read returns the next n bytes in a slice valid until the next call; short data is
	// io.ErrUnexpectedEOF.
	Read(n int64) ([]byte, error)
	// Discard skips n bytes; short data is an error wrapping io.ErrUnexpectedEOF.
	Discard(n uint64) error
}

// Op is one opcode with its decoded argument.
type Op struct {
	Code   byte
	Offset int64   // of the opcode byte
	Int    int64   // BININT, BININT1, BININT2
	Uint   uint64  // PROTO, FRAME, BINPUT/BINGET and PUT/GET indices, EXT codes
	Float  float64 // BINFLOAT
	Line   string  // text argument of protocol-0 opcodes; the module of GLOBAL and INST
	Name   string  // the name of GLOBAL and INST
	// Data is the payload of a length-prefixed opcode (strings, bytes, LONG1/LONG4), a
	// fresh slice; nil with Skipped set when it was longer than OpReader.MaxData.
	Data    []byte
	Skipped bool
}

// OpReader decodes opcodes and their arguments from a Source, one at a time, the way
// Python's pickletools.genops does; interpreting them is the caller's business. Opcodes it
// does not know are returned without an argument, for the caller to refuse.
type OpReader struct {
	src Source
	// MaxLine caps the text argument of protocol-0 opcodes (ErrLimit beyond it).
	MaxLine int
	// MaxData: payloads longer than this are skipped unread (Op.Skipped); negative keeps all.
	MaxData int64
	// BeforeData, when set, is called with a payload's length once it is known to fit in
	// the input and before it is read, so that the caller can charge its memory.
	BeforeData func(n uint64) error
}

// NewOpReader returns an OpReader over src that keeps every payload.
func NewOpReader(src Source) *OpReader {
	return &OpReader{src: src, MaxLine: maxLineLength, MaxData: -1}
}

func (r *OpReader) malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrMalformed, fmt.Sprintf(format, args...), r.src.Offset())
}

// Next decodes the next opcode. At the end of the input before an opcode it returns
// io.EOF; a truncated argument is io.ErrUnexpectedEOF. On error, Op still carries the
// opcode and its offset.
func (r *OpReader) Next() (Op, error) {
	op := Op{Offset: r.src.Offset()}
	if r.src.Remaining() == 0 {
		return op, io.EOF
	}
	c, err := r.src.ReadByte()
	if err != nil {
		return op, err
	}
	op.Code = c
	return op, r.arg(&op)
}

func (r *OpReader) arg(op *Op) error {
	var err error
	switch op.Code {
	case 0x80, 'K', 'q', 'h', 0x82: // PROTO, BININT1, BINPUT, BINGET, EXT1
		op.Uint, err = r.uint(1)
	case 'M', 0x83: // BININT2, EXT2
		op.Uint, err = r.uint(2)
	case 'r', 'j', 0x84: // LONG_BINPUT, LONG_BINGET, EXT4
		op.Uint, err = r.uint(4)
	case 'J': // BININT
		op.Uint, err = r.uint(4)
		op.Int = int64(int32(uint32(op.Uint)))
		op.Uint = 0
	case 0x95: // FRAME: a length hint only; the stream is read continuously
		if op.Uint, err = r.uint(8); err == nil {
			if rem := r.src.Remaining(); rem >= 0 && op.Uint > uint64(rem) {
				err = fmt.Errorf("pickle: frame of %d bytes exceeds the %d left: %w", op.Uint, rem, io.ErrUnexpectedEOF)
			}
		}
	case 'G': // BINFLOAT, big-endian
		var b []byte
		if b, err = r.src.Read(8); err == nil {
			op.Float = math.Float64frombits(binary.BigEndian.Uint64(b))
		}
	case 'I', 'L', 'F', 'S', 'V', 'P': // INT, LONG, FLOAT, STRING, UNICODE, PERSID
		op.Line, err = r.line()
	case 'p', 'g': // PUT, GET
		if op.Line, err = r.line(); err == nil {
			if op.Uint, err = strconv.ParseUint(op.Line, 10, 64); err != nil {
				err = r.malformed("bad memo index %q", op.Line)
			}
		}
	case 'c', 'i': // GLOBAL, INST
		if op.Line, err = r.line(); err == nil {
			op.Name, err = r.line()
		}
	case 'U', 'C', 0x8c, 0x8a: // 1-byte lengths
		err = r.data(op, 1)
	case 'X', 'B', 0x8b: // 4-byte lengths
		err = r.data(op, 4)
	case 'T': // BINSTRING: a signed 4-byte length
		err = r.data(op, -4)
	case 0x8d, 0x8e, 0x96: // 8-byte lengths
		err = r.data(op, 8)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// uint reads an n-byte little-endian unsigned integer.
func (r *OpReader) uint(n int64) (uint64, error) {
	b, err := r.src.Read(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// data reads a payload after its lenBytes-byte length (negative: signed), checking the
// length against the input before allocating anything.
func (r *OpReader) data(op *Op, lenBytes int64) error {
	n, err := r.uint(max(lenBytes, -lenBytes))
	if err != nil {
		return err
	}
	rem := r.src.Remaining()
	if rem >= 0 && n > uint64(rem) {
		return fmt.Errorf("pickle: length %d exceeds the %d bytes left: %w", n, rem, io.ErrUnexpectedEOF)
	}
	if lenBytes < 0 && int32(uint32(n)) < 0 {
		return r.malformed("negative length %d", int32(uint32(n)))
	}
	if n > 1<<62 {
		return io.ErrUnexpectedEOF
	}
	if r.MaxData >= 0 && n > uint64(r.MaxData) {
		op.Skipped = true
		return r.src.Discard(n)
	}
	if r.BeforeData != nil {
		if err := r.BeforeData(n); err != nil {
			return err
		}
	}
	b, err := r.src.Read(int64(n))
	if err != nil {
		return err
	}
	op.Data = append(make([]byte, 0, n), b...)
	return nil
}

// line reads up to and excluding the next '\n'.
func (r *OpReader) line() (string, error) {
	var sb strings.Builder
	for {
		c, err := r.src.ReadByte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return sb.String(), nil
		}
		if sb.Len() >= r.MaxLine {
			return "", fmt.Errorf("%w: text line longer than %d bytes", ErrLimit, r.MaxLine)
		}
		sb.WriteByte(c)
	}
}
