package refit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestReleaseMapped(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB: many pages
	p := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenMapped(p)
	if err != nil {
		t.Fatal(err)
	}
	m := f.Bytes()
	part := m[5000 : 200000+3]
	if !IsMapped(part) || !ReleaseMapped(part) {
		t.Fatal("a slice of an open mapping is not recognized as mapped")
	}
	// The released pages read back from the file.
	if !bytes.Equal(m, want) {
		t.Error("mapping changed after ReleaseMapped")
	}
	heap := bytes.Clone(want)
	if IsMapped(heap) || ReleaseMapped(heap) {
		t.Error("Go memory taken for a mapping")
	}
	if !bytes.Equal(heap, want) {
		t.Error("Go memory changed by ReleaseMapped")
	}
	if !IsMapped(m[len(m)-10:]) || IsMapped(nil) {
		t.Error("IsMapped at the mapping's end or of nil")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if IsMapped(part) || ReleaseMapped(part) {
		t.Error("a closed file's mapping still counted")
	}
}
