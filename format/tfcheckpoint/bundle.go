package tfcheckpoint

import (
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// DataType is TensorFlow's DataType enum (tensorflow/core/framework/types.proto).
type DataType int32

// The DataType values Refit knows.
const (
	DTFloat      DataType = 1
	DTDouble     DataType = 2
	DTInt32      DataType = 3
	DTUint8      DataType = 4
	DTInt16      DataType = 5
	DTInt8       DataType = 6
	DTString     DataType = 7
	DTComplex64  DataType = 8
	DTInt64      DataType = 9
	DTBool       DataType = 10
	DTBFloat16   DataType = 14
	DTUint16     DataType = 17
	DTComplex128 DataType = 18
	DTHalf       DataType = 19
	DTUint32     DataType = 22
	DTUint64     DataType = 23
	DTFloat8E5M2 DataType = 24
	DTFloat8E4M3 DataType = 25
)

var dtypes = map[DataType]tensor.DType{
	DTFloat: tensor.F32, DTDouble: tensor.F64, DTInt32: tensor.I32, DTUint8: tensor.U8,
	DTInt16: tensor.I16, DTInt8: tensor.I8, DTComplex64: tensor.C64, DTInt64: tensor.I64,
	DTBool: tensor.Bool, DTBFloat16: tensor.BF16, DTUint16: tensor.U16, DTComplex128: tensor.C128,
	DTHalf: tensor.F16, DTUint32: tensor.U32, DTUint64: tensor.U64,
	DTFloat8E5M2: tensor.F8E5M2, DTFloat8E4M3: tensor.F8E4M3,
}

// Header is the BundleHeaderProto stored under the empty key.
type Header struct {
	NumShards   int32
	BigEndian   bool
	Producer    int32 // VersionDef.producer
	MinConsumer int32
}

// Entry is a BundleEntryProto: where one tensor is stored.
type Entry struct {
	Name    string
	DType   DataType
	Shape   []int64 // nil with UnknownRank
	ShardID int32
	Offset  int64
	Size    int64
	CRC32C  uint32 // masked
	Sliced  bool   // a partitioned variable; its slices are stored under other keys
	Unknown bool   // the shape has unknown rank
}

// Bundle is a parsed tensor-bundle index.
type Bundle struct {
	Header  Header
	Entries []Entry
}

// ReadIndex parses a .index file.
func ReadIndex(r io.ReaderAt, size int64) (*Bundle, error) {
	b := &Bundle{}
	sawHeader := false
	t := &table{r: r, size: size}
	err := t.entries(func(k, v []byte) error {
		if len(k) == 0 {
			h, err := parseHeader(v)
			if err != nil {
				return err
			}
			b.Header, sawHeader = h, true
			return nil
		}
		e, err := parseEntry(v)
		if err != nil {
			return fmt.Errorf("entry %q: %w", k, err)
		}
		e.Name = string(k)
		b.Entries = append(b.Entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !sawHeader {
		return nil, refit.Errorf("tfcheckpoint", -1, "index has no bundle header")
	}
	if b.Header.NumShards < 1 && len(b.Entries) > 0 {
		return nil, refit.Errorf("tfcheckpoint", -1, "bundle header says %d shards", b.Header.NumShards)
	}
	return b, nil
}

// fields walks a protobuf message, calling fn for each field.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return refit.WrapErrorf("tfcheckpoint", -1, protowire.ParseError(n), "bad protobuf tag")
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var y uint32
			y, n = protowire.ConsumeFixed32(b)
			x = uint64(y)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return refit.WrapErrorf("tfcheckpoint", -1, protowire.ParseError(n), "bad protobuf field %d", num)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func parseHeader(b []byte) (Header, error) {
	var h Header
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			h.NumShards = int32(x)
		case num == 2 && typ == protowire.VarintType:
			h.BigEndian = x == 1
		case num == 3 && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				if typ == protowire.VarintType && num == 1 {
					h.Producer = int32(x)
				} else if typ == protowire.VarintType && num == 2 {
					h.MinConsumer = int32(x)
				}
				return nil
			})
		}
		return nil
	})
	return h, err
}

func parseEntry(b []byte) (Entry, error) {
	var e Entry
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			e.DType = DataType(int32(x))
		case num == 2 && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
				switch {
				case num == 2 && typ == protowire.BytesType:
					if len(e.Shape) >= tensor.MaxDims {
						return refit.Errorf("tfcheckpoint", -1, "shape has more than %d dimensions", tensor.MaxDims)
					}
					var size int64
					err := fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
						if num == 1 && typ == protowire.VarintType {
							size = int64(x)
						}
						return nil
					})
					e.Shape = append(e.Shape, size)
					return err
				case num == 3 && typ == protowire.VarintType:
					e.Unknown = x != 0
				}
				return nil
			})
		case num == 3 && typ == protowire.VarintType:
			e.ShardID = int32(x)
		case num == 4 && typ == protowire.VarintType:
			e.Offset = int64(x)
		case num == 5 && typ == protowire.VarintType:
			e.Size = int64(x)
		case num == 6 && typ == protowire.Fixed32Type:
			e.CRC32C = uint32(x)
		case num == 7 && typ == protowire.BytesType:
			e.Sliced = true
		}
		return nil
	})
	if e.Shape == nil && !e.Unknown {
		e.Shape = []int64{}
	}
	return e, err
}

// DataName is the name of shard i of n for a checkpoint prefix.
func DataName(prefix string, i, n int32) string {
	return fmt.Sprintf("%s.data-%05d-of-%05d", prefix, i, n)
}

// Decode reads a .index file alone: it succeeds only when no tensor needs data
// (use DecodeFS for real checkpoints). opts may be nil; no option applies to checkpoints.
func Decode(r io.ReaderAt, size int64, _ *refit.DecodeOptions) (*refit.Model, error) {
	b, err := ReadIndex(r, size)
	if err != nil {
		return nil, err
	}
	for _, e := range b.Entries {
		if e.Size > 0 {
			return nil, refit.Unsupportedf("tfcheckpoint", "the index alone holds no tensor data; open its folder or the .index with its data files (DecodeFS)")
		}
	}
	return b.model(nil)
}

// DecodeFS reads a checkpoint: name is "<prefix>.index", a bare prefix, or "." for
// a folder holding a SavedModel (variables/variables.index), a "checkpoint" state file
// naming the latest prefix, or exactly one .index file. opts may be nil; no option
// applies to checkpoints.
func DecodeFS(fsys fs.FS, name string, _ *refit.DecodeOptions) (*refit.Model, error) {
	index, err := findIndex(fsys, name)
	if err != nil {
		return nil, err
	}
	f, err := refit.OpenFS(fsys, index)
	if err != nil {
		return nil, err
	}
	b, err := ReadIndex(f, f.Size())
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	prefix := strings.TrimSuffix(index, ".index")
	m, err := b.model(func(i int32) (refit.File, error) {
		return refit.OpenFS(fsys, DataName(prefix, i, b.Header.NumShards))
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", index, err)
	}
	return m, nil
}

func findIndex(fsys fs.FS, name string) (string, error) {
	if name != "." && name != "" {
		if strings.HasSuffix(name, ".index") {
			return name, nil
		}
		if st, err := fs.Stat(fsys, name); err == nil && st.IsDir() {
			sub, err := fs.Sub(fsys, name)
			if err != nil {
				return "", err
			}
			idx, err := findIndex(sub, ".")
			return path.Join(name, idx), err
		}
		if _, err := fs.Stat(fsys, name+".index"); err == nil {
			return name + ".index", nil
		}
		return "", fmt.Errorf("tfcheckpoint: %s: neither an .index file nor a checkpoint prefix: %w", name, fs.ErrNotExist)
	}
	const saved = "variables/variables.index"
	if _, err := fs.Stat(fsys, saved); err == nil {
		return saved, nil
	}
	if b, err := fs.ReadFile(fsys, "checkpoint"); err == nil && len(b) < 1<<20 {
		prefix, err := latestCheckpoint(string(b))
		if err != nil {
			return "", err
		}
		if prefix != "" {
			return prefix + ".index", nil
		}
	}
	matches, _ := fs.Glob(fsys, "*.index")
	if len(matches) == 1 {
		return matches[0], nil
	}
	return "", fmt.Errorf("tfcheckpoint: folder has %d .index files and no SavedModel variables; name one: %w", len(matches), fs.ErrNotExist)
}

// latestCheckpoint reads the model_checkpoint_path of a CheckpointState text proto
// (the "checkpoint" file tf.train.CheckpointManager writes); "" when absent.
func latestCheckpoint(text string) (string, error) {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.TrimSpace(k) != "model_checkpoint_path" {
			continue
		}
		p, err := strconv.Unquote(strings.TrimSpace(v))
		if err != nil {
			return "", refit.Errorf("tfcheckpoint", -1, "checkpoint file: bad model_checkpoint_path %s", v)
		}
		if strings.HasPrefix(p, "/") {
			p = path.Base(p) // TF 1 writes absolute paths; the files sit beside the state file
		}
		if err := refit.CheckLocalPath("tfcheckpoint", "checkpoint file names", p); err != nil {
			return "", err
		}
		return p, nil
	}
	return "", nil
}

// SniffIndex reports whether r ends with the table magic.
func SniffIndex(r io.ReaderAt, size int64) bool {
	if size < footerSize {
		return false
	}
	var b [8]byte
	if n, _ := r.ReadAt(b[:], size-8); n != 8 {
		return false
	}
	return uint64(b[0])|uint64(b[1])<<8|uint64(b[2])<<16|uint64(b[3])<<24|
		uint64(b[4])<<32|uint64(b[5])<<40|uint64(b[6])<<48|uint64(b[7])<<56 == tableMagic
}

// SniffFS reports whether fsys holds a SavedModel's variables or one checkpoint index.
func SniffFS(fsys fs.FS) bool {
	name, err := findIndex(fsys, ".")
	if err != nil {
		return false
	}
	f, err := refit.OpenFS(fsys, name)
	if err != nil {
		return false
	}
	defer f.Close()
	return SniffIndex(f, f.Size())
}

// model lays entries out over their shards; open is nil when no data is needed.
func (b *Bundle) model(open func(i int32) (refit.File, error)) (m *refit.Model, err error) {
	if b.Header.BigEndian {
		return nil, refit.Unsupportedf("tfcheckpoint", "big-endian bundle")
	}
	m = &refit.Model{Format: "tfcheckpoint"}
	defer func() {
		if err != nil {
			m.Close()
			m = nil
		}
	}()
	m.Metadata.Set("tfcheckpoint.producer", b.Header.Producer)
	shards := map[int32]refit.File{}
	var skipped []string
	for _, e := range b.Entries {
		if e.DType == DTString || e.Sliced || e.Unknown {
			skipped = append(skipped, e.Name)
			continue
		}
		dt, ok := dtypes[e.DType]
		if !ok {
			return m, refit.Unsupportedf("tfcheckpoint", "tensor %q: DataType %d", e.Name, e.DType)
		}
		want, err := tensor.ByteSize(dt, e.Shape)
		if err != nil {
			return m, refit.Errorf("tfcheckpoint", -1, "tensor %q: shape %v: %v", e.Name, e.Shape, err)
		}
		if want != e.Size {
			return m, refit.Errorf("tfcheckpoint", -1, "tensor %q: %v %v needs %d bytes, entry says %d", e.Name, dt, e.Shape, want, e.Size)
		}
		if e.ShardID < 0 || e.ShardID >= b.Header.NumShards {
			return m, refit.Errorf("tfcheckpoint", -1, "tensor %q: shard %d of %d", e.Name, e.ShardID, b.Header.NumShards)
		}
		var data tensor.Data
		if e.Size == 0 {
			data = io.NewSectionReader(emptyReader{}, 0, 0)
		} else {
			f := shards[e.ShardID]
			if f == nil {
				if open == nil {
					return m, refit.Unsupportedf("tfcheckpoint", "tensor data needs the data files")
				}
				if f, err = open(e.ShardID); err != nil {
					return m, err
				}
				m.AddCloser(f)
				shards[e.ShardID] = f
			}
			if e.Offset < 0 || e.Offset > f.Size() || e.Size > f.Size()-e.Offset {
				return m, refit.Errorf("tfcheckpoint", -1, "tensor %q: %d bytes at %d are beyond the %d-byte data file", e.Name, e.Size, e.Offset, f.Size())
			}
			data = &checked{SectionReader: io.NewSectionReader(f, e.Offset, e.Size), crc: e.CRC32C, name: e.Name}
		}
		t, err := tensor.New(e.Name, dt, tensor.Shape(e.Shape).Clone(), data)
		if err != nil {
			return m, refit.Errorf("tfcheckpoint", -1, "%v", err)
		}
		m.Tensors = append(m.Tensors, t)
	}
	if len(skipped) > 0 {
		m.Metadata.Set("tfcheckpoint.skipped", skipped)
	}
	return m, nil
}

type emptyReader struct{}

func (emptyReader) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

// checked is a tensor's bytes in a data file; a read of the whole tensor in one call
// (what Tensor.Bytes does) verifies the entry's crc32c.
type checked struct {
	*io.SectionReader
	crc  uint32
	name string
}

func (c *checked) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.SectionReader.ReadAt(p, off)
	if off == 0 && int64(n) == c.Size() {
		if got := MaskCRC(crc32.Checksum(p[:n], castagnoli)); got != c.crc {
			return 0, refit.Errorf("tfcheckpoint", -1, "tensor %q: crc32c %#x, want %#x", c.name, got, c.crc)
		}
	}
	return n, err
}

// Verify reads every tensor of a model decoded by this package and checks its crc32c,
// holding one 1 MiB buffer at a time.
func Verify(m *refit.Model) error {
	buf := make([]byte, 1<<20)
	for _, t := range m.Tensors {
		c, ok := t.Data.(*checked)
		if !ok {
			continue
		}
		var crc uint32
		for off := int64(0); off < c.Size(); {
			k := min(int64(len(buf)), c.Size()-off)
			n, err := c.SectionReader.ReadAt(buf[:k], off)
			if int64(n) != k {
				return &refit.FormatError{Format: "tfcheckpoint", Offset: -1, Msg: "reading " + c.name, Err: err}
			}
			crc = crc32.Update(crc, castagnoli, buf[:k])
			off += k
		}
		if MaskCRC(crc) != c.crc {
			return refit.Errorf("tfcheckpoint", -1, "tensor %q: crc32c %#x, want %#x", c.name, MaskCRC(crc), c.crc)
		}
	}
	return nil
}
