package refit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/edsrzf/mmap-go"
)

// File is an open file readable at any offset, such as a memory-mapped file.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Open opens a file or folder, recognizes its format and decodes its headers.
// Files are memory-mapped; the returned Model must be closed.
func Open(name string) (*Model, error) { return OpenWith(name, nil) }

// OpenWith is Open with decoding options; nil means defaults.
func OpenWith(name string, opts *DecodeOptions) (*Model, error) {
	if opts == nil {
		opts = &DecodeOptions{}
	}
	if IsRemote(name) {
		return openRemote(name, opts)
	}
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		fsys := DirFS(name)
		f, err := SniffFS(fsys)
		if err != nil {
			if refused := refusedEntries(fsys); refused != nil {
				return nil, fmt.Errorf("%s: %w (%w)", name, err, refused)
			}
			return nil, fmt.Errorf("%s: %w", ShowPath(name), err)
		}
		m, err := f.DecodeFS(fsys, ".", opts)
		if err != nil {
			return nil, err
		}
		m.Format = f.Name
		return m, nil
	}
	file, err := OpenMapped(name)
	if err != nil {
		return nil, err
	}
	f, err := Sniff(file, file.Size(), name)
	file.Close()
	if err != nil {
		return nil, err
	}
	return OpenAs(f, name, opts)
}

// OpenAs opens a file known to be in format f, without sniffing.
func OpenAs(f *Format, name string, opts *DecodeOptions) (*Model, error) {
	if opts == nil {
		opts = &DecodeOptions{}
	}
	var (
		m   *Model
		err error
	)
	if f.DecodeFS != nil {
		fsys, base := FileFS(name)
		m, err = f.DecodeFS(fsys, base, opts)
	} else {
		var file File
		if file, err = OpenFile(name); err != nil {
			return nil, err
		}
		if m, err = f.Decode(file, file.Size(), opts); err != nil {
			file.Close()
		} else {
			m.AddCloser(file)
		}
	}
	if err != nil {
		return nil, err
	}
	m.Format = f.Name
	return m, nil
}

// OpenFile opens a local file memory-mapped (OpenMapped) or a remote URL (s3://,
// https://) for ranged reads.
func OpenFile(name string) (File, error) {
	if !IsRemote(name) {
		return OpenMapped(name)
	}
	st, key, err := OpenStorage(name)
	if err != nil {
		return nil, err
	}
	return st.Open(context.Background(), key)
}

// openRemote is OpenWith for a URL: a folder (a prefix) is sniffed and decoded as a
// local folder is; a file is opened once, and the open file is handed to the decoder
// (with its first block cached) rather than fetched again.
func openRemote(name string, opts *DecodeOptions) (*Model, error) {
	st, key, err := OpenStorage(name)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	// An object is opened straight away (its first block comes with the answer); only
	// a key that is no object may be a folder.
	var file File
	dir := key == "" || strings.HasSuffix(key, "/")
	if !dir {
		if file, err = st.Open(ctx, key); errors.Is(err, fs.ErrNotExist) {
			if list, lerr := st.List(ctx, key+"/"); lerr == nil && len(list) > 0 {
				dir, err = true, nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if dir {
		fsys, err := RemoteFS(name)
		if err != nil {
			return nil, err
		}
		f, err := SniffFS(fsys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ShowPath(name), err)
		}
		m, err := f.DecodeFS(fsys, ".", opts)
		if err != nil {
			return nil, err
		}
		m.Format = f.Name
		return m, nil
	}
	// Named without the query string, so its extension is the file's.
	f, err := Sniff(file, file.Size(), strings.TrimSuffix(ShowPath(name), "?"+redactedQuery))
	if err != nil {
		file.Close()
		return nil, err
	}
	var m *Model
	if f.DecodeFS != nil {
		dirKey, base := path.Split(key)
		fsys := &remoteFS{st: st, prefix: dirKey, opened: map[string]File{base: file}}
		m, err = f.DecodeFS(fsys, base, opts)
		fsys.closeUnused()
	} else if m, err = f.Decode(file, file.Size(), opts); err == nil {
		m.AddCloser(file)
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	m.Format = f.Name
	return m, nil
}

// OpenFS opens name in fsys as a File. Files that already support ReadAt (os.File,
// fstest.MapFS, DirFS) are used directly; others are read into memory.
func OpenFS(fsys fs.FS, name string) (File, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	if rf, ok := f.(File); ok {
		return rf, nil
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return &sizedFile{ReaderAt: ra, Closer: f, size: st.Size()}, nil
	}
	b, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	return &sizedFile{ReaderAt: bytesReaderAt(b), Closer: io.NopCloser(nil), size: int64(len(b))}, nil
}

type sizedFile struct {
	io.ReaderAt
	io.Closer
	size int64
}

func (f *sizedFile) Size() int64 { return f.size }

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// MappedFile is a read-only memory-mapped file.
type MappedFile struct {
	f    *os.File
	m    mmap.MMap
	name string
	mu   sync.Mutex // serializes CopyRange, which moves the file offset
	crcs knownCRCs  // checksums of byte ranges (mapcrc.go)
}

// OpenMapped memory-maps a file for reading. Empty files are supported. Like
// OpenRegular, it refuses anything but a regular file without blocking.
func OpenMapped(name string) (*MappedFile, error) {
	f, err := OpenRegular(name)
	if err != nil {
		return nil, err
	}
	return mapFile(f, name)
}

// mapFile maps f, opened for reading, and takes ownership of it. It checks f is a
// regular file on the open descriptor, so a file swapped since an earlier stat is caught.
func mapFile(f *os.File, name string) (*MappedFile, error) {
	st, err := f.Stat()
	if err == nil {
		err = regular(name, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	mf := &MappedFile{f: f, name: name}
	if st.Size() > 0 {
		mf.m, err = mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("refit: mmap %s: %w", name, err)
		}
		registerMapping(mf.m, name)
	}
	return mf, nil
}

// Fd returns the file's descriptor, for libraries that open files only by name
// (through /proc/self/fd on Linux); it is valid until Close.
func (f *MappedFile) Fd() uintptr { return f.f.Fd() }

// Bytes returns the mapped bytes; they are valid until Close and must not be modified.
// Pages touched through Bytes count toward resident memory; bulk tensor reads should go
// through ReadAt.
func (f *MappedFile) Bytes() []byte { return f.m }

// Size is the file size.
func (f *MappedFile) Size() int64 { return int64(len(f.m)) }

// ReadAt implements io.ReaderAt. It reads with pread rather than copying from the
// mapping, so streaming a whole file through ReadAt leaves the pages in the page cache
// without counting them in the process's resident memory.
func (f *MappedFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("refit: negative offset")
	}
	return f.f.ReadAt(p, off)
}

// CopyRange copies n bytes at off to w. It moves the file offset (ReadAt does not use
// it), so that io.Copy can hand an *os.File destination - or a bufio.Writer over one -
// an io.LimitedReader of this file, which Linux copies with copy_file_range, without
// the bytes passing through this process.
//
// An output file of this package (see CreatePendingOutput) takes the bytes itself, to
// keep the copy aligned (see copyMapped).
func (f *MappedFile) CopyRange(w io.Writer, off, n int64) (int64, error) {
	if c, ok := w.(mappedCopier); ok {
		return c.copyMapped(f, off, n)
	}
	return f.copyRange(w, off, n)
}

// copyRange is CopyRange through w's ReadFrom (copy_file_range for a file).
func (f *MappedFile) copyRange(w io.Writer, off, n int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.f.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	c, err := io.Copy(w, &io.LimitedReader{R: f.f, N: n})
	if err == nil && c < n {
		err = io.ErrUnexpectedEOF
	}
	return c, err
}

// Read, Stat and Close make a MappedFile an fs.File.
func (f *MappedFile) Read(p []byte) (int, error) { return f.f.Read(p) }

// Stat implements fs.File.
func (f *MappedFile) Stat() (fs.FileInfo, error) { return f.f.Stat() }

// Close unmaps and closes the file.
func (f *MappedFile) Close() error {
	var err error
	if f.m != nil {
		unregisterMapping(f.m)
		err = f.m.Unmap()
		f.m = nil
	}
	return errors.Join(err, f.f.Close())
}
