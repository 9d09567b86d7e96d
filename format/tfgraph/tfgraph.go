package tfgraph

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tfcheckpoint"
	"github.com/refit-ml/refit/tensor"
)

// MaxFile caps the size of a GraphDef or saved_model.pb read into memory: protobuf
// messages cannot exceed 2 GiB.
const MaxFile = 2 << 30

// SavedModelName is the graph file of a SavedModel folder.
const SavedModelName = "saved_model.pb"

// ServeTag is the tag of the MetaGraphDef a SavedModel is served (and converted) from.
const ServeTag = "serve"

func init() {
	refit.Register(refit.Format{
		Name:       "graphdef",
		Extensions: []string{".pb"},
		Sniff:      Sniff,
		Decode:     Decode,
	})
	refit.Register(refit.Format{
		Name:       "savedmodel",
		Extensions: []string{".pb"},
		Sniff:      SniffSavedModel,
		Decode:     DecodeSavedModel,
		DecodeFS:   DecodeFS,
		SniffFS:    SniffFS,
	})
}

// File is a parsed GraphDef (a frozen graph) or the serving MetaGraphDef of a
// SavedModel.
type File struct {
	Graph *Graph
	// SavedModel fields: the chosen MetaGraphDef's tags and signatures.
	SavedModel bool
	Tags       []string
	Signatures map[string]*Signature
}

// Signature is a SignatureDef: named inputs and outputs bound to graph tensors.
type Signature struct {
	Method          string
	Inputs, Outputs map[string]*TensorInfo
}

// TensorInfo names a graph tensor ("node:0") with its type and shape.
type TensorInfo struct {
	Name  string
	DType DataType
	Shape *Shape
}

// Sniff reports whether r starts like a GraphDef: a NodeDef (field 1) whose first
// field is its name. Protobuf has no magic number; the extension .pb decides ties.
func Sniff(r io.ReaderAt, size int64) bool {
	var b [16]byte
	n, _ := r.ReadAt(b[:], 0)
	if n < 4 || b[0] != 0x0a {
		return false
	}
	l, k := protowire.ConsumeVarint(b[1:n])
	return k > 0 && l > 0 && int64(l) <= size-int64(1+k) && 1+k < n && b[1+k] == 0x0a
}

// SniffSavedModel reports whether r starts like a SavedModel: schema version 1
// followed by a MetaGraphDef.
func SniffSavedModel(r io.ReaderAt, size int64) bool {
	var b [3]byte
	n, _ := r.ReadAt(b[:], 0)
	return n == 3 && b == [3]byte{0x08, 0x01, 0x12}
}

// SniffFS reports whether the folder holds a SavedModel.
func SniffFS(fsys fs.FS) bool {
	st, err := fs.Stat(fsys, SavedModelName)
	return err == nil && st.Mode().IsRegular()
}

type byteser interface{ Bytes() []byte }

// readAll returns the bytes of r, charged to the call's budget.
func readAll(r io.ReaderAt, size int64, opts *refit.DecodeOptions) ([]byte, error) {
	if bs, ok := r.(byteser); ok && int64(len(bs.Bytes())) == size {
		return bs.Bytes(), nil
	}
	if size > MaxFile {
		return nil, refit.Unsupportedf("tfgraph", "a %d-byte graph (protobuf messages stop at 2 GiB)", size)
	}
	if err := opts.NewBudget().Charge(size, "tfgraph: graph"); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if n, err := r.ReadAt(buf, 0); int64(n) != size {
		return nil, &refit.FormatError{Format: "tfgraph", Offset: int64(n), Msg: "reading graph", Err: err}
	}
	return buf, nil
}

// Parse reads a GraphDef.
func Parse(b []byte) (*File, error) {
	g, err := parseGraph(msg{buf: b})
	if err != nil {
		return nil, err
	}
	return &File{Graph: g}, nil
}

// ParseSavedModel reads a SavedModel's saved_model.pb and keeps the MetaGraphDef
// tagged "serve" (or the only one).
func ParseSavedModel(b []byte) (*File, error) {
	m := msg{buf: b}
	var metas []msg
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if f.num == 2 {
			if err := f.need(protowire.BytesType); err != nil {
				return nil, err
			}
			metas = append(metas, f.sub)
		}
	}
	if len(metas) == 0 {
		return nil, refit.Errorf("tfgraph", 0, "SavedModel without a MetaGraphDef")
	}
	var chosen *File
	for _, mg := range metas {
		f, err := parseMetaGraph(mg)
		if err != nil {
			return nil, err
		}
		if chosen == nil || slices.Contains(f.Tags, ServeTag) && !slices.Contains(chosen.Tags, ServeTag) {
			chosen = f
		}
	}
	if chosen.Graph == nil {
		return nil, refit.Errorf("tfgraph", 0, "MetaGraphDef without a graph_def")
	}
	return chosen, nil
}

func parseMetaGraph(m msg) (*File, error) {
	out := &File{SavedModel: true, Signatures: map[string]*Signature{}}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1: // MetaInfoDef
			mi := f.sub
			for mi.more() {
				g, err := mi.next()
				if err != nil {
					return nil, err
				}
				if g.num == 4 && g.typ == protowire.BytesType {
					out.Tags = append(out.Tags, g.str())
				}
			}
		case 2:
			if out.Graph, err = parseGraph(f.sub); err != nil {
				return nil, err
			}
		case 5: // map<string, SignatureDef>
			var key string
			var sig *Signature
			e := f.sub
			for e.more() {
				g, err := e.next()
				if err != nil {
					return nil, err
				}
				if g.typ != protowire.BytesType {
					continue
				}
				switch g.num {
				case 1:
					key = g.str()
				case 2:
					if sig, err = parseSignature(g.sub); err != nil {
						return nil, err
					}
				}
			}
			if sig != nil {
				out.Signatures[key] = sig
			}
		}
	}
	return out, nil
}

func parseSignature(m msg) (*Signature, error) {
	s := &Signature{Inputs: map[string]*TensorInfo{}, Outputs: map[string]*TensorInfo{}}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1, 2:
			var key string
			var ti *TensorInfo
			e := f.sub
			for e.more() {
				g, err := e.next()
				if err != nil {
					return nil, err
				}
				if g.typ != protowire.BytesType {
					continue
				}
				switch g.num {
				case 1:
					key = g.str()
				case 2:
					if ti, err = parseTensorInfo(g.sub); err != nil {
						return nil, err
					}
				}
			}
			if ti == nil {
				continue
			}
			if f.num == 1 {
				s.Inputs[key] = ti
			} else {
				s.Outputs[key] = ti
			}
		case 3:
			s.Method = f.str()
		}
	}
	return s, nil
}

func parseTensorInfo(m msg) (*TensorInfo, error) {
	ti := &TensorInfo{}
	for m.more() {
		f, err := m.next()
		if err != nil {
			return nil, err
		}
		switch f.num {
		case 1:
			ti.Name = f.str()
		case 2:
			ti.DType = baseType(f.v)
		case 3:
			if f.typ == protowire.BytesType {
				if ti.Shape, err = parseShape(f.sub); err != nil {
					return nil, err
				}
			}
		}
	}
	return ti, nil
}

// Decode reads a frozen GraphDef. The values of its Const nodes become the model's
// tensors, named after their nodes (tensor_content views of r, typed value lists
// materialized); Model.Source is the *File.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	b, err := readAll(r, size, opts)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return f.model("graphdef", r, opts)
}

// DecodeSavedModel reads a saved_model.pb on its own (no variables).
func DecodeSavedModel(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	b, err := readAll(r, size, opts)
	if err != nil {
		return nil, err
	}
	f, err := ParseSavedModel(b)
	if err != nil {
		return nil, err
	}
	return f.model("savedmodel", r, opts)
}

// DecodeFS reads a SavedModel folder (name "." or the folder, or its saved_model.pb):
// the graph's constants followed by the variables of variables/variables.index,
// named by their checkpoint keys.
func DecodeFS(fsys fs.FS, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	dir := "."
	if name != "." && name != "" {
		if path.Base(name) == SavedModelName {
			dir = path.Dir(name)
		} else {
			dir = name
		}
	}
	f, err := refit.OpenFS(fsys, path.Join(dir, SavedModelName))
	if err != nil {
		return nil, err
	}
	m, err := DecodeSavedModel(f, f.Size(), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.AddCloser(f)
	if _, err := fs.Stat(fsys, path.Join(dir, "variables", "variables.index")); err == nil {
		vars, err := tfcheckpoint.DecodeFS(fsys, path.Join(dir, "variables", "variables.index"), opts)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.Tensors = append(m.Tensors, vars.Tensors...)
		m.AddCloser(vars)
	}
	return m, nil
}

func (f *File) model(format string, r io.ReaderAt, opts *refit.DecodeOptions) (*refit.Model, error) {
	m := &refit.Model{Format: format, Source: f}
	m.Metadata.Set("tfgraph.nodes", len(f.Graph.Nodes))
	m.Metadata.Set("tfgraph.functions", len(f.Graph.Functions))
	m.Metadata.Set("tfgraph.producer", f.Graph.Producer)
	if f.SavedModel {
		m.Metadata.Set("savedmodel.tags", f.Tags)
		m.Metadata.Set("savedmodel.signatures", slices.Sorted(mapsKeys(f.Signatures)))
	}
	budget := opts.NewBudget()
	for _, n := range f.Graph.Nodes {
		if n.Op != "Const" {
			continue
		}
		a := n.Attr["value"]
		if a == nil || a.Tensor == nil || a.Tensor.DType == DTString {
			continue
		}
		t, err := a.Tensor.Value(n.Name, r, budget)
		if err != nil {
			return nil, err
		}
		m.Tensors = append(m.Tensors, t)
	}
	return m, nil
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

var dtypes = map[DataType]tensor.DType{DTFloat: tensor.F32, DTDouble: tensor.F64, DTInt32: tensor.I32,
	DTUint8: tensor.U8, DTInt16: tensor.I16, DTInt8: tensor.I8, DTInt64: tensor.I64, DTBool: tensor.Bool,
	DTBfloat16: tensor.BF16, DTUint16: tensor.U16, DTHalf: tensor.F16, DTUint32: tensor.U32, DTUint64: tensor.U64}

// ErrNoValue is returned for tensors whose value cannot be represented (strings,
// resources).
var ErrNoValue = errors.New("tfgraph: tensor has no numeric value")

// Value returns t as a tensor named name: tensor_content as a view of r (the file
// the graph was parsed from), typed value lists expanded to the full shape (the last
// value repeats, as TensorFlow fills them) with the bytes charged to budget.
func (t *Tensor) Value(name string, r io.ReaderAt, budget *refit.Budget) (*tensor.Tensor, error) {
	dt, ok := dtypes[t.DType]
	if !ok {
		return nil, refit.Unsupportedf("tfgraph", "Const %q of DataType %d", name, t.DType)
	}
	if t.Shape.UnknownRank || slices.Contains(t.Shape.Dims, -1) {
		return nil, refit.Errorf("tfgraph", t.ContentOffset, "Const %q of unknown shape", name)
	}
	shape := tensor.Shape(slices.Clone(t.Shape.Dims))
	size, err := tensor.ByteSize(dt, shape)
	if err != nil {
		return nil, refit.Errorf("tfgraph", t.ContentOffset, "Const %q: shape %v: %v", name, shape, err)
	}
	if len(t.Content) > 0 || size == 0 {
		if int64(len(t.Content)) != size {
			return nil, refit.Errorf("tfgraph", t.ContentOffset, "Const %q: %v %v needs %d bytes, tensor_content has %d", name, dt, shape, size, len(t.Content))
		}
		return tensor.New(name, dt, shape, io.NewSectionReader(r, t.ContentOffset, size))
	}
	if err := budget.Charge(size, "tfgraph: Const "+name); err != nil {
		return nil, err
	}
	n := int(shape.Elements())
	es := dt.TypeSize()
	buf := make([]byte, size)
	pick := func(i, have int) int { return min(i, have-1) }
	for i := range n {
		p := buf[i*es : (i+1)*es]
		switch {
		case dt == tensor.F32 && len(t.Float) > 0:
			binary.LittleEndian.PutUint32(p, math.Float32bits(t.Float[pick(i, len(t.Float))]))
		case dt == tensor.F64 && len(t.Double) > 0:
			binary.LittleEndian.PutUint64(p, math.Float64bits(t.Double[pick(i, len(t.Double))]))
		case len(t.Int) > 0:
			v := uint64(t.Int[pick(i, len(t.Int))])
			for k := range es {
				p[k] = byte(v >> (8 * k))
			}
		}
	}
	return tensor.FromBytes(name, dt, shape, buf)
}

// TensorName splits a signature tensor name "node:0" into the node and output index.
func TensorName(s string) (string, string) {
	node, idx, _ := strings.Cut(s, ":")
	return node, idx
}
