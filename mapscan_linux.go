package refit

import "golang.org/x/sys/unix"

// pageMask rounds offsets in a mapping down to a page boundary for madvise.
var pageMask = int64(unix.Getpagesize() - 1)

// populate maps the pages of m[off:off+n] in one call (MADV_POPULATE_READ, Linux
// 5.14+) instead of one page fault per 64 KiB; on older kernels it does nothing and
// the pages fault in as they are read.
func populate(m []byte, off, n int64) {
	lo := off &^ pageMask
	unix.Madvise(m[lo:off+n], unix.MADV_POPULATE_READ)
}

// release drops the pages of m[off:off+n] from the resident set; they stay in the
// page cache.
func release(m []byte, off, n int64) {
	lo := off &^ pageMask
	unix.Madvise(m[lo:off+n], unix.MADV_DONTNEED)
}
