package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEncodedLayout: the header is Encode's first bytes and every tensor lies at its
// offset, so pieces of the data section written apart join into Encode's output.
func TestEncodedLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "models", "llm", "llama-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, align := range []uint32{0, 64, 4096} {
		var buf bytes.Buffer
		if err := Encode(&buf, m, &EncodeOptions{Alignment: align}); err != nil {
			t.Fatal(err)
		}
		l, err := EncodedLayout(m, &EncodeOptions{Alignment: align})
		if err != nil {
			t.Fatal(err)
		}
		enc := buf.Bytes()
		if int64(len(l.Header))+l.DataSize != int64(len(enc)) || !bytes.Equal(enc[:len(l.Header)], l.Header) {
			t.Fatalf("alignment %d: layout of %d+%d bytes does not match Encode's %d", align, len(l.Header), l.DataSize, len(enc))
		}
		data := enc[len(l.Header):]
		for i, x := range m.Tensors {
			want := make([]byte, x.Size())
			if _, err := x.Data.ReadAt(want, 0); err != nil {
				t.Fatal(err)
			}
			if l.Offsets[i]%l.Alignment != 0 || !bytes.Equal(data[l.Offsets[i]:l.Offsets[i]+l.Sizes[i]], want) {
				t.Errorf("alignment %d: tensor %s is not at offset %d", align, x.Name, l.Offsets[i])
			}
		}
	}
}
