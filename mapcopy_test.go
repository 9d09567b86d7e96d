package refit

import (
	"bytes"
	"context"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyMapped checks the copy of a mapped range into an output file at every kind
// of shift: file to file where source and destination share their alignment, through
// a buffer otherwise. The output holds the bytes either way, after whatever the member
// had buffered, and the shifted copy notes the source range's CRC-32.
func TestCopyMapped(t *testing.T) {
	dir := t.TempDir()
	src := make([]byte, 3*shiftChunk+777)
	for i := range src {
		src[i] = byte(i*131 + i>>9)
	}
	srcPath := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lead    int   // bytes written (buffered) before the copy
		off, n  int64 // the source range
		shifted bool
	}{
		{0, 0, int64(len(src)), false},
		{64, 128, 2 * shiftChunk, false},
		{8, 0, int64(len(src)), true},
		{100, 3, 2*shiftChunk + 5, true},
		{4096 + 56, 4096, shiftChunk, true},
		{5, 0, 0, true},
	} {
		f, err := OpenMapped(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out.bin")
		po, err := CreatePendingOutput(context.Background(), out, false, true)
		if err != nil {
			t.Fatal(err)
		}
		w, err := po.Create("out.bin")
		if err != nil {
			t.Fatal(err)
		}
		lead := bytes.Repeat([]byte{0xEE}, c.lead)
		if _, err := w.Write(lead); err != nil {
			t.Fatal(err)
		}
		n, err := f.CopyRange(w, c.off, c.n)
		if err != nil || n != c.n {
			t.Fatalf("lead %d, range %d+%d: CopyRange = %d, %v", c.lead, c.off, c.n, n, err)
		}
		if _, err := w.Write([]byte("end")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := po.Commit(); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(lead, src[c.off:c.off+c.n]...), "end"...)
		if !bytes.Equal(got, want) {
			t.Errorf("lead %d, range %d+%d: the output differs from the source range", c.lead, c.off, c.n)
		}
		crc, declared, ok := f.KnownCRC(c.off, c.n)
		if ok != c.shifted || (ok && (declared || crc != crc32.ChecksumIEEE(src[c.off:c.off+c.n]))) {
			t.Errorf("lead %d, range %d+%d: noted CRC %08x (known %v, declared %v), want known %v with the range's CRC",
				c.lead, c.off, c.n, crc, ok, declared, c.shifted)
		}
		f.Close()
	}
}
