package onnx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/proto"
)

// Source is the ONNX graph a Model was decoded from, kept in refit.Model.Source so
// that Encode can write the model back as ONNX after its tensors were transformed.
type Source struct {
	proto   *onnxpb.ModelProto // top-level initializers without raw_data
	tensors []*tensor.Tensor   // as decoded, one per initializer
	nested  []*tensor.Tensor   // subgraph weights as decoded, in nestedWeights order (nil: unlisted)
}

// Proto returns the model's ModelProto without the raw_data of its top-level
// initializers; it must not be modified.
func (s *Source) Proto() *onnxpb.ModelProto { return s.proto }

func (s *Source) String() string {
	g := s.proto.GetGraph()
	return fmt.Sprintf("ONNX graph %q (%d nodes, %d initializers)", g.GetName(), len(g.GetNode()), len(g.GetInitializer()))
}

// File is a decoded .onnx file. Proto is the whole ModelProto except the raw_data of
// the top-level graph's initializers, whose bytes stay in the input: Tensor returns
// them as section readers. Nested tensors (Constant nodes, subgraphs) are kept whole.
type File struct {
	Proto *onnxpb.ModelProto

	r       io.ReaderAt
	raw     []rawRange
	res     *resolver
	closers []io.Closer
}

// NewFile parses the ONNX model in r. Tensors with external data cannot be read
// (they need OpenFile). r must stay readable until the tensors are no longer used.
// The graph's Go memory is charged to a budget of refit.DefaultMaxMemory.
func NewFile(r io.ReaderAt, size int64) (*File, error) {
	return newFile(r, size, &resolver{lazy: true}, refit.NewBudget(refit.DefaultMaxMemory()))
}

// OpenFile opens the ONNX model name in fsys; external data files are found relative
// to name's folder. Close releases the files.
func OpenFile(fsys fs.FS, name string) (*File, error) {
	return openFile(fsys, name, refit.NewBudget(refit.DefaultMaxMemory()))
}

func openFile(fsys fs.FS, name string, budget *refit.Budget) (*File, error) {
	rf, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, err
	}
	f, err := newFile(rf, rf.Size(), &resolver{fsys: fsys, dir: path.Dir(name), lazy: true}, budget)
	if err != nil {
		rf.Close()
		return nil, err
	}
	f.closers = append(f.closers, rf)
	return f, nil
}

func newFile(r io.ReaderAt, size int64, res *resolver, budget *refit.Budget) (*File, error) {
	if size < 0 || size > maxProtoSize {
		return nil, refit.Errorf("onnx", -1, "file is %d bytes; a protobuf holds at most 2 GiB (larger models keep weights as external data)", size)
	}
	// A memory-mapped file is parsed in place; any other reader is read once into
	// memory, and the weights are then read again through r when used.
	var b []byte
	if m, ok := r.(interface{ Bytes() []byte }); ok && int64(len(m.Bytes())) == size {
		b = m.Bytes()
	} else {
		b = make([]byte, size)
		if n, err := r.ReadAt(b, 0); n != len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, &refit.FormatError{Format: "onnx", Offset: int64(n), Msg: "reading model", Err: err}
		}
	}
	skel, raw, err := stripRawData(b)
	if err != nil {
		return nil, err
	}
	mp := new(onnxpb.ModelProto)
	if err := chargeProto(skel, mp.ProtoReflect().Descriptor(), budget); err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(skel, mp); err != nil {
		return nil, &refit.FormatError{Format: "onnx", Offset: -1, Msg: "not a valid ONNX ModelProto", Err: err}
	}
	if mp.Graph == nil {
		return nil, refit.Errorf("onnx", -1, "model has no graph")
	}
	if len(raw) != len(mp.Graph.Initializer) {
		return nil, refit.Errorf("onnx", -1, "found %d initializers, the graph lists %d", len(raw), len(mp.Graph.Initializer))
	}
	return &File{Proto: mp, r: r, raw: raw, res: res}, nil
}

// Close closes the files OpenFile opened (not the reader given to NewFile).
func (f *File) Close() error {
	var errs []error
	if f.res != nil {
		errs = append(errs, f.res.Close())
	}
	for _, c := range f.closers {
		errs = append(errs, c.Close())
	}
	f.closers = nil
	return errors.Join(errs...)
}

// Initializers returns the top-level graph's initializer protos (without raw_data).
func (f *File) Initializers() []*onnxpb.TensorProto { return f.Proto.GetGraph().GetInitializer() }

// Tensor returns initializer i as a tensor reading lazily from the file.
func (f *File) Tensor(i int) (*tensor.Tensor, error) {
	inits := f.Initializers()
	if i < 0 || i >= len(inits) {
		return nil, fmt.Errorf("onnx: initializer %d out of range [0, %d)", i, len(inits))
	}
	var raw tensor.Data
	if i >= len(f.raw) {
		return protoTensor(inits[i], nil, f.res) // lifted from a Constant node: data in the proto
	}
	if r := f.raw[i]; r.ok {
		raw = io.NewSectionReader(f.r, r.off, r.n)
	}
	return protoTensor(inits[i], raw, f.res)
}

// Model returns the initializers as a Model's tensors, with the model's metadata
// and, in Model.Source, its graph. Weights wherever they live count: the main
// graph's Constant nodes are first lifted into initializers (see LiftConstants; this
// changes f.Proto), so that their tensors are listed, transformed and written back
// like any other; the floating-point initializers and Constant values of subgraphs
// (If/Loop/Scan bodies) follow them, named after themselves or the output they make,
// and are written back in place. Closing the Model closes f.
func (f *File) Model() (*refit.Model, error) {
	if n := len(f.Proto.GetGraph().GetSparseInitializer()); n > 0 {
		return nil, refit.Unsupportedf("onnx", "graph has %d sparse initializers", n)
	}
	LiftConstants(f.Proto, 0)
	m := &refit.Model{Format: "onnx"}
	src := &Source{proto: f.Proto}
	for i := range f.Initializers() {
		t, err := f.Tensor(i)
		if err != nil {
			return nil, err
		}
		m.Tensors = append(m.Tensors, t)
	}
	if err := m.CheckNames(); err != nil {
		return nil, &refit.FormatError{Format: "onnx", Offset: -1, Msg: "initializers", Err: err}
	}
	src.tensors = append([]*tensor.Tensor(nil), m.Tensors...)
	// Weights inside If/Loop/Scan bodies are listed after the main graph's.
	var err error
	if m.Tensors, err = f.listNested(m.Tensors, src); err != nil {
		return nil, err
	}
	mp := f.Proto
	md := &m.Metadata
	md.Set("onnx.ir_version", mp.GetIrVersion())
	setString := func(k, v string) {
		if v != "" {
			md.Set(k, v)
		}
	}
	setString("onnx.producer_name", mp.GetProducerName())
	setString("onnx.producer_version", mp.GetProducerVersion())
	setString("onnx.domain", mp.GetDomain())
	if mp.ModelVersion != nil {
		md.Set("onnx.model_version", mp.GetModelVersion())
	}
	setString("onnx.doc_string", mp.GetDocString())
	for _, op := range mp.GetOpsetImport() {
		md.Set("onnx.opset."+opsetDomain(op.GetDomain()), op.GetVersion())
	}
	for _, kv := range mp.GetMetadataProps() {
		if !strings.HasPrefix(kv.GetKey(), "onnx.") {
			md.Set(kv.GetKey(), kv.GetValue())
		}
	}
	m.Source = src
	m.AddCloser(f)
	return m, nil
}

// opsetDomain names the default domain "ai.onnx", as the ONNX spec does.
func opsetDomain(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// Decode reads an ONNX model from r: tensors are the graph's initializers, read
// lazily from r. Models with external data need DecodeFS.
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	f, err := newFile(r, size, &resolver{lazy: true}, opts.NewBudget())
	if err != nil {
		return nil, err
	}
	m, err := f.Model()
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// DecodeFS reads the ONNX model name in fsys (or the one .onnx file of the folder,
// for "."), with external data from the files beside it.
func DecodeFS(fsys fs.FS, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	if name == "." {
		matches, err := fs.Glob(fsys, "*.onnx")
		if err != nil {
			return nil, err
		}
		if len(matches) != 1 {
			return nil, fmt.Errorf("onnx: folder holds %d .onnx files; name one", len(matches))
		}
		name = matches[0]
	}
	f, err := openFile(fsys, name, opts.NewBudget())
	if err != nil {
		return nil, err
	}
	m, err := f.Model()
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

// Load reads the ONNX model name in fsys fully into memory, with every tensor's
// external data read into its raw_data (memory: the whole model). It suits
// executing or rewriting small models; File streams large ones.
func Load(fsys fs.FS, name string) (*onnxpb.ModelProto, error) {
	rf, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, err
	}
	defer rf.Close()
	size := rf.Size()
	if size > maxProtoSize {
		return nil, refit.Errorf("onnx", -1, "%s is %d bytes, over the 2 GiB protobuf limit", name, size)
	}
	b := make([]byte, size)
	if n, err := rf.ReadAt(b, 0); n != len(b) {
		return nil, &refit.FormatError{Format: "onnx", Offset: int64(n), Msg: "reading " + name, Err: err}
	}
	mp := new(onnxpb.ModelProto)
	if err := chargeProto(b, mp.ProtoReflect().Descriptor(), refit.NewBudget(refit.DefaultMaxMemory())); err != nil {
		return nil, err
	}
	if err := proto.Unmarshal(b, mp); err != nil {
		return nil, &refit.FormatError{Format: "onnx", Offset: -1, Msg: name + " is not a valid ONNX ModelProto", Err: err}
	}
	if mp.Graph == nil {
		return nil, refit.Errorf("onnx", -1, "%s: model has no graph", name)
	}
	res := &resolver{fsys: fsys, dir: path.Dir(name)}
	err = walkTensors(mp, func(tp *onnxpb.TensorProto) error {
		if tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		t, err := protoTensor(tp, nil, res)
		if err != nil {
			return err
		}
		if tp.RawData, err = t.Bytes(); err != nil {
			return err
		}
		tp.DataLocation, tp.ExternalData = nil, nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return mp, nil
}

// walkTensors calls fn for every TensorProto in the model: initializers, sparse
// tensors, node attributes, subgraphs, functions and training graphs.
func walkTensors(mp *onnxpb.ModelProto, fn func(*onnxpb.TensorProto) error) error {
	var graph func(g *onnxpb.GraphProto) error
	var nodes func(ns []*onnxpb.NodeProto) error
	tensor := func(tp *onnxpb.TensorProto) error {
		if tp == nil {
			return nil
		}
		return fn(tp)
	}
	sparse := func(sp *onnxpb.SparseTensorProto) error {
		if sp == nil {
			return nil
		}
		return errors.Join(tensor(sp.Values), tensor(sp.Indices))
	}
	nodes = func(ns []*onnxpb.NodeProto) error {
		for _, n := range ns {
			for _, a := range n.Attribute {
				if err := tensor(a.T); err != nil {
					return err
				}
				if err := sparse(a.SparseTensor); err != nil {
					return err
				}
				if err := graph(a.G); err != nil {
					return err
				}
				for _, t := range a.Tensors {
					if err := tensor(t); err != nil {
						return err
					}
				}
				for _, s := range a.SparseTensors {
					if err := sparse(s); err != nil {
						return err
					}
				}
				for _, g := range a.Graphs {
					if err := graph(g); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	graph = func(g *onnxpb.GraphProto) error {
		if g == nil {
			return nil
		}
		for _, t := range g.Initializer {
			if err := tensor(t); err != nil {
				return err
			}
		}
		for _, s := range g.SparseInitializer {
			if err := sparse(s); err != nil {
				return err
			}
		}
		return nodes(g.Node)
	}
	if err := graph(mp.Graph); err != nil {
		return err
	}
	for _, f := range mp.Functions {
		if err := nodes(f.Node); err != nil {
			return err
		}
	}
	for _, ti := range mp.TrainingInfo {
		if err := errors.Join(graph(ti.Initialization), graph(ti.Algorithm)); err != nil {
			return err
		}
	}
	return nil
}
