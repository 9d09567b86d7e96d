package pickle

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func opsOf(t *testing.T, b []byte, maxData int64) []Op {
	t.Helper()
	r := NewOpReader(&reader{r: bytes.NewReader(b), limit: int64(len(b))})
	r.MaxData = maxData
	var ops []Op
	for {
		op, err := r.Next()
		if err == io.EOF {
			return ops
		}
		if err != nil {
			t.Fatalf("Next after %d opcodes: %v", len(ops), err)
		}
		ops = append(ops, op)
	}
}

func TestOpReaderArguments(t *testing.T) {
	// PROTO 2, BININT -2, GLOBAL os\nsystem\n, SHORT_BINUNICODE "abc", BINPUT 7, PUT 9, STOP
	b := []byte("\x80\x02J\xfe\xff\xff\xffcos\nsystem\n\x8c\x03abcq\x07p9\n.")
	ops := opsOf(t, b, -1)
	if len(ops) != 7 {
		t.Fatalf("%d opcodes, want 7: %+v", len(ops), ops)
	}
	want := []struct {
		code byte
		off  int64
	}{{0x80, 0}, {'J', 2}, {'c', 7}, {0x8c, 18}, {'q', 23}, {'p', 25}, {'.', 28}}
	for i, w := range want {
		if ops[i].Code != w.code || ops[i].Offset != w.off {
			t.Errorf("op %d = 0x%02x at %d, want 0x%02x at %d", i, ops[i].Code, ops[i].Offset, w.code, w.off)
		}
	}
	if ops[0].Uint != 2 || ops[1].Int != -2 || ops[2].Line != "os" || ops[2].Name != "system" ||
		string(ops[3].Data) != "abc" || ops[4].Uint != 7 || ops[5].Uint != 9 {
		t.Errorf("arguments %+v", ops)
	}
}

func TestOpReaderSkipsLongPayloads(t *testing.T) {
	b := append([]byte("X\x05\x00\x00\x00"), "hello."...)
	ops := opsOf(t, b, 4)
	if len(ops) != 2 || !ops[0].Skipped || ops[0].Data != nil || ops[1].Code != '.' {
		t.Fatalf("ops %+v, want a skipped BINUNICODE then STOP", ops)
	}
}

// A declared length beyond the input is refused before the caller is asked to pay for it.
func TestOpReaderLengthBeforeCharge(t *testing.T) {
	b := []byte("\x8e\x00\x00\x00\x00\x01\x00\x00\x00xyz")
	r := NewOpReader(&reader{r: bytes.NewReader(b), limit: int64(len(b))})
	charged := false
	r.BeforeData = func(uint64) error { charged = true; return nil }
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next = %v, want io.ErrUnexpectedEOF", err)
	}
	if charged {
		t.Error("BeforeData called for a length beyond the input")
	}
}

func TestOpReaderNegativeBinstring(t *testing.T) {
	// Read from a stream-like source of unknown length, so only the sign check applies.
	b := []byte("T\xff\xff\xff\xff")
	r := NewOpReader(&unsized{reader{r: bytes.NewReader(b), limit: int64(len(b))}})
	if _, err := r.Next(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Next = %v, want ErrMalformed", err)
	}
}

type unsized struct{ reader }

func (*unsized) Remaining() int64 { return -1 }
