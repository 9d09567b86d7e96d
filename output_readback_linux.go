package refit

import (
	"fmt"
	"hash/crc32"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// read updates crc with the n bytes at off of the file, mapped a window at a time
// and unmapped after, so the re-read adds at most one window to the resident set.
func (r *readBack) read(crc uint32, off, n int64) (_ uint32, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("refit: re-reading %s: %v", r.f.Name(), e) // truncated by another process
		}
	}()
	fd := int(r.f.Fd())
	for n > 0 {
		k := min(n, scanWindow)
		lo := off &^ pageMask
		m, err := unix.Mmap(fd, lo, int(off+k-lo), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return crc, err
		}
		crc = crc32.Update(crc, crc32.IEEETable, m[off-lo:])
		if err := unix.Munmap(m); err != nil {
			return crc, err
		}
		off, n = off+k, n-k
	}
	return crc, nil
}
