package tensor

import (
	"fmt"
	"io"
)

// Scanner is implemented by memory-mapped files (refit.MappedFile) that can hand out
// a byte range without copying it, a window at a time (see refit.MappedFile.Scan).
// Every window but the last is a multiple of 8 bytes long, so windows of a range that
// starts at an aligned offset hold whole, aligned values.
type Scanner interface {
	Scan(off, n int64, fn func([]byte) error) error
}

// scanChunk is the read size when t's data cannot be scanned in place.
const scanChunk = 1 << 20

// Scan calls fn with t's bytes in order, a piece at a time; fn must not keep a piece.
// Data that is a range of a Scanner (under nested section readers) is passed straight
// from the mapping; other data is read into one reused 1 MiB buffer.
func (t *Tensor) Scan(fn func([]byte) error) error {
	n := t.Size()
	if outer, off, ok := OuterRange(t.Data); ok {
		if sc, ok := outer.(Scanner); ok {
			if err := sc.Scan(off, n, fn); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
			return nil
		}
	}
	buf := make([]byte, min(n, scanChunk))
	for off := int64(0); off < n; off += scanChunk {
		m := min(scanChunk, n-off)
		if err := readFullAt(t.Data, buf[:m], off); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if err := fn(buf[:m]); err != nil {
			return err
		}
	}
	return nil
}

// SourceOffset reports where t's bytes start in the file that holds them, when t's
// data is a range of a file that can copy it (a RangeCopier under section readers).
// Writers that copy such a range file to file use it to place the bytes at the same
// offset modulo the page size, which keeps the kernel's copy page-aligned.
func (t *Tensor) SourceOffset() (int64, bool) {
	sr, ok := t.Data.(*io.SectionReader)
	if !ok {
		return 0, false
	}
	rc, ok := outerRangeCopier(sr)
	return rc.off, ok
}
