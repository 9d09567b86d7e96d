package refit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
)

// Remote outputs. The bytes go to a local temporary copy, which verification re-reads
// as it would a local output (so every command's verification works unchanged), and
// to the store, as a multipart upload that is completed only on Commit. PendingOutput
// streams each file's upload while it is written; PendingFile, whose writers may seek
// back (GGUF offsets, ONNX patches), uploads its finished copy on Commit.

// remoteTarget is an object an output will become.
type remoteTarget struct {
	st        Storage
	key       string
	overwrite bool
	// upload streams a PendingFile's bytes while they are written in order; it is
	// dropped (and the finished copy uploaded by Commit) once a writer seeks or writes
	// at an offset. Nil for a PendingOutput, whose members stream themselves.
	upload PendingObject
}

func (r *remoteTarget) streaming() bool { return r.upload != nil }

func (r *remoteTarget) stream(b []byte) error {
	if r.upload == nil {
		return nil
	}
	_, err := r.upload.Write(b)
	return err
}

// stopStreaming aborts the streamed upload: the copy will be uploaded whole by Commit.
func (r *remoteTarget) stopStreaming() {
	if r.upload != nil {
		r.upload.Abort()
		r.upload = nil
	}
}

// WriteAt writes at an offset: for a remote target, the upload no longer follows the
// file and Commit uploads the finished copy instead.
func (p *PendingFile) WriteAt(b []byte, off int64) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	if p.remote != nil {
		p.remote.stopStreaming()
	}
	n, err := p.File.WriteAt(b, off)
	if err != nil {
		err = p.targetError(err)
	}
	return n, err
}

// Seek moves the file offset; for a remote target, as WriteAt, it ends streaming.
func (p *PendingFile) Seek(offset int64, whence int) (int64, error) {
	if p.remote != nil {
		p.remote.stopStreaming()
	}
	return p.File.Seek(offset, whence)
}

// Truncate changes the file's size; for a remote target, as WriteAt, it ends streaming.
func (p *PendingFile) Truncate(size int64) error {
	if p.remote != nil {
		p.remote.stopStreaming()
	}
	return p.File.Truncate(size)
}

// bucketChecker is implemented by stores that can tell early that an output has
// nowhere to go (a missing bucket), before any work is done.
type bucketChecker interface {
	checkBucket(ctx context.Context) error
}

// remoteOutputStart checks that key may be written: its bucket exists and, unless
// overwrite, no object has that key.
func remoteOutputStart(ctx context.Context, st Storage, key string, overwrite bool) error {
	if bc, ok := st.(bucketChecker); ok {
		if err := bc.checkBucket(ctx); err != nil {
			return err
		}
	}
	if overwrite || key == "" || key[len(key)-1] == '/' {
		return nil
	}
	_, err := st.Stat(ctx, key)
	if err == nil {
		return fmt.Errorf("%w: %s", ErrExists, st.URL(key))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// localSpool reserves a temporary name in the system's temporary folder for the local
// copy of a remote output named base; AbortPending removes it like any temporary file.
func localSpool(base string) (string, error) {
	if base == "" || base == "." || base == "/" {
		base = "output"
	}
	return newTempName(filepath.Join(os.TempDir(), base))
}

func createPendingRemote(ctx context.Context, target string, overwrite bool) (*PendingFile, error) {
	st, key, err := OpenStorage(target)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if key == "" || key[len(key)-1] == '/' {
		return nil, fmt.Errorf("refit: output %s names a folder; name an output file: %w", target, fs.ErrInvalid)
	}
	upload, err := st.Create(ctx, key) // refuses stores that cannot be written
	if err != nil {
		return nil, err
	}
	if err := remoteOutputStart(ctx, st, key, overwrite); err != nil {
		return nil, err
	}
	name, err := localSpool(path.Base(key))
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		forget(name)
		return nil, err
	}
	return &PendingFile{File: f, ctx: ctx, target: target, remote: &remoteTarget{st: st, key: key, overwrite: overwrite, upload: upload}}, nil
}

// commitRemote uploads the finished local copy and removes it.
func (p *PendingFile) commitRemote() error {
	name := p.File.Name()
	defer func() {
		os.Remove(name)
		forget(name)
	}()
	if err := p.File.Close(); err != nil {
		p.remote.stopStreaming()
		return p.targetError(err)
	}
	if err := p.ctx.Err(); err != nil {
		p.remote.stopStreaming()
		return err
	}
	r := p.remote
	if err := remoteOutputStart(p.ctx, r.st, r.key, r.overwrite); err != nil {
		r.stopStreaming()
		return err
	}
	if r.upload != nil {
		// Written in order from start to end: the upload has every byte.
		up := r.upload
		r.upload = nil
		pending.Lock()
		aborting := pending.aborting
		pending.Unlock()
		if aborting {
			up.Abort()
			return errAborting
		}
		return up.Commit()
	}
	src, err := os.Open(name)
	if err != nil {
		return p.targetError(err)
	}
	defer src.Close()
	up, err := r.st.Create(p.ctx, r.key)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(up, src, make([]byte, 1<<20)); err != nil {
		up.Abort()
		return err
	}
	pending.Lock()
	aborting := pending.aborting
	pending.Unlock()
	if aborting {
		up.Abort()
		return errAborting
	}
	return up.Commit()
}

// teeWriter writes to the local copy and the upload.
type teeWriter struct {
	file   io.Writer
	upload PendingObject
}

func (t teeWriter) Write(b []byte) (int, error) {
	n, err := t.file.Write(b)
	if err != nil {
		return n, err
	}
	return t.upload.Write(b[:n])
}

// createPendingOutputRemote is CreatePendingOutput for an s3:// target: the files go to
// a local temporary folder and are streamed to the store as they are written.
func createPendingOutputRemote(ctx context.Context, target string, folder, overwrite bool) (*PendingOutput, error) {
	st, key, err := OpenStorage(target)
	if err != nil {
		return nil, err
	}
	prefix := key
	if folder {
		if prefix != "" && prefix[len(prefix)-1] != '/' {
			prefix += "/"
		}
	} else {
		if key == "" || key[len(key)-1] == '/' {
			return nil, fmt.Errorf("refit: output %s names a folder; name an output file: %w", target, fs.ErrInvalid)
		}
		if prefix, _ = path.Split(key); prefix == "." {
			prefix = ""
		}
	}
	if _, err := st.Create(ctx, prefix+"probe"); err != nil { // refuses stores that cannot be written
		return nil, err
	}
	if err := remoteOutputStart(ctx, st, key, overwrite || folder); err != nil {
		return nil, err
	}
	tmp, err := localSpool(path.Base("/" + prefix))
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		forget(tmp)
		return nil, err
	}
	return &PendingOutput{ctx: ctx, dir: target, tmp: tmp, overwrite: overwrite, remote: &remoteTarget{st: st, key: prefix, overwrite: overwrite}}, nil
}

// commitRemote completes the uploads in creation order (the file naming the others
// last); if one fails, the objects already completed are removed.
func (o *PendingOutput) commitRemote() ([]string, error) {
	fail := func(err error) ([]string, error) {
		o.Abort()
		return nil, err
	}
	r := o.remote
	for _, f := range o.files {
		if err := f.Close(); err != nil {
			return fail(err)
		}
		if !o.overwrite {
			if err := remoteOutputStart(o.ctx, r.st, r.key+f.name(), false); err != nil {
				return fail(err)
			}
		}
	}
	if err := o.ctx.Err(); err != nil {
		return fail(err)
	}
	urls := make([]string, 0, len(o.files))
	for _, f := range o.files {
		f.File.Close()
		err := f.upload.Commit()
		if err == nil {
			pending.Lock()
			if pending.aborting {
				err = errAborting
			}
			pending.Unlock()
		}
		if err != nil {
			ctx := context.WithoutCancel(o.ctx)
			for _, done := range o.files[:len(urls)] {
				r.st.Remove(ctx, r.key+done.name())
			}
			if !errors.Is(err, errAborting) {
				return fail(err)
			}
			r.st.Remove(ctx, r.key+f.name())
			return fail(err)
		}
		urls = append(urls, f.target)
	}
	o.done = true
	RemovePendingDir(o.tmp)
	return urls, nil
}

func (m *pendingMember) name() string { return path.Base(m.target) }
