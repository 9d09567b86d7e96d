package keras

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzDecode: Decode never panics (nor dies of an out-of-memory abort inside the
// HDF5 library) and fails only with documented errors, for .h5 files and .keras
// archives alike.
func FuzzDecode(f *testing.F) {
	keras3, err := os.ReadFile("testdata/model.keras")
	if err != nil {
		f.Fatal(err)
	}
	z, _ := zip.NewReader(bytes.NewReader(keras3), int64(len(keras3)))
	var fixtureH5 []byte
	for _, m := range z.File {
		if m.Name == WeightsMember {
			rc, _ := m.Open()
			fixtureH5, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	legacy, _ := os.ReadFile("testdata/legacy.h5")
	gzipChunks, _ := os.ReadFile("testdata/gzip_chunks.h5")
	f.Add(gzipChunks)
	f.Add(keras3)
	f.Add(legacy)
	f.Add(fixtureH5)
	documented := func(err error) bool {
		return errors.Is(err, refit.ErrFormat) || errors.Is(err, refit.ErrUnsupported) || errors.Is(err, refit.ErrInsecurePath) ||
			errors.Is(err, refit.ErrBudget)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			if !documented(err) {
				t.Fatalf("Decode = %v: not a documented error", err)
			}
			return
		}
		defer m.Close()
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil && !documented(err) {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
		}
	})
}

// TestHDF5Crasher: three bytes changed in legacy.h5 make scigolib/hdf5 v0.14.1
// allocate ~100 TB for a local heap, a fatal runtime abort; the pre-scan refuses it.
func TestHDF5Crasher(t *testing.T) {
	b, err := os.ReadFile("testdata/oom-crasher.h5.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, refit.ErrFormat) {
		t.Fatalf("Decode = %v, want ErrFormat", err)
	}
}

// FuzzChunkCheck: the chunk index walker never panics or runs away on any bytes and any
// object header address, and fails only with ErrFormat.
func FuzzChunkCheck(f *testing.F) {
	for _, name := range []string{"testdata/gzip_chunks.h5", "testdata/gzip_chunks_v2.h5"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for _, sig := range []string{"OHDR", "\x01\x00"} {
			for at := bytes.Index(b, []byte(sig)); at >= 0 && at < 4096; {
				f.Add(b, uint64(at))
				next := bytes.Index(b[at+1:], []byte(sig))
				if next < 0 {
					break
				}
				at += 1 + next
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, addr uint64) {
		h, err := superblockSizes(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if err := h.checkChunks(addr); err != nil && !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("checkChunks = %v, want nil or ErrFormat", err)
		}
	})
}
