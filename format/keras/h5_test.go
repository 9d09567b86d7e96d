package keras

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
)

func TestCheckLocalHeaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int
		size byte // top byte of the little-endian 8-byte size
		want error
	}{
		{"huge heap in first chunk", 100, 0x40, refit.ErrFormat},
		{"huge heap across chunks", 1<<20 - 4, 0x40, refit.ErrFormat},
		{"small heap", 1<<20 - 4, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 1<<20+64)
			copy(b, h5Magic) // b[8] = 0: superblock v0; b[14] is the size of lengths
			b[14] = 8
			copy(b[tc.at:], "HEAP\x00\x00\x00\x00")
			b[tc.at+8] = 16
			b[tc.at+15] = tc.size
			name := filepath.Join(t.TempDir(), "f.h5")
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := checkLocalHeaps(name, int64(len(b))); !errors.Is(err, tc.want) {
				t.Errorf("checkLocalHeaps = %v, want %v", err, tc.want)
			}
		})
	}
}
