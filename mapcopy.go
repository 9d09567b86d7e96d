package refit

import (
	"errors"
	"hash/crc32"
	"io"
	"unsafe"
)

// mappedCopier is implemented by output files that copy a range of a mapped file
// themselves, knowing where its bytes land (pendingMember).
type mappedCopier interface {
	copyMapped(f *MappedFile, off, n int64) (int64, error)
}

// copyAlign is the alignment the source and destination offsets of a copy share when
// the kernel's file-to-file copy (copy_file_range) runs at full speed. Its memcpy can
// be much slower otherwise (AMD EPYC Zen 4, 1 GiB from the page cache: 0.46 CPU s with
// the destination 0, 32 or 64 bytes after the source, 0.73 with it 8 bytes after;
// safetensors -> GGUF of the bench's model: 0.87 CPU s before the copy through a
// buffer, 0.64 after). Where the kernel's copy is not slowed, the copy through a
// buffer costs about as much or a little more, and gives the source's CRC-32 besides.
const copyAlign = 32

// shiftChunk is the buffer of a shifted copy: a multiple of the page size, and small
// enough to stay in the core's cache between the copy in and the write out.
const shiftChunk = 256 << 10

// pageSize is the unit of the page cache: a buffer at the same offset modulo it as
// the destination keeps the kernel's copy into the cache aligned.
const pageSize = 4096

// copyMapped writes the n bytes at off of f at the member's current position: file
// to file (copy_file_range) where the offsets share their alignment modulo copyAlign
// and f already knows the range's CRC-32 (a zip member's declared checksum, or an
// earlier pass's), otherwise through buffers placed at the destination's page phase
// (see writeShifted), which cost less than the kernel's misaligned copy and give the
// CRC-32 of the source bytes on the way, so that neither a zip writer (the local
// header's checksum) nor verification has to read the source again.
func (p *pendingMember) copyMapped(f *MappedFile, off, n int64) (int64, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	pos, err := p.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, p.targetError(err)
	}
	dst := pos + int64(p.w.Buffered())
	if _, _, known := f.KnownCRC(off, n); known && (dst-off)%copyAlign == 0 {
		return f.copyRange(p, off, n)
	}
	if err := p.w.Flush(); err != nil {
		return 0, err
	}
	return p.writeShifted(f, off, n, dst)
}

// shiftBuffers is how many buffers writeShifted's two goroutines pass between them.
const shiftBuffers = 3

// errWriteFailed stops writeShifted's reads once a write has failed.
var errWriteFailed = errors.New("refit: output write failed")

// writeShifted copies the n bytes at off of f's mapping to the file, whose offset is
// dst, through buffers whose addresses are congruent to dst modulo the page size: Go's
// copy from the mapping takes the shift (unaligned vector loads cost little), and the
// kernel's copy from the buffer into the page cache runs aligned. The bytes' CRC-32 is
// computed from the buffer, while it is in cache, and noted for f (NoteCRC), so that a
// verification of the output need not read the source again.
//
// The reads from the mapping (page faults, the copy, the CRC) run on the calling
// goroutine while another one writes the previous buffer: on two cores the copy takes
// about the time of the kernel's writes alone, as cp does. A 1 GiB copy with the
// destination 8 bytes after the source: 0.45 CPU s with the CRC, against 0.74 for
// copy_file_range.
func (p *PendingFile) writeShifted(f *MappedFile, off, n, dst int64) (int64, error) {
	free := make(chan []byte, shiftBuffers)
	for range shiftBuffers {
		raw := make([]byte, shiftChunk+pageSize)
		addr := int64(uintptr(unsafe.Pointer(unsafe.SliceData(raw))))
		adj := ((dst-addr)%pageSize + pageSize) % pageSize
		free <- raw[adj : adj+shiftChunk : adj+shiftChunk]
	}
	full := make(chan []byte, shiftBuffers)
	failed := make(chan struct{}) // closed when a write fails
	done := make(chan struct{})
	var (
		total int64 // written; read after done
		werr  error
	)
	go func() {
		defer close(done)
		for b := range full {
			if werr == nil {
				w, err := p.Write(b)
				total += int64(w)
				if err != nil {
					werr = err
					close(failed)
				}
			}
			free <- b[:cap(b)]
		}
	}()
	var crc uint32
	err := f.Scan(off, n, func(b []byte) error {
		for len(b) > 0 {
			var buf []byte
			select {
			case buf = <-free:
			case <-failed:
				return errWriteFailed
			}
			k := copy(buf, b)
			b = b[k:]
			crc = crc32.Update(crc, crc32.IEEETable, buf[:k])
			full <- buf[:k]
		}
		return nil
	})
	close(full)
	<-done
	if werr != nil {
		return total, werr
	}
	if err != nil {
		return total, err
	}
	f.NoteCRC(off, n, crc, false)
	return total, nil
}
