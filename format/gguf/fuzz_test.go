package gguf

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzDecode: no input panics; every error is ErrFormat or ErrUnsupported; a file that
// parses writes back to bytes that parse to the same File and rewrite identically, and
// its Model re-encodes to a file that decodes to the same metadata and tensor bytes.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures(f) {
		f.Add(readFixture(f, name))
	}
	f.Add(header(3, 1, 1, str("k"), u32(9), u32(9), u64(1), u32(8), u64(1), str("x"), tinfo("t", 0, 0, 2), make([]byte, 40)))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := parseBytes(b)
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) && !errors.Is(err, refit.ErrBudget) {
				t.Fatalf("Parse error %v is neither ErrFormat nor ErrUnsupported", err)
			}
			return
		}
		var out bytes.Buffer
		if _, err := file.WriteTo(&out); err != nil {
			t.Fatalf("WriteTo of a parsed file: %v", err)
		}
		again, err := parseBytes(out.Bytes())
		if err != nil {
			t.Fatalf("Parse(WriteTo(Parse(b))) = %v", err)
		}
		if !reflect.DeepEqual(again.KVs, file.KVs) && !hasNaN(file.KVs) || !reflect.DeepEqual(again.Tensors, file.Tensors) {
			t.Fatalf("File changed in a round trip")
		}
		var out2 bytes.Buffer
		if _, err := again.WriteTo(&out2); err != nil || !bytes.Equal(out2.Bytes(), out.Bytes()) {
			t.Fatalf("second WriteTo differs: %v", err)
		}
		m, err := file.Model()
		if err != nil {
			if !errors.Is(err, refit.ErrUnsupported) {
				t.Fatalf("Model: %v", err)
			}
			return
		}
		var enc bytes.Buffer
		if err := Encode(&enc, m, nil); err != nil {
			if errors.Is(err, refit.ErrUnsupported) { // e.g. a name longer than ggml allows
				return
			}
			t.Fatalf("Encode of a decoded model: %v", err)
		}
		m2, err := Decode(bytes.NewReader(enc.Bytes()), int64(enc.Len()), nil)
		if err != nil {
			t.Fatalf("Decode(Encode(m)) = %v", err)
		}
		if !reflect.DeepEqual(m2.Metadata.Keys(), m.Metadata.Keys()) || len(m2.Tensors) != len(m.Tensors) {
			t.Fatalf("model changed in a round trip")
		}
		for i, tt := range m.Tensors {
			x, err1 := tt.Bytes()
			y, err2 := m2.Tensors[i].Bytes()
			if err1 != nil || err2 != nil || !bytes.Equal(x, y) || !tt.Shape.Equal(m2.Tensors[i].Shape) || tt.DType != m2.Tensors[i].DType {
				t.Fatalf("tensor %q changed in a round trip", tt.Name)
			}
		}
	})
}

// hasNaN reports whether a float NaN makes DeepEqual fail although bits are kept.
func hasNaN(kvs []KV) bool {
	for _, kv := range kvs {
		if !reflect.DeepEqual(kv.Value, kv.Value) {
			return true
		}
	}
	return false
}
