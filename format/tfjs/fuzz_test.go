package tfjs

import (
	"errors"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
)

// FuzzDecodeFS fuzzes model.json next to the fixture's shards: decoding never panics,
// fails only with the documented errors, and every accepted tensor reads fully.
func FuzzDecodeFS(f *testing.F) {
	for _, dir := range []string{"testdata/layers", "testdata/graph"} {
		b, err := os.ReadFile(dir + "/model.json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base := fstest.MapFS{}
	for _, dir := range []string{"testdata/layers", "testdata/graph"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, _ := os.ReadFile(dir + "/" + e.Name())
			base[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = v
		}
		fsys["model.json"] = &fstest.MapFile{Data: b}
		m, err := DecodeFS(fsys, ".", nil)
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) &&
				!errors.Is(err, refit.ErrInsecurePath) && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
				t.Fatalf("DecodeFS = %v: not a documented error", err)
			}
			return
		}
		defer m.Close()
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
		}
	})
}
