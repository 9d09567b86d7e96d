package refit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrExists reports an output that exists and may not be overwritten.
var ErrExists = errors.New("refit: output exists (use --force to overwrite)")

// TempPrefix starts the name of every temporary output. A temporary file for
// target DIR/NAME is DIR/.refit-tmp-PID-N-NAME: hidden, beside its target (so the
// final rename stays on one file system), ending in NAME (so the extension still
// tells the format), and naming the process that writes it. A run killed before it
// could clean up (SIGKILL, power loss) leaves such a file; the next CreatePending
// for the same target removes it once no process with that PID is alive.
const TempPrefix = ".refit-tmp-"

// PendingFile is an output being written to a temporary file beside its target.
// Commit renames it into place; Abort removes it. A crash leaves at most a
// hidden temporary file (see TempPrefix), never a partial target.
//
// A PendingFile made by CreatePendingContext fails its writes with the context's
// error once the context is done, so an encoder writing to it stops at its next
// write. AbortPending removes every temporary file of the process at once, for a
// signal handler that is about to exit.
type PendingFile struct {
	*os.File
	ctx    context.Context
	target string
	done   bool
	remote *remoteTarget // for an s3:// target: the file is a local copy uploaded by Commit
	// allocEnd is the end of the blocks reserved ahead of the writes (see
	// preallocateAhead); Commit gives back those past the file's end.
	allocEnd int64
}

// pending tracks the temporary files and folders of this process that are neither
// committed nor aborted, so that AbortPending can remove them.
var pending struct {
	sync.Mutex
	names    map[string]struct{} // temporary paths, files and folders
	seq      int
	aborting bool
}

// errAborting refuses new outputs and commits after AbortPending.
var errAborting = errors.New("refit: process is exiting")

// CreatePending starts writing target. Unless overwrite is set, an existing target is an error.
func CreatePending(target string, overwrite bool) (*PendingFile, error) {
	return CreatePendingContext(context.Background(), target, overwrite)
}

// CreatePendingContext is CreatePending whose writes fail once ctx is done.
func CreatePendingContext(ctx context.Context, target string, overwrite bool) (*PendingFile, error) {
	if IsRemote(target) {
		return createPendingRemote(ctx, target, overwrite)
	}
	if _, err := os.Lstat(target); err == nil && !overwrite {
		return nil, fmt.Errorf("%w: %s", ErrExists, target)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name, err := newTempName(target)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		forget(name)
		return nil, err
	}
	return &PendingFile{File: f, ctx: ctx, target: target}, nil
}

// CreatePendingDir makes an empty temporary folder beside target, named and cleaned
// up as temporary files are (see TempPrefix), for outputs that span several files.
// The caller moves the files out and then calls RemovePendingDir.
func CreatePendingDir(target string) (string, error) {
	name, err := newTempName(target)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(name, 0o755); err != nil {
		forget(name)
		return "", err
	}
	return name, nil
}

// RemovePendingDir removes a folder made by CreatePendingDir with everything in it.
func RemovePendingDir(name string) error {
	err := os.RemoveAll(name)
	forget(name)
	return err
}

// newTempName removes stale temporary files of target and reserves a fresh name.
func newTempName(target string) (string, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	if err := CheckOutputDir(dir); err != nil {
		return "", err
	}
	removeStale(dir, base)
	pending.Lock()
	defer pending.Unlock()
	if pending.aborting {
		return "", errAborting
	}
	if pending.names == nil {
		pending.names = make(map[string]struct{})
	}
	pending.seq++
	name := filepath.Join(dir, fmt.Sprintf("%s%d-%d-%s", TempPrefix, os.Getpid(), pending.seq, base))
	pending.names[name] = struct{}{}
	return name, nil
}

func forget(name string) {
	pending.Lock()
	delete(pending.names, name)
	pending.Unlock()
}

// removeStale removes temporary files and folders for base in dir that a process no
// longer alive left behind. Failures are ignored: a stale file only wastes space.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, en := range entries {
		pid, ok := parseTempName(en.Name(), base)
		if !ok {
			continue
		}
		path := filepath.Join(dir, en.Name())
		if pid == self {
			// Ours only if this process still tracks it; otherwise an earlier
			// process with the same PID left it.
			pending.Lock()
			_, live := pending.names[path]
			pending.Unlock()
			if live {
				continue
			}
		} else if processAlive(pid) {
			continue
		}
		os.RemoveAll(path)
	}
}

// parseTempName returns the PID in a temporary name for base: TempPrefix PID "-" N "-" base.
func parseTempName(name, base string) (int, bool) {
	rest, ok := strings.CutPrefix(name, TempPrefix)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, "-"+base)
	if !ok {
		return 0, false
	}
	pidText, seqText, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.ParseUint(seqText, 10, 64); err != nil {
		return 0, false
	}
	return pid, true
}

// Write implements io.Writer; it fails with the context's error once the context is done.
func (p *PendingFile) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	p.preallocateAhead(len(b))
	n, err := p.File.Write(b)
	if err != nil {
		err = p.targetError(err)
	}
	if err == nil && p.remote != nil {
		err = p.remote.stream(b[:n])
	}
	return n, err
}

// WriteString is Write for a string.
func (p *PendingFile) WriteString(s string) (int, error) { return p.Write([]byte(s)) }

// ReadFrom implements io.ReaderFrom, keeping the kernel's file-to-file copy
// (copy_file_range) of *os.File while checking the context between pieces.
func (p *PendingFile) ReadFrom(r io.Reader) (int64, error) {
	const piece = 64 << 20
	lr, ok := r.(*io.LimitedReader)
	if p.remote != nil && p.remote.streaming() {
		// The bytes go to the upload too: through Write, not file to file.
		return io.Copy(struct{ io.Writer }{p}, r)
	}
	if !ok {
		if _, isFile := r.(*os.File); !isFile {
			return io.Copy(struct{ io.Writer }{p}, r) // hide ReadFrom: no recursion
		}
		lr = &io.LimitedReader{R: r, N: 1<<63 - 1}
	}
	var total int64
	for lr.N > 0 {
		if err := p.ctx.Err(); err != nil {
			return total, err
		}
		n := min(lr.N, piece)
		c, err := p.File.ReadFrom(&io.LimitedReader{R: lr.R, N: n})
		total += c
		lr.N -= c
		if err != nil || c < n {
			return total, err
		}
	}
	return total, nil
}

// Target is the final name.
func (p *PendingFile) Target() string { return p.target }

// Commit closes the file and renames it to its target. The rename makes the complete
// file appear at once; it does not fsync (as cp and torch.save do not), so after a power
// loss the target may be missing or empty, but never a partial file from this process.
// Call Sync first for durability. Commit fails once the context is done.
func (p *PendingFile) Commit() error {
	if p.done {
		return errors.New("refit: pending file already finished")
	}
	p.done = true
	if p.remote != nil {
		return p.commitRemote()
	}
	name := p.File.Name()
	fail := func(err error) error {
		os.Remove(name)
		forget(name)
		return err
	}
	if err := p.trimPreallocated(); err != nil {
		return fail(p.targetError(err))
	}
	if err := p.File.Close(); err != nil {
		return fail(p.targetError(err))
	}
	if err := p.ctx.Err(); err != nil {
		return fail(err)
	}
	if err := os.Chmod(name, 0o644); err != nil {
		return fail(p.targetError(err))
	}
	// Hold the lock across the rename so AbortPending never races a commit.
	pending.Lock()
	defer pending.Unlock()
	if pending.aborting {
		os.Remove(name)
		return errAborting
	}
	delete(pending.names, name)
	if err := os.Rename(name, p.target); err != nil {
		os.Remove(name)
		return p.targetError(err)
	}
	return nil
}

// targetError reports err on the target's name: the temporary name means nothing to
// the user. The cause (fs.ErrExist, a syscall.Errno, ...) stays unwrappable.
func (p *PendingFile) targetError(err error) error { return targetError("write", p.target, err) }

// Abort discards the temporary file; it is a no-op after Commit.
func (p *PendingFile) Abort() {
	if p.done {
		return
	}
	p.done = true
	if p.remote != nil {
		p.remote.stopStreaming()
	}
	p.File.Close()
	os.Remove(p.File.Name())
	forget(p.File.Name())
}

// AbortPending removes every temporary file and folder of this process that is not
// yet committed, aborts its unfinished S3 multipart uploads (waiting a few seconds at
// most), and makes later Commits and CreatePendings fail. It is for a signal
// handler that exits right after; files still open are unlinked, not closed.
func AbortPending() {
	openUploads.abortAll()
	pending.Lock()
	defer pending.Unlock()
	pending.aborting = true
	for name := range pending.names {
		os.RemoveAll(name)
	}
	pending.names = nil
}

// Bulk writes (a buffer of cast values, 1 MiB at a time) land in blocks reserved
// ahead of them, preallocateStep at a time, for the reason preallocate gives (ext4's
// delayed allocation costs more per page than mapping onto reserved blocks).
const (
	bulkWrite       = 64 << 10
	preallocateStep = 64 << 20
)

// preallocateAhead reserves the blocks of the next preallocateStep bytes when a bulk
// write of n bytes would pass the end of those reserved so far.
func (p *PendingFile) preallocateAhead(n int) {
	if n < bulkWrite {
		return
	}
	pos, err := p.File.Seek(0, io.SeekCurrent)
	if err != nil || pos+int64(n) <= p.allocEnd {
		return
	}
	start := max(pos, p.allocEnd)
	end := pos + max(int64(n), preallocateStep)
	preallocate(p.File, start, end-start)
	p.allocEnd = end
}

// trimPreallocated gives back the blocks reserved past the file's end: truncating a
// file to its own size frees them (ext4, XFS).
func (p *PendingFile) trimPreallocated() error {
	if p.allocEnd == 0 {
		return nil
	}
	st, err := p.File.Stat()
	if err != nil {
		return err
	}
	if st.Size() < p.allocEnd {
		return p.File.Truncate(st.Size())
	}
	return nil
}
