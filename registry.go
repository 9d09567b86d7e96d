package refit

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// Format describes a file format. Decode is required; the other functions are optional.
type Format struct {
	Name       string   // short lower-case name, e.g. "safetensors"
	Extensions []string // with the dot, lower case, e.g. ".safetensors"

	// Sniff reports whether r looks like this format, reading only what it needs
	// (usually a few magic bytes). When several formats claim a file, the one whose
	// extension matches wins.
	Sniff func(r io.ReaderAt, size int64) bool

	// Decode reads headers and returns a model whose tensors read lazily from r.
	// opts is never nil.
	Decode func(r io.ReaderAt, size int64, opts *DecodeOptions) (*Model, error)

	// DecodeFS reads a model that may span several files in fsys (shards, external
	// data); name is the file the user named, or "." for a whole folder.
	DecodeFS func(fsys fs.FS, name string, opts *DecodeOptions) (*Model, error)

	// SniffFS reports whether the folder fsys holds a model of this format.
	SniffFS func(fsys fs.FS) bool

	// Encode writes m with default options as one file.
	Encode func(w io.Writer, m *Model) error

	// EncodeFS, optional, writes m as one or more files made through create (shards
	// and their index, an ONNX model and its external data, a TF.js model.json and
	// its shards, a Hugging Face folder). It creates the file that names the others
	// last: that file is the one readers open, and outputs appear in creation order.
	// opts is never nil. Without EncodeFS, EncodeTo writes Encode's single file.
	EncodeFS func(create CreateFunc, m *Model, opts *EncodeOptions) error

	// Prepare, optional, maps m onto what the format stores (names, layouts, types)
	// before EncodeTo, as TF.js layers models name weights after the Keras topology;
	// a written output is compared with its result. opts is never nil.
	Prepare func(m *Model, opts *EncodeOptions) (*Model, error)

	// Folder reports that the output is a folder of files with the format's own names
	// (a TF.js model: model.json and shards), so the target names the folder.
	Folder bool
}

// DecodeOptions are the decoding choices that apply across formats; each format
// uses those that mean something to it. The zero value means defaults.
type DecodeOptions struct {
	// Key selects one sub-tree of a nested checkpoint (e.g. "state_dict"), dotted.
	Key string
	// Extract rebuilds unknown pickled classes as inert records and extracts every
	// tensor reachable from them (full-model pickles, TorchScript archives).
	Extract bool
	// MaxMemory is the memory budget of the call in bytes: what decoders may spend on
	// structures whose size the input chooses (pickled objects, metadata arrays,
	// decompressed data). Zero means DefaultMaxMemory; negative means no limit.
	// Exceeding it is an error wrapping ErrBudget. See NewBudget.
	MaxMemory int64
}

var (
	formatsMu sync.RWMutex
	formats   = map[string]*Format{}
)

// Register makes a format known to Open and Lookup. It panics if the name is empty,
// already registered, or Decode is nil: these are programmer errors.
func Register(f Format) {
	formatsMu.Lock()
	defer formatsMu.Unlock()
	if f.Name == "" || f.Decode == nil {
		panic("refit: Register of a format without a name or Decode")
	}
	if _, dup := formats[f.Name]; dup {
		panic("refit: Register called twice for format " + f.Name)
	}
	formats[f.Name] = &f
}

// Formats returns the registered formats sorted by name.
func Formats() []*Format {
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	return sortedFormats()
}

// Lookup returns the format with the given name or one of its extensions
// ("safetensors", ".pt", "pt").
func Lookup(name string) (*Format, error) {
	n := strings.ToLower(name)
	formatsMu.RLock()
	defer formatsMu.RUnlock()
	if f, ok := formats[n]; ok {
		return f, nil
	}
	if !strings.HasPrefix(n, ".") {
		n = "." + n
	}
	for _, f := range sortedFormats() {
		if slices.Contains(f.Extensions, n) {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w %q; known formats: %s", ErrUnknownFormat, name, describeFormats(sortedFormats(), nil))
}

// DescribeFormats lists the registered formats for which keep reports true (all when
// keep is nil) as "name (.ext .ext)", sorted by name, for messages.
func DescribeFormats(keep func(*Format) bool) string {
	return describeFormats(Formats(), keep)
}

func describeFormats(fs []*Format, keep func(*Format) bool) string {
	var parts []string
	for _, f := range fs {
		if keep != nil && !keep(f) {
			continue
		}
		if len(f.Extensions) == 0 {
			parts = append(parts, f.Name)
			continue
		}
		parts = append(parts, f.Name+" ("+strings.Join(f.Extensions, " ")+")")
	}
	return strings.Join(parts, ", ")
}

// sortedFormats is Formats without locking; callers hold formatsMu.
func sortedFormats() []*Format {
	out := make([]*Format, 0, len(formats))
	for _, f := range formats {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Format) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ForPath returns the format a file name's extension names, for choosing an encoder.
func ForPath(name string) (*Format, error) {
	ext := strings.ToLower(path.Ext(name))
	if ext == "" {
		return nil, fmt.Errorf("%w: %q has no extension; name the format (known: %s)", ErrUnknownFormat, name, DescribeFormats(nil))
	}
	return Lookup(ext)
}

// Sniff returns the format of r, preferring the one whose extension matches name
// when several formats recognize the content.
func Sniff(r io.ReaderAt, size int64, name string) (*Format, error) {
	ext := strings.ToLower(path.Ext(name))
	var match []*Format
	for _, f := range Formats() {
		if f.Sniff != nil && f.Sniff(r, size) {
			match = append(match, f)
		}
	}
	for _, f := range match {
		if slices.Contains(f.Extensions, ext) {
			return f, nil
		}
	}
	if len(match) > 0 {
		return match[0], nil
	}
	hint := ""
	if f, err := Lookup(ext); ext != "" && err == nil {
		hint = fmt.Sprintf(" (named like a %s file, but it does not start like one: is it complete?)", f.Name)
	}
	return nil, fmt.Errorf("%w: %s: no reader recognizes its content%s; Refit reads %s", ErrUnknownFormat, name, hint,
		DescribeFormats(func(f *Format) bool { return f.Sniff != nil }))
}

// SniffFS returns the format that recognizes the folder fsys.
func SniffFS(fsys fs.FS) (*Format, error) {
	for _, f := range Formats() {
		if f.SniffFS != nil && f.DecodeFS != nil && f.SniffFS(fsys) {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w: no format recognizes this folder", ErrUnknownFormat)
}

// HasPrefix reads len(magic) bytes at offset 0 and compares them with magic.
func HasPrefix(r io.ReaderAt, size int64, magic string) bool {
	if size < int64(len(magic)) {
		return false
	}
	buf := make([]byte, len(magic))
	if _, err := r.ReadAt(buf, 0); err != nil && err != io.EOF {
		return false
	}
	return bytes.Equal(buf, []byte(magic))
}
