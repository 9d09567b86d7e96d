package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// Extension is the file extension of safetensors files.
const Extension = ".safetensors"

// IndexSuffix ends the name of a sharded model's index, e.g. model.safetensors.index.json.
const IndexSuffix = ".safetensors.index.json"

// DefaultIndex is the index file name Hugging Face libraries write and look for first.
const DefaultIndex = "model" + IndexSuffix

func init() {
	refit.Register(refit.Format{
		Name:       "safetensors",
		Extensions: []string{Extension},
		Sniff:      Sniff,
		Decode:     Decode,
		DecodeFS:   DecodeFS,
		SniffFS:    SniffFS,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
		EncodeFS:   EncodeFS,
	})
}

// Decode reads the header of a safetensors file of the given size and returns a model
// whose tensors are views of r (io.SectionReader), read only when used. opts may be nil.
// Metadata holds the __metadata__ strings in key order. The model does not own r.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	h, err := ReadHeader(r, size)
	if err != nil {
		return nil, err
	}
	m := &refit.Model{Format: "safetensors"}
	for _, k := range sortedKeys(h.Metadata) {
		m.Metadata.Set(k, h.Metadata[k])
	}
	m.Tensors = make([]*tensor.Tensor, 0, len(h.Tensors))
	for _, ti := range h.Tensors {
		data := io.NewSectionReader(r, h.DataOffset+ti.Begin, ti.End-ti.Begin)
		t, err := tensor.New(ti.Name, ti.DType, ti.Shape, data)
		if err != nil { // unreachable after validation; kept as a guard
			return nil, refit.WrapErrorf("safetensors", -1, err, "tensor %q", ti.Name)
		}
		m.Tensors = append(m.Tensors, t)
	}
	return m, nil
}

// Sniff recognizes a safetensors file (a plausible 8-byte header length followed by
// '{') or a sharded model's index (a JSON object with a "weight_map").
func Sniff(r io.ReaderAt, size int64) bool {
	var b [9]byte
	if size >= int64(len(b)) {
		if n, _ := r.ReadAt(b[:], 0); n == len(b) {
			hl := binary.LittleEndian.Uint64(b[:8])
			if hl >= 2 && hl <= MaxHeaderSize && hl <= uint64(size-8) && b[8] == '{' {
				return true
			}
		}
	}
	return sniffIndex(r, size)
}

// sniffIndex looks for "weight_map" near the start of a small JSON object.
func sniffIndex(r io.ReaderAt, size int64) bool {
	if size < 2 || size > MaxHeaderSize {
		return false
	}
	buf := make([]byte, min(size, 64<<10))
	n, _ := r.ReadAt(buf, 0)
	buf = bytes.TrimLeft(buf[:n], " \t\r\n")
	return len(buf) > 0 && buf[0] == '{' && bytes.Contains(buf, []byte(`"weight_map"`))
}

// SniffFS reports whether the root of fsys holds safetensors files or an index.
func SniffFS(fsys fs.FS) bool {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") &&
			(strings.HasSuffix(e.Name(), Extension) || strings.HasSuffix(e.Name(), IndexSuffix)) {
			return true
		}
	}
	return false
}

// DecodeFS reads a model from fsys. name is a .safetensors file, a sharded model's
// index (model.safetensors.index.json), or "." for the root folder, which must hold an
// index, or one or more .safetensors files (several are merged in name order; for
// metadata keys in several files the first file wins). With an index, the index is
// authoritative: tensors a shard holds but the index does not list are skipped, and
// string entries of the index's "metadata" are added to the model's metadata. Shard
// paths from an index must stay inside the index's folder (refit.ErrInsecurePath).
// The returned model owns the files it opened and must be closed.
func DecodeFS(fsys fs.FS, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	if name == "." {
		return decodeFolder(fsys, opts)
	}
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("safetensors: %q: %w", name, refit.ErrInsecurePath)
	}
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return decodeIndex(fsys, name, opts)
	}
	return decodeFiles(fsys, []string{name}, nil, opts)
}

func decodeFolder(fsys fs.FS, opts *refit.DecodeOptions) (*refit.Model, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var files, indexes []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") {
			continue
		}
		switch {
		case strings.HasSuffix(n, IndexSuffix):
			indexes = append(indexes, n)
		case strings.HasSuffix(n, Extension):
			files = append(files, n)
		}
	}
	switch {
	case slices.Contains(indexes, DefaultIndex):
		return decodeIndex(fsys, DefaultIndex, opts)
	case len(indexes) == 1:
		return decodeIndex(fsys, indexes[0], opts)
	case len(indexes) > 1:
		return nil, refit.Errorf("safetensors", -1, "folder holds several indexes (%s); name one", strings.Join(indexes, ", "))
	case len(files) == 0:
		return nil, refit.Errorf("safetensors", -1, "folder holds no %s files", Extension)
	}
	slices.Sort(files)
	return decodeFiles(fsys, files, nil, opts)
}

// decodeFiles opens and merges files in order. When want is non-nil it maps each tensor
// to keep to the file it must come from; other tensors are skipped.
func decodeFiles(fsys fs.FS, files []string, want map[string]string, opts *refit.DecodeOptions) (_ *refit.Model, err error) {
	out := &refit.Model{Format: "safetensors"}
	defer func() {
		if err != nil {
			out.Close()
		}
	}()
	from := map[string]string{}
	for _, name := range files {
		f, err := refit.OpenFS(fsys, name)
		if err != nil {
			return nil, refit.WrapErrorf("safetensors", -1, err, "opening shard %q", name)
		}
		out.AddCloser(f)
		m, err := Decode(f, f.Size(), opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, k := range m.Metadata.Keys() {
			if _, ok := out.Metadata.Get(k); !ok {
				v, _ := m.Metadata.Get(k)
				out.Metadata.Set(k, v)
			}
		}
		for _, t := range m.Tensors {
			if want != nil && want[t.Name] != name {
				continue
			}
			if prev, dup := from[t.Name]; dup {
				return nil, refit.Errorf("safetensors", -1, "tensor %q is in both %s and %s", t.Name, prev, name)
			}
			from[t.Name] = name
			out.Tensors = append(out.Tensors, t)
		}
	}
	for _, k := range sortedKeys(want) {
		if _, ok := from[k]; !ok {
			return nil, refit.Errorf("safetensors", -1, "tensor %q listed in the index is missing from %s", k, want[k])
		}
	}
	return out, nil
}

// Index is a sharded model's index file (model.safetensors.index.json).
type Index struct {
	// Metadata holds the index's "metadata" entries whose values are strings;
	// TotalSize is its "total_size" (0 when absent).
	Metadata  map[string]string
	TotalSize int64
	// WeightMap maps each tensor name to its shard, relative to the index's folder.
	WeightMap map[string]string
}

// ParseIndex parses and checks an index: strict JSON without duplicate keys, and every
// shard a local relative path (errors wrap refit.ErrInsecurePath otherwise).
func ParseIndex(b []byte) (*Index, error) {
	if len(b) > MaxHeaderSize {
		return nil, refit.Errorf("safetensors", -1, "index of %d bytes exceeds the %d-byte cap", len(b), MaxHeaderSize)
	}
	if !utf8.Valid(b) {
		return nil, refit.Errorf("safetensors", 0, "index is not valid UTF-8")
	}
	p := newParser(b, 0)
	if err := p.delim('{'); err != nil {
		return nil, err
	}
	idx := &Index{Metadata: map[string]string{}}
	seen := map[string]bool{}
	for {
		k, ok, err := p.key()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if seen[k] {
			return nil, p.errorf("duplicate key %q", k)
		}
		seen[k] = true
		switch k {
		case "weight_map":
			if idx.WeightMap, err = p.weightMap(); err != nil {
				return nil, err
			}
		case "metadata":
			if err := p.indexMetadata(idx); err != nil {
				return nil, err
			}
		default:
			if err := p.skip(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if idx.WeightMap == nil {
		return nil, refit.Errorf("safetensors", -1, "index has no weight_map")
	}
	return idx, nil
}

func (p *jsonParser) weightMap() (map[string]string, error) {
	if err := p.delim('{'); err != nil {
		return nil, err
	}
	wm := map[string]string{}
	for {
		k, ok, err := p.key()
		if err != nil {
			return nil, err
		}
		if !ok {
			return wm, nil
		}
		if _, dup := wm[k]; dup {
			return nil, p.errorf("weight_map: duplicate tensor %q", k)
		}
		shard, err := p.str("weight_map value")
		if err != nil {
			return nil, err
		}
		if !refit.IsLocalPath(shard) {
			return nil, refit.WrapErrorf("safetensors", p.off(), refit.ErrInsecurePath, "weight_map: tensor %q names shard %q outside the index's folder", k, shard)
		}
		wm[k] = shard
	}
}

func (p *jsonParser) indexMetadata(idx *Index) error {
	t, err := p.token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return p.errorf("index metadata must be an object, found %v", t)
	}
	seen := map[string]bool{}
	for {
		k, ok, err := p.key()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if seen[k] {
			return p.errorf("index metadata: duplicate key %q", k)
		}
		seen[k] = true
		if k == "total_size" {
			v, err := p.ints1("total_size")
			if err != nil {
				return err
			}
			idx.TotalSize = v
			continue
		}
		t, err := p.token()
		if err != nil {
			return err
		}
		switch v := t.(type) {
		case string:
			idx.Metadata[k] = v
		case json.Delim:
			// Nested values have no place in Model metadata; consume and drop them.
			if err := p.skipRest(); err != nil {
				return err
			}
		}
	}
}

// ints1 reads one non-negative integer.
func (p *jsonParser) ints1(what string) (int64, error) {
	t, err := p.token()
	if err != nil {
		return 0, err
	}
	num, ok := t.(json.Number)
	if !ok {
		return 0, p.errorf("%s must be an integer, found %v", what, t)
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || v < 0 {
		return 0, p.errorf("%s holds %s, not a non-negative 64-bit integer", what, num)
	}
	return v, nil
}

// skipRest consumes the remainder of a value whose opening delimiter was just read.
func (p *jsonParser) skipRest() error {
	depth := 1
	for depth > 0 {
		t, err := p.token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func decodeIndex(fsys fs.FS, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	st, err := fs.Stat(fsys, name)
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxHeaderSize {
		return nil, refit.Errorf("safetensors", -1, "%s: index of %d bytes exceeds the %d-byte cap", name, st.Size(), MaxHeaderSize)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	idx, err := ParseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir := path.Dir(name)
	want := make(map[string]string, len(idx.WeightMap))
	var files []string
	for t, shard := range idx.WeightMap {
		full := path.Join(dir, shard)
		if !fs.ValidPath(full) {
			return nil, refit.WrapErrorf("safetensors", -1, refit.ErrInsecurePath, "%s: shard %q", name, shard)
		}
		want[t] = full
		files = append(files, full)
	}
	slices.Sort(files)
	files = slices.Compact(files)
	m, err := decodeFiles(fsys, files, want, opts)
	if err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(idx.Metadata) {
		if _, ok := m.Metadata.Get(k); !ok {
			m.Metadata.Set(k, idx.Metadata[k])
		}
	}
	return m, nil
}
