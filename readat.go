package refit

import "io"

// ReadFullAt reads exactly len(p) bytes at off. A short read is io.ErrUnexpectedEOF,
// as for io.ReadFull, so truncated inputs report one error whatever the reader.
func ReadFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
