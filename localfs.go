package refit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// This file is the one place where Refit opens local files. Two rules hold for every
// open:
//
//   - Only regular files (and folders, for listing) are opened. A FIFO, device or socket
//     is refused before it is read, and the check cannot block: the file is stat'ed
//     first and then opened non-blocking (an open of a FIFO with no writer would wait
//     forever) and fstat'ed again, so a file swapped in between is caught too.
//   - Files that one file references (ONNX external data, TF.js weight shards,
//     safetensors index shards, TF checkpoint data files, the files of a Hugging Face
//     model folder) are opened through an os.Root on the model's folder. os.Root
//     resolves every path component itself with O_NOFOLLOW and follows a symlink only
//     when its target stays inside the root, so a symlink out of the folder (to
//     /etc/passwd, to /proc/self/fd/N, to a FIFO elsewhere) is refused, while symlinks
//     within the folder keep working. A symlink with an absolute target is refused even
//     when the target lies inside the folder: os.Root resolves it against the root,
//     and relative links (which Hugging Face caches use) are the portable form.
//
// os.Root rather than Linux's openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS): the two
// refuse the same paths (os.Root never lets the kernel follow a link, so magic links
// are refused as escaping absolute targets), but os.Root is one code path on every
// system and every kernel, where openat2 would need a fallback (kernels before 5.6,
// seccomp sandboxes that return ENOSYS, macOS, Windows) that CI would rarely exercise.
//
// What the user names on the command line is trusted: a model path or folder that is
// itself a symlink is followed (FileFS, Open, OpenRegular), as cat would. Only the
// names found inside files are confined.
//
// Hugging Face hub caches keep a model's files as symlinks from
// models--org--name/snapshots/<revision>/ into models--org--name/blobs/. A folder inside
// such a snapshot is therefore rooted at the models--org--name folder: symlinks may
// lead anywhere within that one cached repository, never out of it.

// IsLocalPath reports whether p, a path read from inside a file (a shard, an external
// data file, a checkpoint's data files, an archive member), names a file inside the
// folder it is relative to: a valid fs path (slash-separated, relative, without "",
// "." or ".." elements) that is not "." itself, has no backslash (a separator on
// Windows) and no drive letter. Like archive/zip's filepath.IsLocal check, it is the
// one check every format applies to such paths; DirFS then confines symlinks.
func IsLocalPath(p string) bool {
	return fs.ValidPath(p) && p != "." && !strings.Contains(p, `\`) && !(len(p) >= 2 && p[1] == ':')
}

// CheckLocalPath returns an error wrapping ErrInsecurePath, prefixed with the format's
// name and what p is ("shard path"), unless IsLocalPath(p).
func CheckLocalPath(format, what, p string) error {
	if !IsLocalPath(p) {
		return fmt.Errorf("%s: %s %q: %w", format, what, p, ErrInsecurePath)
	}
	return nil
}

// DirFS returns a file system rooted at dir whose regular files open memory-mapped.
// Symlinks are followed only while they stay inside dir (inside the cached repository
// for a Hugging Face cache snapshot); anything else, and any file that is not a regular
// file or folder, is refused with an error wrapping ErrInsecurePath.
//
// A URL (s3://bucket/prefix/, https://host/path/) gives the remote folder (RemoteFS).
func DirFS(dir string) fs.FS {
	if IsRemote(dir) {
		fsys, err := RemoteFS(dir)
		if err != nil {
			return errFS{err}
		}
		return fsys
	}
	return newDirFS(dir, "")
}

// errFS fails every open with the error that kept a file system from being made.
type errFS struct{ err error }

func (e errFS) Open(string) (fs.File, error) { return nil, e.err }

// FileFS returns the folder holding the user-given file name as a DirFS, and name's
// base name within it. The base name itself is opened as given (it may be a symlink
// to anywhere, as the user chose it); the files it references are confined to the
// folder like any DirFS.
func FileFS(name string) (fsys fs.FS, base string) {
	if IsRemote(name) {
		fsys, base, err := remoteFileFS(name)
		if err != nil {
			return errFS{err}, path.Base(name)
		}
		return fsys, base
	}
	base = filepath.Base(name)
	return newDirFS(filepath.Dir(name), base), base
}

type dirFS struct {
	dir    string // the folder as given
	root   string // the folder symlinks may resolve within: dir, or a cached HF repository above it
	prefix string // dir relative to root, slash-separated; "." when they are the same
	entry  string // a user-given file in dir, opened as given; "" for none
}

func newDirFS(dir, entry string) *dirFS {
	d := &dirFS{dir: dir, root: dir, prefix: ".", entry: entry}
	if repo, rel, ok := hubRepo(dir); ok {
		d.root, d.prefix = repo, rel
	}
	return d
}

// hubRepo reports the Hugging Face hub cache repository folder (…/models--org--name)
// that holds dir when dir is (inside) one of its snapshots/<revision> folders, and
// dir's slash-separated path relative to it.
func hubRepo(dir string) (repo, rel string, ok bool) {
	real, err := filepath.EvalSymlinks(dir) // the user's own path: following it is fine
	if err != nil {
		return "", "", false
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", "", false
	}
	parts := strings.Split(filepath.ToSlash(real), "/")
	for i := len(parts) - 2; i >= 1; i-- {
		repoName := parts[i-1]
		if parts[i] != "snapshots" || !(strings.HasPrefix(repoName, "models--") ||
			strings.HasPrefix(repoName, "datasets--") || strings.HasPrefix(repoName, "spaces--")) {
			continue
		}
		repo = filepath.FromSlash(strings.Join(parts[:i], "/"))
		if repo == "" {
			repo = "/"
		}
		if st, err := os.Stat(filepath.Join(repo, "blobs")); err != nil || !st.IsDir() {
			return "", "", false
		}
		return repo, strings.Join(parts[i:], "/"), true
	}
	return "", "", false
}

// Open opens a regular file memory-mapped, or a folder for listing.
func (d *dirFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if d.entry != "" && name == d.entry {
		return OpenMapped(filepath.Join(d.dir, filepath.FromSlash(name)))
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	p := path.Join(d.prefix, name)
	st, err := r.Stat(p)
	if err != nil {
		return nil, d.rootErr(r, "open", name, err)
	}
	if st.IsDir() {
		f, err := r.Open(p)
		if err != nil {
			return nil, d.rootErr(r, "open", name, err)
		}
		return f, nil
	}
	if err := regular(d.show(name), st); err != nil {
		return nil, err
	}
	f, err := r.OpenFile(p, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, d.rootErr(r, "open", name, err)
	}
	return mapFile(f, d.show(name))
}

// ReadDir lists a folder, sorted by name.
func (d *dirFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, ok := f.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := rd.ReadDir(-1)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, err
}

// Stat describes a file, following symlinks that stay inside the folder.
func (d *dirFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if d.entry != "" && name == d.entry {
		return os.Stat(filepath.Join(d.dir, filepath.FromSlash(name)))
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	st, err := r.Stat(path.Join(d.prefix, name))
	if err != nil {
		return nil, d.rootErr(r, "stat", name, err)
	}
	return st, nil
}

// refusedEntries explains why a folder may look empty to the format sniffers, which
// report only yes or no: it returns the errors of the folder's entries that DirFS
// refuses (symlinks out of the folder, FIFOs, devices), or nil.
func refusedEntries(fsys fs.FS) error {
	list, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range list {
		if e.Type().IsRegular() || e.IsDir() {
			continue
		}
		st, err := fs.Stat(fsys, e.Name())
		if err == nil && !st.IsDir() {
			err = regular(e.Name(), st)
		}
		if errors.Is(err, ErrInsecurePath) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// show is how errors name a file: its path as the user would type it.
func (d *dirFS) show(name string) string { return filepath.Join(d.dir, filepath.FromSlash(name)) }

// rootErr turns os.Root's refusal of a path that leads out of the root into an error
// wrapping ErrInsecurePath; other errors (not found, permission) keep their meaning.
func (d *dirFS) rootErr(r *os.Root, op, name string, err error) error {
	if escapes(r, err) {
		return fmt.Errorf("refit: %s leads outside the folder %s (a symlink out of a model's folder is not followed): %w",
			d.show(name), d.root, ErrInsecurePath)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: d.show(name), Err: err}
}

// escapes reports whether err is os.Root's "path escapes from parent". The error value
// is not exported, so it is taken from a path that os.Root refuses by looking at the
// name alone, without a system call.
func escapes(r *os.Root, err error) bool {
	_, probe := r.Open("..")
	var pe *fs.PathError
	return errors.As(probe, &pe) && pe.Err != nil && errors.Is(err, pe.Err)
}

// OpenRegular opens the user-given file name for reading, following symlinks, and
// refuses anything but a regular file (a FIFO, device, socket or folder) without
// blocking on it, with an error wrapping ErrInsecurePath.
func OpenRegular(name string) (*os.File, error) {
	st, err := os.Stat(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open" // what the caller asked for; the stat is how it is done safely
		}
		return nil, err
	}
	if err := regular(name, st); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	// Again on the open file: name may have been replaced since the Stat.
	if st, err = f.Stat(); err == nil {
		err = regular(name, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func statLocal(name string) (fs.FileInfo, error) { return os.Stat(name) }

// regular returns an error wrapping ErrInsecurePath unless st is a regular file.
func regular(name string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	if st.IsDir() {
		return fmt.Errorf("refit: %s is a folder, not a regular file", name)
	}
	kind := "not a regular file"
	switch t := st.Mode().Type(); {
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("refit: %s is %s; only regular files are read: %w", name, kind, ErrInsecurePath)
}
