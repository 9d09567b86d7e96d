package safetensors

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// benchModel has n F32 tensors of size floats each.
func benchModel(b *testing.B, n, size int) (*refit.Model, []byte) {
	m := &refit.Model{}
	m.Metadata.Set("format", "pt")
	for i := range n {
		x, err := tensor.FromBytes(fmt.Sprintf("layers.%d.weight", i), tensor.F32, tensor.Shape{int64(size)}, patterned(int64(size)*4, byte(i)))
		if err != nil {
			b.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		b.Fatal(err)
	}
	return m, buf.Bytes()
}

// BenchmarkEncode measures streaming 64 tensors of 256 KiB (16 MiB) to a discarding writer.
func BenchmarkEncode(b *testing.B) {
	m, enc := benchModel(b, 64, 64<<10)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if err := Encode(io.Discard, m, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeHeader measures header parsing of a 2,000-tensor file (data untouched).
func BenchmarkDecodeHeader(b *testing.B) {
	_, enc := benchModel(b, 2000, 16)
	b.SetBytes(int64(len(enc)))
	r := bytes.NewReader(enc)
	for b.Loop() {
		if _, err := Decode(r, int64(len(enc)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRead measures decoding plus reading every tensor's bytes (16 MiB).
func BenchmarkDecodeRead(b *testing.B) {
	_, enc := benchModel(b, 64, 64<<10)
	b.SetBytes(int64(len(enc)))
	r := bytes.NewReader(enc)
	for b.Loop() {
		m, err := Decode(r, int64(len(enc)), nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range m.Tensors {
			if _, err := t.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	}
}
