package keras

import (
	"bytes"
	"errors"
	"testing"

	"github.com/refit-ml/refit"
)

func TestCheckHeaps(t *testing.T) {
	for _, tc := range []struct {
		name   string
		at     int
		header string
		size   byte  // top byte of the little-endian 8-byte size
		budget int64 // 0: no limit
		want   error
	}{
		{"huge heap in first chunk", 100, "HEAP\x00\x00\x00\x00", 0x40, 0, refit.ErrFormat},
		{"huge heap across chunks", 1<<20 - 4, "HEAP\x00\x00\x00\x00", 0x40, 0, refit.ErrFormat},
		{"small heap", 1<<20 - 4, "HEAP\x00\x00\x00\x00", 0, 0, nil},
		// The library reads any version and reserved bytes after "HEAP".
		{"huge heap of version 7", 100, "HEAP\x07\x00\x00\x00", 0x40, 0, refit.ErrFormat},
		{"huge heap with reserved bytes set", 100, "HEAP\x00\xff\xff\xff", 0x40, 0, refit.ErrFormat},
		{"huge global heap", 100, "GCOL\x01\x05\x00\x00", 0x40, 0, refit.ErrFormat},
		{"global heap of a version the library refuses", 100, "GCOL\x02\x00\x00\x00", 0x40, 0, nil},
		{"heap beyond the budget", 100, "HEAP\x00\x00\x00\x00", 0, 8, refit.ErrBudget},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := make([]byte, 1<<20+64)
			copy(b, h5Magic) // b[8] = 0: superblock v0; b[13], b[14]: sizes of offsets and lengths
			b[13], b[14] = 8, 8
			copy(b[tc.at:], tc.header)
			b[tc.at+8] = 16
			b[tc.at+15] = tc.size
			raw, err := superblockSizes(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			err = checkHeaps(raw, refit.NewBudget(tc.budget))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("checkHeaps = %v, want %v", err, tc.want)
			}
		})
	}
}
