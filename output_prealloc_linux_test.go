package refit

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPendingFilePreallocates checks that the blocks reserved ahead of bulk writes do
// not outlive Commit: the committed file holds no more blocks than its bytes need.
func TestPendingFilePreallocates(t *testing.T) {
	target := filepath.Join(t.TempDir(), "out.bin")
	p, err := CreatePending(target, false)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 1<<20)
	for range 3 {
		if _, err := p.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if p.allocEnd < 3<<20 {
		t.Errorf("reserved up to %d, want at least the 3 MiB written", p.allocEnd)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 3<<20 {
		t.Fatalf("size %d, want %d", st.Size(), 3<<20)
	}
	if blocks := st.Sys().(*syscall.Stat_t).Blocks * 512; blocks > 4<<20 {
		t.Errorf("committed file holds %d bytes of blocks for %d bytes: the reservation ahead was not given back", blocks, st.Size())
	}
}
