package tfcheckpoint

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// FuzzDecodeIndex fuzzes the .index file next to the fixture's data files: decoding
// never panics, fails only with documented errors, and accepted tensors read fully
// or fail their checksum with ErrFormat.
func FuzzDecodeIndex(f *testing.F) {
	for _, n := range []string{"testdata/ckpt-1.index", "testdata/saved_model/variables/variables.index"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base := readTestdata(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = v
		}
		fsys["ckpt-1.index"] = &fstest.MapFile{Data: b}
		m, err := DecodeFS(fsys, "ckpt-1.index", nil)
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("DecodeFS = %v: not a documented error", err)
			}
			return
		}
		defer m.Close()
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil && !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
		}
	})
}

// FuzzBlockEntries fuzzes the block decoder and the entry protos directly, below the
// checksums that make whole-file fuzzing shallow.
func FuzzBlockEntries(f *testing.F) {
	b, err := os.ReadFile("testdata/ckpt-1.index")
	if err != nil {
		f.Fatal(err)
	}
	tb := &table{r: bytesReader(b), size: int64(len(b))}
	_ = tb.entries(func(k, v []byte) error {
		f.Add(append([]byte(nil), v...))
		return nil
	})
	f.Add(b[:min(len(b), 200)])
	f.Fuzz(func(t *testing.T, b []byte) {
		err := blockEntries(b, 0, func(k, v []byte) error {
			_, _ = parseEntry(v)
			_, _ = parseHeader(v)
			return nil
		})
		if err != nil && !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("blockEntries = %v", err)
		}
		if e, err := parseEntry(b); err == nil && len(e.Shape) > 64 {
			t.Fatalf("shape of rank %d accepted", len(e.Shape))
		}
	})
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
