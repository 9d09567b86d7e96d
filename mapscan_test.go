package refit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestScan checks that Scan hands over exactly the asked range across windows, and
// that a file truncated under its mapping (SIGBUS on access) gives an error, not a crash.
func TestScan(t *testing.T) {
	data := make([]byte, 2*scanWindow+12345)
	for i := range data {
		data[i] = byte(i * 31)
	}
	path := filepath.Join(t.TempDir(), "x.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenMapped(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []byte
	off, n := int64(77), int64(len(data)-100)
	if err := f.Scan(off, n, func(b []byte) error { got = append(got, b...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data[off:off+n]) {
		t.Errorf("Scan(%d, %d) gave %d bytes that differ from the file's", off, n, len(got))
	}
	if err := f.Scan(1, int64(len(data)), func([]byte) error { return nil }); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Scan past the end = %v, want io.ErrUnexpectedEOF", err)
	}
	stop := errors.New("stop")
	if err := f.Scan(0, n, func([]byte) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Scan = %v, want the callback's error", err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err = f.Scan(0, int64(len(data)), func(b []byte) error {
		for _, c := range b {
			scanSink += c // touch every page
		}
		return nil
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Scan of a truncated file = %v, want io.ErrUnexpectedEOF", err)
	}
}

var scanSink byte
