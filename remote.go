package refit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Remote models: every path Refit accepts may instead be a URL.
//
//   - s3://bucket/key names an object in any S3-compatible store, and s3://bucket/prefix/
//     a "folder" (the objects under the prefix). See s3Storage for credentials, endpoint
//     and region.
//   - https://host/path (or http://) names a file on a web server that answers Range
//     requests. Web servers cannot list, so a folder URL works where the format names its
//     files (a safetensors index and its shards), not where a folder must be listed.
//
// Inputs are read with ranged requests through a small block cache, so decoding headers
// takes a few requests whatever the model's size, and tensor bytes are fetched with one
// streamed request per tensor (CopyRange) or per ReadAt: a remote conversion keeps the
// memory bound of a local one. Outputs (s3:// only) are written to a local temporary
// copy, which verification re-reads, and uploaded as an S3 multipart upload that is
// completed only on Commit: the object appears whole or not at all.

// Storage is a store of objects addressed by slash-separated keys: an S3 bucket or a
// web server. It is the one seam between Refit and remote storage.
type Storage interface {
	// Open returns the object at key for reading at any offset.
	Open(ctx context.Context, key string) (File, error)
	// Stat returns the size of the object at key; a missing object wraps fs.ErrNotExist.
	Stat(ctx context.Context, key string) (int64, error)
	// List returns the entries directly under prefix (which ends in "/" or is ""),
	// sorted by name: objects, and folders for longer keys. Stores that cannot list
	// return an error wrapping ErrUnsupported.
	List(ctx context.Context, prefix string) ([]fs.DirEntry, error)
	// Create starts writing the object at key; it appears only when Commit returns nil.
	// Stores that cannot be written return an error wrapping ErrUnsupported.
	Create(ctx context.Context, key string) (PendingObject, error)
	// Remove deletes the object at key.
	Remove(ctx context.Context, key string) error
	// URL is how errors name the object at key.
	URL(key string) string
}

// PendingObject is an object being written. Writes stream to the store; the object
// becomes visible when Commit returns nil. Abort discards what was written and is a
// no-op after Commit.
type PendingObject interface {
	io.Writer
	Commit() error
	Abort()
}

// IsRemote reports whether name is a URL Refit reads remotely (s3://, https://, http://)
// rather than a local path.
func IsRemote(name string) bool {
	for _, s := range []string{"s3://", "https://", "http://"} {
		if len(name) >= len(s) && strings.EqualFold(name[:len(s)], s) {
			return true
		}
	}
	return false
}

// OpenStorage returns the storage a remote URL lives in and the object key within it
// (for s3://bucket/a/b, the bucket and "a/b"; for https://host/a/b, the server and
// "a/b"). A key ending in "/" names a folder.
func OpenStorage(rawURL string) (Storage, string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, query string included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("refit: %q: %w", ShowPath(rawURL), err)
	}
	switch strings.ToLower(u.Scheme) {
	case "s3":
		if u.Host == "" {
			return nil, "", fmt.Errorf("refit: %s names no bucket (s3://bucket/key): %w", ShowPath(rawURL), fs.ErrInvalid)
		}
		st, err := newS3Storage(u.Host)
		if err != nil {
			return nil, "", err
		}
		return st, strings.TrimPrefix(u.Path, "/"), nil
	case "https", "http":
		if u.Host == "" {
			return nil, "", fmt.Errorf("refit: %s names no host: %w", ShowPath(rawURL), fs.ErrInvalid)
		}
		base := *u
		base.Path, base.RawPath, base.RawQuery, base.Fragment = "/", "", "", ""
		key := strings.TrimPrefix(u.Path, "/")
		return newHTTPStorage(base.String(), u.RawQuery, key), key, nil
	}
	return nil, "", fmt.Errorf("refit: %s: unknown URL scheme: %w", ShowPath(rawURL), ErrUnsupported)
}

// RemoteStats are counts of the requests made to remote storage by this process.
type RemoteStats struct {
	Requests  int64 `json:"requests"`   // ranged GETs, HEADs, listings and uploads
	BytesRead int64 `json:"bytes_read"` // response bytes of reads
	Written   int64 `json:"bytes_written,omitempty"`
}

var remoteStats struct{ requests, read, written atomic.Int64 }

// ReadRemoteStats returns the counts so far; they only grow.
func ReadRemoteStats() RemoteStats {
	return RemoteStats{remoteStats.requests.Load(), remoteStats.read.Load(), remoteStats.written.Load()}
}

// remoteFolder reports whether a remote URL names a folder: it ends in "/", or (in a
// store that lists) no object has its key but some have it as a prefix.
func remoteFolder(ctx context.Context, st Storage, key string) (bool, error) {
	if key == "" || strings.HasSuffix(key, "/") {
		return true, nil
	}
	_, err := st.Stat(ctx, key)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	list, lerr := st.List(ctx, key+"/")
	if lerr != nil || len(list) == 0 {
		return false, err
	}
	return true, nil
}

// StatPath is os.Stat for a local path or a remote URL (where a folder is a prefix).
func StatPath(name string) (fs.FileInfo, error) {
	if !IsRemote(name) {
		return statLocal(name)
	}
	st, key, err := OpenStorage(name)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	dir, err := remoteFolder(ctx, st, key)
	if err != nil {
		return nil, err
	}
	if dir {
		return remoteInfo{name: path.Base("/" + strings.TrimSuffix(key, "/")), dir: true}, nil
	}
	size, err := st.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return remoteInfo{name: path.Base(key), size: size}, nil
}

// remoteFS is a folder of a Storage as an fs.FS: the objects under prefix. Files open
// as ranged readers (File); entry, when set, is a file opened by its full key even
// where it would not be listed.
type remoteFS struct {
	st     Storage
	prefix string // "" or ending in "/"

	mu     sync.Mutex
	opened map[string]File // files already open, handed out once by Open
}

// closeUnused closes the files handed to remoteFS that Open never took.
func (r *remoteFS) closeUnused() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.opened {
		f.Close()
	}
	r.opened = nil
}

// RemoteFS returns the remote folder URL names (s3://bucket/prefix/) as a file system
// whose files are read with ranged requests and implement File.
func RemoteFS(folderURL string) (fs.FS, error) {
	st, key, err := OpenStorage(folderURL)
	if err != nil {
		return nil, err
	}
	if key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return &remoteFS{st: st, prefix: key}, nil
}

// remoteFileFS is FileFS for a URL: the folder holding the object and its base name.
func remoteFileFS(name string) (fs.FS, string, error) {
	st, key, err := OpenStorage(name)
	if err != nil {
		return nil, "", err
	}
	dir, base := path.Split(key)
	if base == "" {
		return nil, "", fmt.Errorf("refit: %s names a folder, not a file: %w", ShowPath(name), fs.ErrInvalid)
	}
	return &remoteFS{st: st, prefix: dir}, base, nil
}

func (r *remoteFS) key(name string) string {
	if name == "." {
		return r.prefix
	}
	return r.prefix + name
}

func (r *remoteFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	r.mu.Lock()
	if f, ok := r.opened[name]; ok {
		delete(r.opened, name)
		r.mu.Unlock()
		return f.(fs.File), nil
	}
	r.mu.Unlock()
	ctx := context.Background()
	if name != "." {
		f, err := r.st.Open(ctx, r.key(name))
		if err == nil {
			return f.(fs.File), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if list, lerr := r.st.List(ctx, r.key(name)+"/"); lerr != nil || len(list) == 0 {
			return nil, err
		}
	}
	list, err := r.st.List(ctx, strings.TrimSuffix(r.key(name), "/")+"/")
	if name == "." && r.prefix == "" {
		list, err = r.st.List(ctx, "")
	}
	if err != nil {
		return nil, err
	}
	return &remoteDir{name: path.Base(name), list: list}, nil
}

func (r *remoteFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	prefix := r.key(name)
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return r.st.List(context.Background(), prefix)
}

func (r *remoteFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return remoteInfo{name: ".", dir: true}, nil
	}
	r.mu.Lock()
	if f, ok := r.opened[name]; ok {
		r.mu.Unlock()
		return remoteInfo{name: path.Base(name), size: f.Size()}, nil
	}
	r.mu.Unlock()
	ctx := context.Background()
	size, err := r.st.Stat(ctx, r.key(name))
	if err == nil {
		return remoteInfo{name: path.Base(name), size: size}, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if list, lerr := r.st.List(ctx, r.key(name)+"/"); lerr == nil && len(list) > 0 {
			return remoteInfo{name: path.Base(name), dir: true}, nil
		}
	}
	return nil, err
}

// remoteInfo describes an object or a folder (a prefix).
type remoteInfo struct {
	name string
	size int64
	dir  bool
}

func (i remoteInfo) Name() string { return i.name }
func (i remoteInfo) Size() int64  { return i.size }
func (i remoteInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (i remoteInfo) ModTime() time.Time         { return time.Time{} }
func (i remoteInfo) IsDir() bool                { return i.dir }
func (i remoteInfo) Sys() any                   { return nil }
func (i remoteInfo) Type() fs.FileMode          { return i.Mode().Type() }
func (i remoteInfo) Info() (fs.FileInfo, error) { return i, nil }

// sortEntries sorts a listing by name and drops duplicates (an object "a" and a
// folder "a/" both list as "a"; the folder wins, as a file system has one of them).
func sortEntries(list []fs.DirEntry) []fs.DirEntry {
	slices.SortStableFunc(list, func(a, b fs.DirEntry) int {
		if c := strings.Compare(a.Name(), b.Name()); c != 0 {
			return c
		}
		if a.IsDir() == b.IsDir() {
			return 0
		}
		if a.IsDir() {
			return -1
		}
		return 1
	})
	return slices.CompactFunc(list, func(a, b fs.DirEntry) bool { return a.Name() == b.Name() })
}

// remoteDir is an open remote folder.
type remoteDir struct {
	name string
	list []fs.DirEntry
	pos  int
}

func (d *remoteDir) Stat() (fs.FileInfo, error) { return remoteInfo{name: d.name, dir: true}, nil }
func (d *remoteDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a folder")}
}
func (d *remoteDir) Close() error { return nil }
func (d *remoteDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.list[d.pos:]
	if n <= 0 {
		d.pos = len(d.list)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.pos += len(rest)
	return rest, nil
}

// idleTimeout is how long a response may go without sending a byte before its read
// fails: a connection lost without a reset (a network partition, a server frozen mid-
// response) would otherwise hang a read forever. Tests shorten it.
var idleTimeout = 2 * time.Minute

// watchdog cancels a request's context when its response stalls for idleTimeout.
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

var errStalled = fmt.Errorf("the server sent nothing for too long: %w", os.ErrDeadlineExceeded)

func newWatchdog(parent context.Context) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel}
	w.timer = time.AfterFunc(idleTimeout, func() { cancel(errStalled) })
	return w
}

// touch records progress; stop releases the context and timer.
func (w *watchdog) touch() { w.timer.Reset(idleTimeout) }
func (w *watchdog) stop()  { w.timer.Stop(); w.cancel(nil) }

// explain turns the error of a request the watchdog cancelled into errStalled.
func (w *watchdog) explain(err error) error {
	if err != nil && context.Cause(w.ctx) == errStalled {
		return errStalled
	}
	return err
}

// watchedBody is a response body under a watchdog.
type watchedBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.w.touch()
	}
	if err != nil && err != io.EOF {
		err = b.w.explain(err)
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// get fetches a range under a watchdog.
func (f *rangeFile) get(off, n int64) (io.ReadCloser, error) {
	w := newWatchdog(context.Background())
	body, err := f.fetch(w.ctx, off, n)
	if err != nil {
		err = w.explain(err)
		w.stop()
		return nil, err
	}
	return &watchedBody{body, w}, nil
}

// rangeFetcher fetches n bytes at off of one object with one request, checking that the
// server answered that range (status, Content-Range, length) and nothing else. The
// returned body yields exactly n bytes or an error.
type rangeFetcher func(ctx context.Context, off, n int64) (io.ReadCloser, error)

// Block cache parameters. Header parsing reads small pieces front to back; the first
// miss fetches firstBlock bytes and each miss that continues the previous fetch doubles
// it up to maxBlock, so a multi-megabyte header costs a handful of requests and a
// 100-byte one costs one. Reads of more than directRead bytes (tensor data) bypass the
// cache and fetch exactly what is asked, into the caller's buffer.
const (
	firstBlock = 64 << 10
	maxBlock   = 4 << 20
	directRead = 1 << 20
	keptBlocks = 2
)

// rangeFile is a remote object read at any offset: File, fs.File and RangeCopier.
type rangeFile struct {
	url   string // how errors name it
	size  int64
	fetch rangeFetcher

	mu      sync.Mutex
	blocks  []cachedBlock // most recent last
	lastEnd int64         // end of the last block fetched, for read-ahead
	lastLen int64
	pos     int64 // for Read
	closed  bool
}

type cachedBlock struct {
	off  int64
	data []byte
}

func newRangeFile(url string, size int64, fetch rangeFetcher) *rangeFile {
	return &rangeFile{url: url, size: size, fetch: fetch, lastEnd: -1}
}

func (f *rangeFile) Size() int64 { return f.size }

func (f *rangeFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("refit: %s: negative offset", f.url)
	}
	if off >= f.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := min(int64(len(p)), f.size-off)
	var err error
	if want > directRead {
		err = f.readDirect(p[:want], off)
	} else {
		err = f.readCached(p[:want], off)
	}
	if err != nil {
		return 0, err
	}
	if want < int64(len(p)) {
		return int(want), io.EOF
	}
	return int(want), nil
}

func (f *rangeFile) readDirect(p []byte, off int64) error {
	_, err := f.copyRange(&sliceWriter{p: p}, off, int64(len(p)))
	return err
}

// resumes is how many times a range whose response broke off (a dropped connection, a
// stalled server) is asked for again, from the first byte not yet received; a long
// read of a large model should not fail for one lost connection. A server that lies
// (ErrFormat) is not asked again, and a request that fails outright has had the
// client's own retries.
const resumes = 3

// copyRange writes the n bytes at off to w, resuming a broken response. Read errors
// name the object and range; w's errors are returned as they are.
func (f *rangeFile) copyRange(w io.Writer, off, n int64) (int64, error) {
	var done int64
	var buf []byte
	for attempt := 0; ; attempt++ {
		body, err := f.get(off+done, n-done)
		if err != nil {
			return done, err
		}
		var c int64
		var rerr, werr error
		if sw, ok := w.(*sliceWriter); ok {
			// Straight into the caller's buffer.
			var m int
			m, rerr = io.ReadFull(body, sw.p[done:n])
			c = int64(m)
		} else {
			if buf == nil {
				buf = make([]byte, min(n, 1<<20))
			}
			c, rerr, werr = copyBody(w, body, n-done, buf)
		}
		if rerr == nil && werr == nil {
			rerr = endOfBody(body)
		}
		body.Close()
		done += c
		if werr != nil {
			return done, werr
		}
		if rerr == nil || (done == n && !errors.Is(rerr, ErrFormat)) {
			return done, nil
		}
		if errors.Is(rerr, ErrFormat) || attempt == resumes || done == n {
			return done, f.readError(off, n, rerr)
		}
	}
}

// sliceWriter marks a copyRange into a byte slice, which the body is read into directly.
type sliceWriter struct{ p []byte }

func (s *sliceWriter) Write(b []byte) (int, error) {
	return 0, errors.New("refit: sliceWriter written to")
}

// copyBody copies n bytes of body to w through buf, telling read errors (rerr) from
// write errors (werr).
func copyBody(w io.Writer, body io.Reader, n int64, buf []byte) (c int64, rerr, werr error) {
	for c < n {
		m, err := body.Read(buf[:min(int64(len(buf)), n-c)])
		if m > 0 {
			if _, werr = w.Write(buf[:m]); werr != nil {
				return c, nil, werr
			}
			c += int64(m)
		}
		if err == io.EOF && c < n {
			return c, io.ErrUnexpectedEOF, nil
		}
		if err != nil && err != io.EOF {
			return c, err, nil
		}
		if err == io.EOF {
			break
		}
	}
	return c, nil, nil
}

// endOfBody checks that a body has nothing after the range it was asked for: a server
// that sends more is not answering the request. (With a Content-Length, which S3 always
// sends, the end is known without waiting.)
func endOfBody(body io.Reader) error {
	var one [1]byte
	for {
		n, err := body.Read(one[:])
		if err == io.EOF {
			return nil
		}
		if err != nil || n > 0 {
			return err
		}
	}
}

// readError names the object and range of a failed read. A body that ends early is
// io.ErrUnexpectedEOF, as for a truncated local file.
func (f *rangeFile) readError(off, n int64, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("refit: %s: reading bytes %d-%d: %w", f.url, off, off+n-1, err)
}

func (f *rangeFile) readCached(p []byte, off int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("refit: %s: %w", f.url, fs.ErrClosed)
	}
	for len(p) > 0 {
		if n := f.fromCache(p, off); n > 0 {
			p, off = p[n:], off+int64(n)
			continue
		}
		size := int64(firstBlock)
		if off >= f.lastEnd-int64(firstBlock) && off <= f.lastEnd && f.lastEnd > 0 {
			size = min(2*f.lastLen, maxBlock) // reading on: fetch more ahead
		}
		size = max(size, int64(len(p)))
		size = min(size, f.size-off)
		data := make([]byte, size)
		if err := f.readDirect(data, off); err != nil {
			return err
		}
		f.blocks = append(f.blocks, cachedBlock{off, data})
		if len(f.blocks) > keptBlocks {
			f.blocks = slices.Delete(f.blocks, 0, len(f.blocks)-keptBlocks)
		}
		f.lastEnd, f.lastLen = off+size, size
	}
	return nil
}

// fromCache copies what a cached block holds at off into p and returns the count.
func (f *rangeFile) fromCache(p []byte, off int64) int {
	for i := len(f.blocks) - 1; i >= 0; i-- {
		b := f.blocks[i]
		if off >= b.off && off < b.off+int64(len(b.data)) {
			return copy(p, b.data[off-b.off:])
		}
	}
	return 0
}

// CopyRange streams n bytes at off to w with one request (tensor.RangeCopier), so
// copying a tensor from remote storage holds no more than a copy buffer.
func (f *rangeFile) CopyRange(w io.Writer, off, n int64) (int64, error) {
	if off < 0 || n < 0 || off > f.size || n > f.size-off {
		return 0, f.readError(off, n, io.ErrUnexpectedEOF)
	}
	if n == 0 {
		return 0, nil
	}
	return f.copyRange(w, off, n)
}

// Read reads on from the last Read, for fs.File.
func (f *rangeFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	pos := f.pos
	f.mu.Unlock()
	n, err := f.ReadAt(p, pos)
	f.mu.Lock()
	f.pos = pos + int64(n)
	f.mu.Unlock()
	return n, err
}

func (f *rangeFile) Stat() (fs.FileInfo, error) {
	return remoteInfo{name: path.Base(f.url), size: f.size}, nil
}

func (f *rangeFile) Close() error {
	f.mu.Lock()
	f.closed = true
	f.blocks = nil
	f.mu.Unlock()
	return nil
}

// checkedBody yields exactly n bytes of a response body and fails if the server sends
// fewer (io.ErrUnexpectedEOF) or more, counting what it reads in the stats.
type checkedBody struct {
	rc   io.ReadCloser
	left int64
	url  string
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// The range is complete: a server that sends more is not answering the request.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("refit: %s: server sent more bytes than the range requested: %w", b.url, ErrFormat)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	remoteStats.read.Add(int64(n))
	if err == io.EOF && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (b *checkedBody) Close() error { return b.rc.Close() }

// readExact fills p from a checked body and makes sure the body ends there: a server
// that sends more than the range it was asked for is not answering the request. (With
// a Content-Length, which S3 always sends, the end is known without waiting.)
func readExact(body io.Reader, p []byte) error {
	if _, err := io.ReadFull(body, p); err != nil {
		return err
	}
	var one [1]byte
	for {
		n, err := body.Read(one[:])
		if err == io.EOF {
			return nil
		}
		if err != nil || n > 0 {
			return err
		}
	}
}

// parseContentRange parses "bytes FIRST-LAST/TOTAL" (TOTAL may be "*").
func parseContentRange(s string) (first, last, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err error
	if first, err = parseNonNegative(a); err != nil {
		return 0, 0, 0, false
	}
	if last, err = parseNonNegative(b); err != nil || last < first {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = parseNonNegative(tot); err != nil {
			return 0, 0, 0, false
		}
	}
	return first, last, total, true
}

func parseNonNegative(s string) (int64, error) {
	var v int64
	if s == "" || len(s) > 18 {
		return 0, errors.New("bad number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad number")
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

// checkRange checks a ranged response's Content-Range against the request and the
// object's known size.
func checkRange(url, contentRange string, off, n, size int64) error {
	first, last, total, ok := parseContentRange(contentRange)
	if !ok {
		return fmt.Errorf("refit: %s: server answered a range request with Content-Range %q: %w", url, contentRange, ErrFormat)
	}
	if first != off || last != off+n-1 || (total >= 0 && total != size) {
		return fmt.Errorf("refit: %s: asked for bytes %d-%d of %d, server sent bytes %d-%d of %d: %w",
			url, off, off+n-1, size, first, last, total, ErrFormat)
	}
	return nil
}
