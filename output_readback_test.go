package refit

import (
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestReadBack checks that the CRC-32 an output keeps for a copied range is the CRC
// of the bytes in the file: equal to the source's for a faithful copy (through a
// buffer or file to file), different when the file is corrupted after the write and
// before the re-read, and forgotten when the range is written over afterwards.
func TestReadBack(t *testing.T) {
	dir := t.TempDir()
	src := make([]byte, 3*scanWindow+777)
	for i := range src {
		src[i] = byte(i*131 + i>>9)
	}
	srcPath := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		lead      int   // bytes written before the copy
		off, n    int64 // the source range
		declared  bool  // the source declares the range's CRC
		readBack  bool  // PendingOutput.ReadBack called
		corrupt   bool  // the output is corrupted before its first piece is read back
		overwrite bool  // a WriteAt into the range after the copy
		wantKept  bool
	}{
		{name: "shifted", lead: 12, off: 100, n: 3*scanWindow + 5, readBack: true, wantKept: true},
		{name: "declared CRC", off: 0, n: int64(len(src)), declared: true, readBack: true, wantKept: true},
		{name: "corrupted", lead: 12, off: 100, n: 2*scanWindow + 5, readBack: true, corrupt: true, wantKept: true},
		{name: "corrupted, declared CRC", off: 0, n: int64(len(src)), declared: true, readBack: true, corrupt: true, wantKept: true},
		{name: "overwritten", lead: 12, off: 100, n: 2 * scanWindow, readBack: true, overwrite: true},
		{name: "not asked", lead: 12, off: 100, n: scanWindow},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := OpenMapped(srcPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if c.declared {
				f.NoteCRC(c.off, c.n, crc32.ChecksumIEEE(src[c.off:c.off+c.n]), true)
			}
			po, err := CreatePendingOutput(context.Background(), filepath.Join(dir, "out.bin"), false, true)
			if err != nil {
				t.Fatal(err)
			}
			defer po.Abort()
			if c.readBack {
				po.ReadBack()
			}
			w, err := po.Create("out.bin")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(make([]byte, c.lead)); err != nil {
				t.Fatal(err)
			}
			dst := int64(c.lead)
			if c.corrupt {
				beforeReadBack = func(out *os.File, off, n int64) {
					// Through a descriptor of its own: the bytes change in the file.
					g, err := os.OpenFile(out.Name(), os.O_RDWR, 0)
					if err != nil {
						t.Error(err)
						return
					}
					defer g.Close()
					if _, err := g.WriteAt([]byte{^src[c.off+1]}, dst+1); err != nil {
						t.Error(err)
					}
				}
				defer func() { beforeReadBack = nil }()
			}
			if got, err := f.CopyRange(w, c.off, c.n); err != nil || got != c.n {
				t.Fatalf("CopyRange = %d, %v; want %d", got, err, c.n)
			}
			if c.overwrite {
				if _, err := w.(io.WriterAt).WriteAt([]byte{1, 2, 3}, dst+c.n-2); err != nil {
					t.Fatal(err)
				}
			}
			got, kept := po.ReadBackCRC("out.bin", dst, c.n)
			if kept != c.wantKept {
				t.Fatalf("ReadBackCRC kept = %v, want %v", kept, c.wantKept)
			}
			if !kept {
				return
			}
			want := src[c.off : c.off+c.n]
			if c.corrupt {
				want = append([]byte(nil), want...)
				want[1] = ^want[1]
			}
			if got != crc32.ChecksumIEEE(want) {
				t.Errorf("ReadBackCRC = %08x, want %08x (the CRC of the file's bytes)", got, crc32.ChecksumIEEE(want))
			}
			if _, kept := po.ReadBackCRC("out.bin", dst, c.n-1); kept {
				t.Errorf("ReadBackCRC kept a range that was not copied")
			}
		})
	}
}
