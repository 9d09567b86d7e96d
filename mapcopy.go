package refit

import (
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
// the kernel's file-to-file copy (copy_file_range) runs at full speed: the page, so
// that each source page lands on one page of the output. Otherwise its copy splits
// every page (BenchmarkCopyMapped, AMD EPYC Zen 4, CPU s per GiB into fallocated
// ranges: 0.31 with the same page phase, 0.49-0.52 with the destination 64 bytes
// after it, against 0.39-0.41 for the copy through a buffer, which gives the
// source's CRC-32 besides; 0.73 for copy_file_range 8 bytes after).
const copyAlign = pageSize

// shiftChunk is the buffer of a shifted copy: a multiple of the page size, and small
// enough to stay in the core's cache between the copy in and the write out. Larger
// writes cost less on average but not always: with 1 MiB, some layouts ran at 2-6
// times the CPU time of others on the 2-core EPYC (GGUF -> npz of 1 GiB: 1.9-3.7 CPU
// s against 0.55-0.65 with 256 KiB), the kernel's copy into the page cache stalling.
const shiftChunk = 256 << 10

// shiftChunkOffPhase is the buffer of a shifted copy whose output is not at the
// source's page phase (pt -> safetensors, -> GGUF): there 1 MiB writes cost less
// (pt -> safetensors of 1 GiB: 0.35 CPU s against 0.51 before, in alternating runs)
// and never stalled in 40 runs; the stalls came with the same page phase.
const shiftChunkOffPhase = 1 << 20

// pageSize is the unit of the page cache: a buffer at the same offset modulo it as
// the destination keeps the kernel's copy into the cache aligned.
const pageSize = 4096

// copyMapped writes the n bytes at off of f at the member's current position, into
// blocks fallocated for them: file to file (copy_file_range) where the offsets share
// their page phase (copyAlign), f already knows the range's CRC-32 (a zip member's
// declared checksum, or an earlier pass's) and the output is not read back (see
// PendingOutput.ReadBack), otherwise through a buffer placed at the destination's page phase
// (see writeShifted), which cost less than the kernel's misaligned copy and give the
// CRC-32 of the source bytes on the way, so that neither a zip writer (the local
// header's checksum) nor verification has to read the source again.
func (p *pendingMember) copyMapped(f *MappedFile, off, n int64) (int64, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	if p.upload != nil {
		// Streamed to a remote store as well: through the buffer, which writes to both.
		return f.copyRange(p, off, n)
	}
	pos, err := p.File.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, p.targetError(err)
	}
	dst := pos + int64(p.w.Buffered())
	preallocate(p.File, dst, n)
	p.allocEnd = max(p.allocEnd, dst+n)
	// Not when the output is read back for verification: the pages a file-to-file copy
	// fills are small, their re-read costs more than the copy through a buffer saves
	// (pt -> pt of 1 GiB on the 2-core EPYC: 0.64 CPU s against 0.53).
	if _, declared, known := f.KnownCRC(off, n); known && (dst-off)%copyAlign == 0 && p.back == nil {
		var summed chan error
		if declared {
			// What the copy's consumers want (a zip writer's local header, the
			// verification) is the CRC-32 of the bytes, not what the file states:
			// computed from the source on a goroutine of its own while the kernel
			// copies, and noted for f.
			summed = make(chan error, 1)
			go func() { summed <- f.noteScannedCRC(off, n) }()
		}
		c, err := f.copyRange(p, off, n)
		if summed != nil {
			if serr := <-summed; err == nil {
				err = serr
			}
		}
		return c, err
	}
	if err := p.w.Flush(); err != nil {
		return 0, err
	}
	c, err := p.writeShifted(f, off, n, dst, func(done, k int64) {
		p.readWritten(dst, dst+done, k, n, done+k == n)
	})
	return c, err
}

// writeShifted copies the n bytes at off of f's mapping to the file, whose offset is
// dst, through a buffer whose address is congruent to dst modulo the page size: Go's
// copy from the mapping takes the shift (unaligned vector loads cost little), and the
// kernel's copy from the buffer into the page cache runs aligned. The bytes' CRC-32 is
// computed from the buffer, while it is in cache, and noted for f (NoteCRC), so that
// neither a zip writer nor a verification of the output need read the source again. A
// 1 GiB copy with the destination 8 bytes after the source: 0.45 CPU s with the CRC,
// against 0.74 for copy_file_range.
//
// The reads and the writes stay on one goroutine: a version that wrote each buffer
// from a second goroutine while the first filled the next cost 0.06-0.09 CPU s more
// per GiB (pt -> safetensors, 0.73-0.77 against 0.63-0.67) and was no faster in wall
// time, even at nice -20 on the loaded 2-core EPYC: the kernel's copy then reads a
// buffer another core wrote.
//
// written, when not nil, is told each window's bytes (done bytes into the range, k of
// them) once they are in the file.
func (p *PendingFile) writeShifted(f *MappedFile, off, n, dst int64, written func(done, k int64)) (int64, error) {
	chunk := int64(shiftChunk)
	if (dst-off)%pageSize != 0 {
		chunk = shiftChunkOffPhase
	}
	raw := make([]byte, chunk+pageSize)
	addr := int64(uintptr(unsafe.Pointer(unsafe.SliceData(raw))))
	adj := ((dst-addr)%pageSize + pageSize) % pageSize
	buf := raw[adj : adj+chunk]
	var (
		crc   uint32
		total int64
	)
	err := f.Scan(off, n, func(b []byte) error {
		start, k := total, int64(len(b))
		for len(b) > 0 {
			k := copy(buf, b)
			b = b[k:]
			crc = crc32.Update(crc, crc32.IEEETable, buf[:k])
			w, err := p.Write(buf[:k])
			total += int64(w)
			if err != nil {
				return err
			}
		}
		if written != nil {
			written(start, k)
		}
		return nil
	})
	if err != nil {
		return total, err
	}
	f.NoteCRC(off, n, crc, false)
	return total, nil
}

// noteScannedCRC computes the CRC-32 of the n bytes at off from the mapping and notes
// it for f as computed.
func (f *MappedFile) noteScannedCRC(off, n int64) error {
	var crc uint32
	err := f.Scan(off, n, func(b []byte) error {
		crc = crc32.Update(crc, crc32.IEEETable, b)
		return nil
	})
	if err == nil {
		f.NoteCRC(off, n, crc, false)
	}
	return err
}
