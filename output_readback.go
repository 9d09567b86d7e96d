package refit

import (
	"os"
	"sync"
)

// A verification of an output re-reads every tensor from the written file and
// compares its CRC-32 with the CRC-32 of the bytes meant to be there. Done after the
// encoder finishes, that re-read adds its own pass to the wall time (pt ->
// safetensors of 1 GiB on the 2-core EPYC: 0.07 of 0.34 CPU s). readBack overlaps it
// with the writing: the ranges that copies put into an output file (copyMapped) are
// re-read from the file by a goroutine of their own while the writer goes on, and
// each range's CRC-32, as read from the file, is kept for the verification
// (PendingOutput.ReadBackCRC), which then reads only what no copy wrote (cast
// tensors, headers).
//
// The CRC is of the file's bytes, read through a fresh mapping of the file after the
// write returned: not of the writer's buffer. A write into a range after it was read
// back (WriteAt, as a zip writer patches a local header) drops what was kept for
// every range it touches, so the verification reads those again.

// readBackQueue is how many pieces (up to a Scan window, 4 MiB, each) the writer may
// be ahead of the re-reading before it waits: enough to ride out a scheduling delay
// on a loaded machine, without bearing on memory (each piece is mapped only while it
// is read).
const readBackQueue = 16

type readBack struct {
	f      *os.File
	jobs   chan readPiece
	done   chan struct{}
	closed bool // jobs is closed (by the writer's goroutine, which alone sends)

	// owned by the goroutine until done is closed
	crcs  map[[2]int64]uint32 // (offset, length) of each range read back -> its CRC-32
	cur   int64               // start of the range being read back, -1 for none
	crc   uint32              // its CRC-32 so far
	stale bool                // a write touched it after some of it was read
	bad   bool                // a piece could not be read: nothing is kept for the range
}

// readPiece is n bytes at off written for the range that starts at start; end marks
// the range's last piece, whose total length is total. A piece with n < 0 is a write
// at off of -n bytes that invalidates what was read of it.
type readPiece struct {
	start, off, n, total int64
	end                  bool
}

// beforeReadBack, when set (by tests), is called before each piece is read back: a
// test corrupts the file there to show that the CRC comes from the file.
var beforeReadBack func(f *os.File, off, n int64)

func newReadBack(f *os.File) *readBack {
	r := &readBack{f: f, jobs: make(chan readPiece, readBackQueue), done: make(chan struct{}),
		crcs: map[[2]int64]uint32{}, cur: -1}
	go r.run(r.jobs)
	return r
}

func (r *readBack) run(jobs <-chan readPiece) {
	defer close(r.done)
	for p := range jobs {
		if p.n < 0 {
			r.invalidate(p.off, -p.n)
			continue
		}
		if r.cur != p.start {
			r.cur, r.crc, r.stale, r.bad = p.start, 0, false, false
		}
		if !r.bad {
			if beforeReadBack != nil {
				beforeReadBack(r.f, p.off, p.n)
			}
			crc, err := r.read(r.crc, p.off, p.n)
			r.crc, r.bad = crc, err != nil
		}
		if p.end {
			if !r.bad && !r.stale {
				r.crcs[[2]int64{p.start, p.total}] = r.crc
			}
			r.cur = -1
		}
	}
}

// invalidate forgets the ranges that overlap the n bytes at off.
func (r *readBack) invalidate(off, n int64) {
	for k := range r.crcs {
		if k[0] < off+n && off < k[0]+k[1] {
			delete(r.crcs, k)
		}
	}
	if r.cur >= 0 && r.cur < off+n {
		r.stale = true // conservative: the range's end is not known yet
	}
}

// wait stops the re-reading once the queued pieces are read.
func (r *readBack) wait() {
	if !r.closed {
		close(r.jobs)
		r.closed = true
	}
	<-r.done
}

// readBackSet holds the read-backs of one PendingOutput's files.
type readBackSet struct {
	mu sync.Mutex
	on bool
}

// ReadBack makes the files created from now on re-read what copies write to them,
// on a goroutine of their own, while the writing goes on (see ReadBackCRC). Only a
// caller that verifies the output should ask for it: the re-read costs CPU time.
func (o *PendingOutput) ReadBack() {
	o.readBack.mu.Lock()
	o.readBack.on = true
	o.readBack.mu.Unlock()
}

// ReadBackCRC returns the CRC-32 of the n bytes at off of the named file as they were
// read back from the file after a copy wrote them there (see ReadBack), if such a
// range was read back and nothing was written into it since. It waits for the file's
// re-reading to finish; call it once the encoder is done.
func (o *PendingOutput) ReadBackCRC(name string, off, n int64) (uint32, bool) {
	for _, f := range o.files {
		if f.back != nil && f.name() == name {
			f.back.wait()
			crc, ok := f.back.crcs[[2]int64{off, n}]
			return crc, ok
		}
	}
	return 0, false
}

// stopReadBacks waits for every file's re-reading, before the files are closed.
func (o *PendingOutput) stopReadBacks() {
	for _, f := range o.files {
		if f.back != nil {
			f.back.wait()
		}
	}
}

// readWritten queues the n bytes at off, written for the range of total bytes at
// start, for re-reading; end marks the range's last piece.
func (p *pendingMember) readWritten(start, off, n, total int64, end bool) {
	if p.back != nil && !p.back.closed {
		p.back.jobs <- readPiece{start: start, off: off, n: n, total: total, end: end}
	}
}

// wrote tells the re-reading that the n bytes at off were written over.
func (p *pendingMember) wrote(off, n int64) {
	if p.back != nil && !p.back.closed && n > 0 {
		p.back.jobs <- readPiece{off: off, n: -n}
	}
}
