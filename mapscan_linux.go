package refit

import "golang.org/x/sys/unix"

// pageMask rounds offsets in a mapping down to a page boundary for madvise.
var pageMask = int64(unix.Getpagesize() - 1)

// populate does nothing on Linux: the pages fault in as they are read, 64 KiB per
// fault (fault-around). MADV_POPULATE_READ maps them in one call but walks them a
// page at a time and cost more (perf, 512 MiB scanned: 35% of a convert's CPU time
// in Scan with it, 29% without).
func populate(m []byte, off, n int64) {}

// release drops the pages of m[off:off+n] from the resident set; they stay in the
// page cache.
func release(m []byte, off, n int64) {
	lo := off &^ pageMask
	unix.Madvise(m[lo:off+n], unix.MADV_DONTNEED)
}
