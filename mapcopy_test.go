package refit

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyMapped checks the copy of a mapped range into an output file at every kind
// of shift: file to file where source and destination share their page phase and the
// source knows the range's CRC-32 (declared), through a buffer otherwise. The output
// holds the bytes either way, after whatever the member had buffered, and the copy
// notes the CRC-32 of the source range's bytes (computed, over a declared one).
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
		lead     int   // bytes written (buffered) before the copy
		off, n   int64 // the source range
		declared bool  // the source declares the range's CRC-32 before the copy
		shifted  bool  // copied through a buffer
	}{
		{0, 0, int64(len(src)), true, false},
		{64, 128, 2 * shiftChunk, true, true}, // the same alignment modulo 64, not the same page phase
		{128, 128, 2 * shiftChunk, true, false},
		{0, 0, int64(len(src)), false, true},
		{64, 128, 2 * shiftChunk, false, true},
		{8, 0, int64(len(src)), true, true},
		{100, 3, 2*shiftChunk + 5, false, true},
		{4096 + 56, 4096, shiftChunk, false, true},
		{5, 0, 0, false, true},
	} {
		f, err := OpenMapped(srcPath)
		if err != nil {
			t.Fatal(err)
		}
		const bogus = 0x12345678 // a declared CRC the copy must not take for its own
		if c.declared {
			f.NoteCRC(c.off, c.n, bogus, true)
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
		// Either way the copy notes the CRC of the bytes themselves, over a declared one.
		crc, declared, ok := f.KnownCRC(c.off, c.n)
		wantCRC, wantDeclared := crc32.ChecksumIEEE(src[c.off:c.off+c.n]), false
		if !ok || crc != wantCRC || declared != wantDeclared {
			t.Errorf("lead %d, range %d+%d, declared %v: noted CRC %08x (known %v, declared %v), want %08x (declared %v)",
				c.lead, c.off, c.n, c.declared, crc, ok, declared, wantCRC, wantDeclared)
		}
		f.Close()
	}
}

// TestCopyMappedWriteFails checks that a copy through a buffer whose writes fail (the
// output's context is done) stops with the write's error and notes no CRC.
func TestCopyMappedWriteFails(t *testing.T) {
	dir := t.TempDir()
	src := bytes.Repeat([]byte("0123456789abcdef"), 4*shiftChunk/16)
	srcPath := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(srcPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenMapped(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	po, err := CreatePendingOutput(ctx, filepath.Join(dir, "out.bin"), false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer po.Abort()
	w, err := po.Create("out.bin")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	n, err := f.CopyRange(w, 3, int64(len(src))-3)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CopyRange after cancel = %d, %v, want context.Canceled", n, err)
	}
	if _, _, ok := f.KnownCRC(3, int64(len(src))-3); ok {
		t.Errorf("a failed copy noted a CRC")
	}
}

// TestCopyMappedTruncated checks that a copy through a buffer from a file truncated
// under its mapping (by another process) fails with io.ErrUnexpectedEOF, not a crash.
func TestCopyMappedTruncated(t *testing.T) {
	dir := t.TempDir()
	srcPath := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(srcPath, bytes.Repeat([]byte{7}, 4*shiftChunk), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenMapped(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(srcPath, shiftChunk); err != nil {
		t.Fatal(err)
	}
	po, err := CreatePendingOutput(context.Background(), filepath.Join(dir, "out.bin"), false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer po.Abort()
	w, err := po.Create("out.bin")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.CopyRange(w, 1, 4*shiftChunk-1); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("CopyRange of a truncated mapping = %d, %v, want io.ErrUnexpectedEOF", n, err)
	}
}
