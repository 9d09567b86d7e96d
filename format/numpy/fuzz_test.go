package numpy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func addSeeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds match %s: %v", pattern, err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkDecodeErr fails unless err is one of the documented error classes.
func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) && !errors.Is(err, refit.ErrInsecurePath) && !errors.Is(err, refit.ErrBudget) {
		t.Fatalf("error %v is neither ErrFormat, ErrUnsupported nor ErrInsecurePath", err)
	}
}

// FuzzDecodeNPY: ReadNPY never panics, and whatever it accepts EncodeNPY writes and
// ReadNPY reads back as the same tensor.
func FuzzDecodeNPY(f *testing.F) {
	addSeeds(f, "*.npy")
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadNPY(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		var buf bytes.Buffer
		if err := EncodeNPY(&buf, x); err != nil {
			t.Fatalf("EncodeNPY of a decoded tensor = %v", err)
		}
		y, err := ReadNPY(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("ReadNPY(EncodeNPY(x)) = %v", err)
		}
		sameTensor(t, y, x)
	})
}

// FuzzDecodeNPZ: Decode never panics; tensors it accepts either read or fail with
// ErrFormat, and those that read survive a WriteNPZ / Decode round trip.
func FuzzDecodeNPZ(f *testing.F) {
	addSeeds(f, "*.npz")
	// Tiny archives mutate into more interesting shapes than numpy's zip64 ones.
	x, _ := tensor.NewF32("x", tensor.Shape{2, 1}, []float32{1, -2})
	npy := npyOf(f, x)
	f.Add(buildZip(f, zipMember{name: "x.npy", data: npy, usize: -1}))
	f.Add(buildZip(f, zipMember{name: "x.npy", data: npy, deflate: true, usize: -1}))
	var small bytes.Buffer
	if err := WriteNPZ(&small, []*tensor.Tensor{x}, true); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil {
				if !errors.Is(err, refit.ErrFormat) {
					t.Fatalf("tensor %q: Bytes() = %v, want ErrFormat", x.Name, err)
				}
				return
			}
		}
		for _, compress := range []bool{false, true} {
			var buf bytes.Buffer
			if err := WriteNPZ(&buf, m.Tensors, compress); err != nil {
				t.Fatalf("WriteNPZ of decoded tensors = %v", err)
			}
			back, err := Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
			if err != nil {
				t.Fatalf("Decode(WriteNPZ(m)) = %v", err)
			}
			if len(back.Tensors) != len(m.Tensors) {
				t.Fatalf("round trip has %d tensors, want %d", len(back.Tensors), len(m.Tensors))
			}
			for i := range m.Tensors {
				sameTensor(t, back.Tensors[i], m.Tensors[i])
			}
		}
	})
}
