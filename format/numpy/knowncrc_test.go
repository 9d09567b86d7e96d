package numpy

import (
	"archive/zip"
	"bytes"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TestKnownCRC checks the checksum a stored .npz member gives its array for a
// conversion's verification (the member's declared CRC-32 with the header's taken
// out): it is the CRC-32 of the array's bytes. Writing the arrays again as a .npz
// notes the CRC the encoder computed; the archive it writes then reads back.
func TestKnownCRC(t *testing.T) {
	a, err := tensor.NewF32("a", tensor.Shape{3, 5}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	if err != nil {
		t.Fatal(err)
	}
	b, err := tensor.FromBytes("b", tensor.U8, tensor.Shape{1000}, bytes.Repeat([]byte{7, 9}, 500))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, &refit.Model{Tensors: []*tensor.Tensor{a, b}}, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.npz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := refit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tt := range m.Tensors {
		crc, declared, ok := tt.KnownCRC()
		data, err := tt.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if want := crc32.ChecksumIEEE(data); !ok || !declared || crc != want {
			t.Errorf("%s: known CRC %08x (known %v, declared %v), bytes give %08x", tt.Name, crc, ok, declared, want)
		}
	}
	var again bytes.Buffer
	if err := Encode(&again, m, nil); err != nil {
		t.Fatal(err)
	}
	// archive/zip checks each member's CRC-32 at the end of its data.
	zr, err := zip.NewReader(bytes.NewReader(again.Bytes()), int64(again.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Errorf("member %s of the archive written again: %v", f.Name, err)
		}
		rc.Close()
	}
	for _, tt := range m.Tensors {
		if _, declared, ok := tt.KnownCRC(); !ok || declared {
			t.Errorf("%s after Encode: known %v, declared %v; want the computed CRC", tt.Name, ok, declared)
		}
	}
}
