package refit

import (
	"fmt"
	"io"
	"runtime/debug"
)

// scanWindow is how much of a mapping Scan hands to its callback at once: large
// enough that the per-window system calls cost nothing, small enough that the
// pages it maps add little to the resident set before they are released.
const scanWindow = 4 << 20

// Scan calls fn with the bytes [off, off+n) of the file, a window of up to 4 MiB at a
// time, straight from the mapping: nothing is copied, as ReadAt would copy. Each
// window's pages are released from the process's resident set after fn returns, so
// scanning a whole file keeps resident memory at one window. fn must not keep the
// slice. A file truncated under the mapping (by another process) gives an error,
// not a crash.
func (f *MappedFile) Scan(off, n int64, fn func([]byte) error) (err error) {
	size := int64(len(f.m))
	if off < 0 || n < 0 || off > size || n > size-off {
		return fmt.Errorf("refit: scan of %d bytes at %d outside %s (%d bytes): %w", n, off, f.name, size, io.ErrUnexpectedEOF)
	}
	defer releaseAround(f.m, off, off+n)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if ferr := MappingFault(r); ferr != nil {
				err = ferr
				return
			}
			err = fmt.Errorf("refit: reading %s through its mapping: %v: %w", f.name, r, io.ErrUnexpectedEOF)
		}
	}()
	for n > 0 {
		k := min(n, scanWindow)
		err := fn(f.m[off : off+k])
		release(f.m, off, k)
		if err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// scanSlack is how far past either end of a scanned range releaseAround reaches: a
// fault maps pages around the one it needs (fault-around, 64 KiB; a large folio of the
// page cache, up to 2 MiB), and those outside the range would otherwise stay resident
// once the range's windows are released - 64 KiB per tensor scanned in order, more
// when neighbours are scanned by other goroutines first.
const scanSlack = 2 << 20

// releaseAround releases the pages within scanSlack of the range [lo, hi) of m.
func releaseAround(m []byte, lo, hi int64) {
	if start := max(lo-scanSlack, 0); start < lo {
		release(m, start, lo-start)
	}
	if end := min(hi+scanSlack, int64(len(m))); end > hi {
		release(m, hi, end-hi)
	}
}
