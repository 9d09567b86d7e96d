package refit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CreateFunc creates one file of an output that may span several files. name is a
// plain file name inside the output folder: no slash or backslash, not "." or "..".
type CreateFunc func(name string) (io.WriteCloser, error)

// WriteFile creates name and writes data to it, as os.WriteFile does for a path.
func (create CreateFunc) WriteFile(name string, data []byte) error {
	w, err := create(name)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// ErrNoShards reports EncodeOptions.ShardSize given to a format that writes one file.
// It wraps ErrUnsupported.
var ErrNoShards = fmt.Errorf("output cannot be split into shards: %w", ErrUnsupported)

// EncodeOptions are the output choices that apply across formats; each format uses
// those that mean something to it. The zero value means defaults.
type EncodeOptions struct {
	// Name is the output's main file name ("model.onnx", "weights.npy"); formats name
	// side files after it. Empty means the output is a whole folder and the format
	// picks its own names ("model.safetensors", "model.json").
	Name string
	// ShardSize splits tensor data into files of at most this many bytes where the
	// format can (safetensors shards with an index, TF.js shards); 0 means the
	// format's default (one file for safetensors).
	ShardSize int64
	// ExternalData keeps tensor data in a side file named after Name where the
	// format can (ONNX); formats that cannot ignore it.
	ExternalData bool
	// Topology is the Keras model topology (JSON) the weights belong to, for formats
	// that store one (TF.js layers models); nil means the model's own.
	Topology []byte
}

// KerasConfigKeys are the metadata keys under which the Keras-family readers keep a
// model's layer configuration, in the order they are consulted.
var KerasConfigKeys = []string{"keras.model_config", "keras.config", "tfjs.model_topology"}

// KerasConfig returns the Keras layer configuration m carries, or "".
func KerasConfig(m *Model) string {
	for _, key := range KerasConfigKeys {
		if cfg := m.Metadata.String(key); cfg != "" {
			return cfg
		}
	}
	return ""
}

// PrepareFor returns m as format f stores it (see Format.Prepare); m itself when f
// has no Prepare. opts may be nil.
func (f *Format) PrepareFor(m *Model, opts *EncodeOptions) (*Model, error) {
	if f.Prepare == nil {
		return m, nil
	}
	if opts == nil {
		opts = &EncodeOptions{}
	}
	return f.Prepare(m, opts)
}

// EncodeTo writes m through create: with EncodeFS when the format has it, otherwise
// as one file named opts.Name written by Encode. It is the one way to write a model
// of any registered format; opts may be nil.
func (f *Format) EncodeTo(create CreateFunc, m *Model, opts *EncodeOptions) error {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	if f.EncodeFS != nil {
		return f.EncodeFS(create, m, opts)
	}
	if f.Encode == nil {
		return Unsupportedf(f.Name, "writing %s", f.Name)
	}
	if opts.ShardSize > 0 {
		return fmt.Errorf("refit: %s: %w", f.Name, ErrNoShards)
	}
	if opts.Name == "" {
		return fmt.Errorf("refit: %s output is one file and needs a file name: %w", f.Name, ErrUnsupported)
	}
	w, err := create(opts.Name)
	if err != nil {
		return err
	}
	if err := f.Encode(w, m); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Writable reports whether the format can write models.
func (f *Format) Writable() bool { return f.Encode != nil || f.EncodeFS != nil }

// PendingOutput is an output of one or more files being written into a temporary
// folder beside (or, for a folder output, inside) the output folder. Commit moves the
// files into place in the order they were created, so the file that names the others
// (an index, model.json, an ONNX model with external data), created last, appears
// last; Abort removes them. Between the two the files can be re-read for verification
// under Path. As with PendingFile, writes fail once the context is done and a crash
// leaves only a hidden temporary folder (see TempPrefix), which AbortPending removes.
type PendingOutput struct {
	ctx       context.Context
	dir, tmp  string // the output folder and the temporary one
	overwrite bool
	madeDir   bool // dir was made for this output: removed on Abort if still empty
	files     []*pendingMember
	done      bool
	remote    *remoteTarget // for an s3:// output: key is the prefix of the files
	readBack  readBackSet   // see ReadBack (output_readback.go)
}

type pendingMember struct {
	*PendingFile
	w      *bufio.Writer // nil once closed
	upload PendingObject // for a remote output
	back   *readBack     // re-reads what copies write (see PendingOutput.ReadBack); nil for none
}

var errClosedMember = errors.New("refit: write to a closed output file")

func (p *pendingMember) Write(b []byte) (int, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	return p.w.Write(b)
}

// ReadFrom keeps the file-to-file copy of PendingFile.ReadFrom after what is buffered.
func (p *pendingMember) ReadFrom(r io.Reader) (int64, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	return p.w.ReadFrom(r)
}

// Offset is where the next byte written lands in the file. A file streamed to a
// remote target as it is written has none: a writer that would go back and rewrite
// bytes (a zip member's CRC-32, ziparchive.Writer.Copy) must not end the streaming.
func (p *pendingMember) Offset() (int64, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	if p.remote != nil && p.remote.streaming() {
		return 0, errStreaming
	}
	pos, err := p.File.Seek(0, io.SeekCurrent)
	return pos + int64(p.w.Buffered()), err
}

var errStreaming = errors.New("refit: output streams to its remote target as it is written")

// WriteAt writes b at off, after what is buffered has reached the file.
func (p *pendingMember) WriteAt(b []byte, off int64) (int, error) {
	if p.w == nil {
		return 0, errClosedMember
	}
	if err := p.w.Flush(); err != nil {
		return 0, err
	}
	n, err := p.PendingFile.WriteAt(b, off)
	p.wrote(off, int64(n))
	return n, err
}

// Close flushes and drops the buffer, so an output of many files holds one buffer at
// a time; the file stays open until Commit or Abort.
func (p *pendingMember) Close() error {
	if p.w == nil {
		return nil
	}
	err := p.w.Flush()
	p.w = nil
	return err
}

// CreatePendingOutput starts an output. When folder is set, target is the output
// folder (made if missing) and files go inside it; otherwise target is the main file
// and files go beside it, in its folder, which must exist. Unless overwrite is set,
// Commit refuses to replace existing files.
func CreatePendingOutput(ctx context.Context, target string, folder, overwrite bool) (*PendingOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if IsRemote(target) {
		return createPendingOutputRemote(ctx, target, folder, overwrite)
	}
	o := &PendingOutput{ctx: ctx, dir: filepath.Dir(target), overwrite: overwrite}
	tmpFor := target
	if folder {
		o.dir = target
		if st, err := os.Stat(target); errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(target, 0o755); err != nil {
				return nil, err
			}
			o.madeDir = true
		} else if err == nil && !st.IsDir() {
			return nil, &outputError{fmt.Sprintf("output %s is a file, not a folder", target), fs.ErrExist}
		}
		// Inside the folder: the renames stay on one file system.
		tmpFor = filepath.Join(target, "output")
	} else if !overwrite {
		if _, err := os.Lstat(target); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrExists, target)
		}
	}
	tmp, err := CreatePendingDir(tmpFor)
	if err != nil {
		o.removeMadeDir()
		return nil, err
	}
	o.tmp = tmp
	return o, nil
}

// Create implements CreateFunc: it starts the named file in the temporary folder.
func (o *PendingOutput) Create(name string) (io.WriteCloser, error) {
	if strings.ContainsAny(name, `/\`) || !fs.ValidPath(name) || name == "." {
		return nil, fmt.Errorf("refit: output file name %q is not a plain file name: %w", name, ErrInsecurePath)
	}
	for _, f := range o.files {
		if filepath.Base(f.target) == name {
			return nil, fmt.Errorf("refit: output file %q created twice", name)
		}
	}
	if err := o.ctx.Err(); err != nil {
		return nil, err
	}
	tmp := filepath.Join(o.tmp, name)
	target := filepath.Join(o.dir, name)
	var upload PendingObject
	if o.remote != nil {
		target = o.remote.st.URL(o.remote.key + name)
		var err error
		if upload, err = o.remote.st.Create(o.ctx, o.remote.key+name); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if upload != nil {
			upload.Abort()
		}
		return nil, targetError("create", target, err)
	}
	m := &pendingMember{PendingFile: &PendingFile{File: f, ctx: o.ctx, target: target}, upload: upload}
	o.readBack.mu.Lock()
	if o.readBack.on && upload == nil {
		m.back = newReadBack(f)
	}
	o.readBack.mu.Unlock()
	if upload != nil {
		m.w = bufio.NewWriterSize(teeWriter{m.PendingFile, upload}, 1<<20)
	} else {
		m.w = bufio.NewWriterSize(m.PendingFile, 1<<20)
	}
	o.files = append(o.files, m)
	return m, nil
}

// Names lists the files created so far, in creation order.
func (o *PendingOutput) Names() []string {
	names := make([]string, len(o.files))
	for i, f := range o.files {
		names[i] = filepath.Base(f.target)
	}
	return names
}

// Path is where the named file is until Commit, for re-reading it.
func (o *PendingOutput) Path(name string) string { return filepath.Join(o.tmp, name) }

// Dir is the temporary folder holding the files until Commit.
func (o *PendingOutput) Dir() string { return o.tmp }

// Size is the number of bytes written so far, over all files.
func (o *PendingOutput) Size() int64 {
	var n int64
	for _, f := range o.files {
		if st, err := f.File.Stat(); err == nil {
			n += st.Size()
		}
		if f.w != nil {
			n += int64(f.w.Buffered())
		}
	}
	return n
}

// Commit moves every file into the output folder, in creation order, and returns
// their final paths. Nothing is moved when one of them exists and overwrite is not
// set, or when the context is done.
func (o *PendingOutput) Commit() ([]string, error) {
	if o.done {
		return nil, errors.New("refit: pending output already finished")
	}
	if o.remote != nil {
		return o.commitRemote()
	}
	fail := func(err error) ([]string, error) {
		o.Abort()
		return nil, err
	}
	o.stopReadBacks()
	for _, f := range o.files {
		if err := f.Close(); err != nil {
			return fail(err)
		}
		if !o.overwrite {
			if _, err := os.Lstat(f.target); err == nil {
				return fail(fmt.Errorf("%w: %s", ErrExists, f.target))
			}
		}
	}
	if err := o.ctx.Err(); err != nil {
		return fail(err)
	}
	paths := make([]string, 0, len(o.files))
	for _, f := range o.files {
		if err := f.PendingFile.Commit(); err != nil {
			// Never a partial output: the files already renamed into place go too.
			for _, p := range paths {
				os.Remove(p)
			}
			return fail(err)
		}
		paths = append(paths, f.target)
	}
	o.done = true
	RemovePendingDir(o.tmp)
	return paths, nil
}

// Abort removes the temporary folder with every file not yet committed, and the
// output folder if this output made it and it is still empty. It is a no-op after
// Commit.
func (o *PendingOutput) Abort() {
	if o.done {
		return
	}
	o.done = true
	o.stopReadBacks()
	for _, f := range o.files {
		f.File.Close()
		if f.upload != nil {
			f.upload.Abort()
		}
	}
	RemovePendingDir(o.tmp)
	o.removeMadeDir()
}

func (o *PendingOutput) removeMadeDir() {
	if o.remote != nil {
		return
	}
	if o.madeDir {
		os.Remove(o.dir) // fails, as it should, when not empty
	}
}
