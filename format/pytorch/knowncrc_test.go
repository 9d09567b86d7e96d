package pytorch

import (
	"bytes"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TestKnownCRC checks the checksums the decoder hands to a conversion's verification:
// a tensor that spans a stored member knows the member's declared CRC-32, a view into
// part of a storage knows none, and every known CRC is the CRC of the tensor's bytes.
// Encoding a file-backed tensor notes the CRC the encoder computed.
func TestKnownCRC(t *testing.T) {
	for _, name := range []string{"dtypes.pt", "views.pt", "checkpoint.pt", "deflated.pt"} {
		t.Run(name, func(t *testing.T) {
			m, err := refit.Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			known := 0
			for _, tt := range m.Tensors {
				crc, declared, ok := tt.KnownCRC()
				if !ok {
					continue
				}
				known++
				b, err := tt.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if want := crc32.ChecksumIEEE(b); crc != want || !declared {
					t.Errorf("%s: known CRC %08x (declared %v), bytes give %08x", tt.Name, crc, declared, want)
				}
			}
			if name == "dtypes.pt" && known != len(m.Tensors) {
				t.Errorf("%d of %d whole-storage tensors know their CRC", known, len(m.Tensors))
			}
			if name == "deflated.pt" && known != 0 {
				t.Errorf("%d deflated tensors know a CRC; their data is not a range of the file", known)
			}
		})
	}
	t.Run("encode notes", func(t *testing.T) {
		m, err := refit.Open(filepath.Join("testdata", "dtypes.pt"))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := Encode(&bytes.Buffer{}, m, nil); err != nil {
			t.Fatal(err)
		}
		for _, tt := range m.Tensors {
			if _, declared, ok := tt.KnownCRC(); !ok || declared {
				t.Errorf("%s after Encode: known %v, declared %v; want the computed CRC", tt.Name, ok, declared)
			}
		}
	})
}

// TestViewsKnowNoCRC checks that a storage shared by views gives its member's CRC to
// none of the views that cover only part of it.
func TestViewsKnowNoCRC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.pt")
	a, err := tensor.NewF32("a", tensor.Shape{4}, []float32{1, 2, 3, 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, encodeBytes(t, &refit.Model{Tensors: []*tensor.Tensor{a}}), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := refit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	whole := m.Tensors[0]
	if _, _, ok := whole.KnownCRC(); !ok {
		t.Fatal("a whole stored tensor knows no CRC")
	}
	part, err := tensor.New("part", tensor.F32, tensor.Shape{2}, io.NewSectionReader(whole.Data, 4, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := part.KnownCRC(); ok {
		t.Error("a tensor over part of a member knows the member's CRC")
	}
}
