package keras

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/refit-ml/refit"
)

// TestOpenWithoutCopy: a whole local file is opened by the HDF5 library through its
// descriptor, not copied, and decodes to the same tensors as a copied reader.
func TestOpenWithoutCopy(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/self/fd is Linux's")
	}
	for _, name := range []string{"testdata/legacy.h5", "testdata/weights.h5", "testdata/gzip_chunks.h5"} {
		t.Run(name, func(t *testing.T) {
			f, err := refit.OpenMapped(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := openH5At(f, f.Size(), refit.NewBudget(-1))
			if err != nil {
				t.Fatalf("openH5At(%q) = %v", name, err)
			}
			if h.tmp != nil {
				t.Errorf("openH5At(%q) copied the file", name)
			}
			h.Close()

			got, err := Decode(f, f.Size(), nil)
			if err != nil {
				t.Fatalf("Decode(%q) = %v", name, err)
			}
			defer got.Close()
			want := decodeFile(t, name)
			defer want.Close()
			if len(got.Tensors) != len(want.Tensors) || len(got.Tensors) == 0 {
				t.Fatalf("Decode(%q) gave %d tensors, the copy %d", name, len(got.Tensors), len(want.Tensors))
			}
			for i, x := range got.Tensors {
				a, err := x.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				b, err := want.Tensors[i].Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if x.Name != want.Tensors[i].Name || !bytes.Equal(a, b) {
					t.Errorf("tensor %d: %q differs from the copy's %q", i, x.Name, want.Tensors[i].Name)
				}
			}
		})
	}
}
