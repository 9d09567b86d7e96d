//go:build !linux

package refit

import (
	"hash/crc32"
	"io"
)

// read updates crc with the n bytes at off of the file, read a window at a time
// into a buffer (the mapped re-read is Linux's).
func (r *readBack) read(crc uint32, off, n int64) (uint32, error) {
	buf := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := r.f.ReadAt(buf[:k], off); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return crc, err
		}
		crc = crc32.Update(crc, crc32.IEEETable, buf[:k])
		off, n = off+k, n-k
	}
	return crc, nil
}
