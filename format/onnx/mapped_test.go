package onnx

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
)

func TestLoadMappedMatchesLoad(t *testing.T) {
	for _, name := range []string{"ext/model.onnx", "small.onnx"} {
		t.Run(name, func(t *testing.T) {
			want, err := Load(os.DirFS("testdata"), name)
			if err != nil {
				t.Fatal(err)
			}
			fsys, base := refit.FileFS(filepath.Join("testdata", filepath.FromSlash(name)))
			got, files, err := LoadMapped(fsys, base)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(got, want) {
				t.Errorf("LoadMapped differs from Load")
			}
			var mapped [][]byte
			for _, tp := range got.Graph.Initializer {
				if len(tp.RawData) == 0 {
					continue
				}
				if !refit.IsMapped(tp.RawData) {
					t.Errorf("raw_data of %q was copied, not left in the file's mapping", tp.GetName())
				}
				mapped = append(mapped, tp.RawData)
			}
			if len(mapped) == 0 {
				t.Fatal("no initializer has raw_data")
			}
			if err := files.Close(); err != nil {
				t.Fatal(err)
			}
			for _, b := range mapped {
				if refit.IsMapped(b) {
					t.Errorf("raw_data still counted as mapped after Close")
				}
			}
		})
	}
}

// A file system that does not map its files gets what Load returns.
func TestLoadMappedUnmappedFS(t *testing.T) {
	want, err := Load(os.DirFS("testdata"), "ext/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	got, files, err := LoadMapped(os.DirFS("testdata"), "ext/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	if !proto.Equal(got, want) {
		t.Errorf("LoadMapped differs from Load")
	}
	for _, tp := range got.Graph.Initializer {
		if refit.IsMapped(tp.RawData) {
			t.Errorf("raw_data of %q counted as mapped", tp.GetName())
		}
	}
}

func TestLoadMappedRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.onnx")
	if err := os.WriteFile(p, []byte{0x3a, 0xff, 0xff, 0xff, 0x0f, 1, 2}, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys, base := refit.FileFS(p)
	if _, _, err := LoadMapped(fsys, base); !errors.Is(err, refit.ErrFormat) {
		t.Fatalf("LoadMapped(truncated graph field) = %v, want ErrFormat", err)
	}
}
