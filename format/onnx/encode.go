package onnx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	// DefaultSizeThreshold is the smallest tensor (bytes) written as external data
	// when EncodeOptions.SizeThreshold is zero; smaller ones stay inline, as in onnx.
	DefaultSizeThreshold = 1024
	// ExternalAlign is the alignment of every tensor's offset in an external data file.
	ExternalAlign = 64
)

// EncodeOptions control writing. The zero value writes one self-contained file,
// switching to external data automatically (file outputs only) when the model
// would exceed protobuf's 2 GiB limit.
type EncodeOptions struct {
	// ExternalData writes tensors of at least SizeThreshold bytes to a side file
	// (only EncodeFile and WriteModelFile, which know where the model goes).
	ExternalData bool
	// ExternalDataName is the side file's name in the model's folder; empty means
	// the model's file name plus ".data".
	ExternalDataName string
	// SizeThreshold is the smallest tensor written externally; 0 means DefaultSizeThreshold.
	SizeThreshold int64
	// Overwrite lets EncodeFile and WriteModelFile replace existing files.
	Overwrite bool
}

// TensorProto field numbers holding a tensor's data, cleared when new data is written.
var dataFields = []protoreflect.FieldNumber{4, 5, 6, 7, 9, 10, 11, 13, 14}

// shallowCopy returns a new message with m's fields except skip, sharing their values.
func shallowCopy[M proto.Message](m M, skip ...protoreflect.FieldNumber) M {
	src := m.ProtoReflect()
	dst := src.New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !slices.Contains(skip, fd.Number()) {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(src.GetUnknown())
	return dst.Interface().(M)
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// protoLimit is the largest model written as one file (protobuf's 2 GiB);
// a variable so tests can exercise the automatic switch to external data.
var protoLimit int64 = maxProtoSize

// plan is a model laid out for streaming: header bytes are marshaled up front so
// every length prefix is known before a tensor byte is written.
type plan struct {
	head      []byte // ModelProto without its graph
	graphHead []byte // GraphProto without its initializers
	inits     []initPlan
	graphLen  int64
	total     int64
	sideSize  int64
}

type initPlan struct {
	header   []byte      // TensorProto without raw_data
	data     tensor.Data // bytes for raw_data or the side file; nil if header is complete
	external bool
	offset   int64 // in the side file
	msgLen   int64 // encoded TensorProto length
}

// layout is the external data policy of one plan.
type layout struct {
	external  bool
	threshold int64
	sideName  string
}

// makePlan lays out mp whose top-level initializer i takes its data from data[i]
// (nil keeps the initializer proto as it is).
func makePlan(mp *onnxpb.ModelProto, data []tensor.Data, lay layout) (*plan, error) {
	g := mp.GetGraph()
	if g == nil {
		return nil, fmt.Errorf("onnx: model has no graph")
	}
	p := &plan{}
	var err error
	if p.head, err = deterministic.Marshal(shallowCopy(mp, fieldModelGraph)); err != nil {
		return nil, err
	}
	if p.graphHead, err = deterministic.Marshal(shallowCopy(g, fieldGraphInitializer)); err != nil {
		return nil, err
	}
	p.graphLen = int64(len(p.graphHead))
	for i, tp := range g.Initializer {
		ip := initPlan{data: data[i]}
		h := tp
		if ip.data != nil {
			h = shallowCopy(tp, dataFields...)
			if lay.external && ip.data.Size() >= lay.threshold {
				ip.external = true
				ip.offset = (p.sideSize + ExternalAlign - 1) / ExternalAlign * ExternalAlign
				p.sideSize = ip.offset + ip.data.Size()
				h.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
				h.ExternalData = []*onnxpb.StringStringEntryProto{
					{Key: proto.String("location"), Value: proto.String(lay.sideName)},
					{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(ip.offset, 10))},
					{Key: proto.String("length"), Value: proto.String(strconv.FormatInt(ip.data.Size(), 10))},
				}
			}
		}
		if ip.header, err = deterministic.Marshal(h); err != nil {
			return nil, err
		}
		ip.msgLen = int64(len(ip.header))
		if ip.data != nil && !ip.external {
			ip.msgLen += int64(protowire.SizeTag(fieldTensorRawData)+protowire.SizeVarint(uint64(ip.data.Size()))) + ip.data.Size()
		}
		p.graphLen += int64(protowire.SizeTag(fieldGraphInitializer)+protowire.SizeVarint(uint64(ip.msgLen))) + ip.msgLen
		p.inits = append(p.inits, ip)
	}
	p.total = int64(len(p.head)) + int64(protowire.SizeTag(fieldModelGraph)+protowire.SizeVarint(uint64(p.graphLen))) + p.graphLen
	return p, nil
}

// write streams the model to w and external tensors to side (nil without external data).
func (p *plan) write(w io.Writer, side io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	bw.Write(p.head)
	bw.Write(protowire.AppendVarint(protowire.AppendTag(nil, fieldModelGraph, protowire.BytesType), uint64(p.graphLen)))
	bw.Write(p.graphHead)
	var sideAt int64
	for _, ip := range p.inits {
		bw.Write(protowire.AppendVarint(protowire.AppendTag(nil, fieldGraphInitializer, protowire.BytesType), uint64(ip.msgLen)))
		bw.Write(ip.header)
		if ip.data == nil {
			continue
		}
		if ip.external {
			if _, err := side.Write(make([]byte, ip.offset-sideAt)); err != nil {
				return err
			}
			if err := copyData(side, ip.data); err != nil {
				return err
			}
			sideAt = ip.offset + ip.data.Size()
			continue
		}
		bw.Write(protowire.AppendVarint(protowire.AppendTag(nil, fieldTensorRawData, protowire.BytesType), uint64(ip.data.Size())))
		if err := copyData(bw, ip.data); err != nil {
			return err
		}
	}
	return bw.Flush() // a bufio.Writer's errors are sticky: Flush reports any earlier one
}

// copyData writes exactly d.Size() bytes of d to w.
func copyData(w io.Writer, d tensor.Data) error {
	if l, ok := d.(*tensor.Lazy); ok {
		b, err := l.Compute()
		if err != nil {
			return err
		}
		if int64(len(b)) != d.Size() {
			return fmt.Errorf("onnx: tensor data computed %d bytes, want %d", len(b), d.Size())
		}
		_, err = w.Write(b)
		return err
	}
	n, err := io.Copy(w, io.NewSectionReader(d, 0, d.Size()))
	if err == nil && n != d.Size() {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// WriteModel writes mp deterministically as one file. Tensors that already refer to
// external data keep their references. Models over 2 GiB need WriteModelFile.
func WriteModel(w io.Writer, mp *onnxpb.ModelProto, opts *EncodeOptions) error {
	if opts != nil && opts.ExternalData {
		return fmt.Errorf("onnx: external data needs a file name (use WriteModelFile): %w", refit.ErrUnsupported)
	}
	if int64(proto.Size(mp)) > protoLimit {
		return refit.Unsupportedf("onnx", "model is over 2 GiB; write it with WriteModelFile to use external data")
	}
	b, err := deterministic.Marshal(mp)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// WriteModelFile writes mp to the file name (atomically), with tensors that have
// raw_data moved to a side file when opts ask for it or the model exceeds 2 GiB.
func WriteModelFile(name string, mp *onnxpb.ModelProto, opts *EncodeOptions) error {
	if mp.GetGraph() == nil {
		return fmt.Errorf("onnx: model has no graph")
	}
	inits := mp.Graph.Initializer
	data := make([]tensor.Data, len(inits))
	for i, tp := range inits {
		if tp.RawData != nil && tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			data[i] = bytes.NewReader(tp.RawData)
		}
	}
	return writeFile(context.Background(), name, mp, data, opts)
}

// Encode writes a Model decoded from ONNX back as ONNX: its graph (kept under
// Model.Source) with the model's tensors as initializers, streamed one at a time.
// Tensors must keep the names, dtypes and shapes the graph declares. A Model from
// another format has no graph: the error wraps refit.ErrUnsupported.
func Encode(w io.Writer, m *refit.Model, opts *EncodeOptions) error {
	if opts != nil && opts.ExternalData {
		return fmt.Errorf("onnx: external data needs a file name (use EncodeFile): %w", refit.ErrUnsupported)
	}
	mp, data, err := modelSource(m)
	if err != nil {
		return err
	}
	p, err := makePlan(mp, data, layout{})
	if err != nil {
		return err
	}
	if p.total > protoLimit {
		return refit.Unsupportedf("onnx", "model is %d bytes, over 2 GiB; write it with EncodeFile to use external data", p.total)
	}
	return p.write(w, nil)
}

// EncodeFile is Encode to the file name (written atomically), with external data
// in a side file when opts ask for it or the model exceeds 2 GiB.
func EncodeFile(name string, m *refit.Model, opts *EncodeOptions) error {
	return EncodeFileContext(context.Background(), name, m, opts)
}

// EncodeFileContext is EncodeFile whose writes fail, and whose files are removed,
// once ctx is done.
func EncodeFileContext(ctx context.Context, name string, m *refit.Model, opts *EncodeOptions) error {
	mp, data, err := modelSource(m)
	if err != nil {
		return err
	}
	return writeFile(ctx, name, mp, data, opts)
}

func writeFile(ctx context.Context, name string, mp *onnxpb.ModelProto, data []tensor.Data, opts *EncodeOptions) error {
	if opts == nil {
		opts = &EncodeOptions{}
	}
	out, err := refit.CreatePendingOutput(ctx, name, false, opts.Overwrite)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := writeFiles(out.Create, filepath.Base(name), mp, data, opts); err != nil {
		return err
	}
	_, err = out.Commit()
	return err
}

// EncodeFS writes a Model decoded from ONNX (see Encode) as opts.Name (default
// "model.onnx"), with tensors of at least DefaultSizeThreshold bytes in the side file
// NAME.data when opts.ExternalData is set or the model exceeds 2 GiB. The side file is
// created first, so it is in place before the model that names it.
func EncodeFS(create refit.CreateFunc, m *refit.Model, opts *refit.EncodeOptions) error {
	if opts == nil {
		opts = &refit.EncodeOptions{}
	}
	if opts.ShardSize > 0 {
		return fmt.Errorf("onnx: %w", refit.ErrNoShards)
	}
	name := opts.Name
	if name == "" {
		name = "model.onnx"
	}
	mp, data, err := modelSource(m)
	if err != nil {
		return err
	}
	return writeFiles(create, name, mp, data, &EncodeOptions{ExternalData: opts.ExternalData})
}

// writeFiles writes the model file name and, with external data, its side file.
func writeFiles(create refit.CreateFunc, name string, mp *onnxpb.ModelProto, data []tensor.Data, opts *EncodeOptions) error {
	lay := layout{threshold: opts.SizeThreshold, sideName: opts.ExternalDataName}
	if lay.threshold <= 0 {
		lay.threshold = DefaultSizeThreshold
	}
	if lay.sideName == "" {
		lay.sideName = name + ".data"
	}
	if strings.ContainsAny(lay.sideName, `/\`) || !fs.ValidPath(lay.sideName) {
		return fmt.Errorf("onnx: external data name %q must be a plain file name: %w", lay.sideName, refit.ErrInsecurePath)
	}
	lay.external = opts.ExternalData
	p, err := makePlan(mp, data, lay)
	if err != nil {
		return err
	}
	if p.total > protoLimit && !lay.external {
		lay.external = true
		if p, err = makePlan(mp, data, lay); err != nil {
			return err
		}
	}
	if p.total > protoLimit {
		return refit.Unsupportedf("onnx", "model is %d bytes even with external data, over the %d-byte protobuf limit", p.total, protoLimit)
	}
	var side io.WriteCloser
	if lay.external {
		if side, err = create(lay.sideName); err != nil {
			return err
		}
		defer side.Close()
	}
	out, err := create(name)
	if err != nil {
		return err
	}
	defer out.Close()
	if side == nil {
		if err := p.write(out, nil); err != nil {
			return err
		}
		return out.Close()
	}
	if err := p.write(out, side); err != nil {
		return err
	}
	if err := side.Close(); err != nil {
		return err
	}
	return out.Close()
}

// ErrNoGraph reports a model without an ONNX graph (one decoded from another format)
// written as ONNX, so that a caller can convert a graph first. It reads as, and
// wraps, refit.ErrUnsupported; the message around it says what is missing.
var ErrNoGraph = fmt.Errorf("%w", refit.ErrUnsupported)

// Prepare checks that m carries an ONNX graph, which Encode needs (see ErrNoGraph).
func Prepare(m *refit.Model, _ *refit.EncodeOptions) (*refit.Model, error) {
	if _, ok := m.Source.(*Source); !ok {
		return nil, noGraph(m)
	}
	return m, nil
}

func noGraph(m *refit.Model) error {
	return fmt.Errorf("onnx: model (from %s) has no ONNX graph to write; ONNX output needs one: %w", m.Format, ErrNoGraph)
}

// modelSource returns the graph of a Model decoded from ONNX and, per initializer,
// the data to write for it.
func modelSource(m *refit.Model) (*onnxpb.ModelProto, []tensor.Data, error) {
	src, ok := m.Source.(*Source)
	if !ok {
		return nil, nil, noGraph(m)
	}
	if err := m.CheckNames(); err != nil {
		return nil, nil, err
	}
	mp := shallowCopy(src.proto)
	mp.MetadataProps = nil
	for _, k := range m.Metadata.Keys() {
		if s, ok := m.Metadata.Get(k); ok && !strings.HasPrefix(k, "onnx.") {
			if str, ok := s.(string); ok {
				mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(str)})
			}
		}
	}
	inits := mp.GetGraph().GetInitializer()
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	data := make([]tensor.Data, len(inits))
	for i, tp := range inits {
		t := byName[tp.GetName()]
		if t == nil {
			return nil, nil, fmt.Errorf("onnx: the graph's initializer %q is missing from the model", tp.GetName())
		}
		delete(byName, tp.GetName())
		typed := hasTyped(tp) && tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL
		if i < len(src.tensors) && t == src.tensors[i] && typed {
			continue // unchanged and stored in typed fields: keep the proto as it is
		}
		if err := checkReplacement(tp, t); err != nil {
			return nil, nil, err
		}
		data[i] = t.Data
	}
	if err := setNested(mp, src, byName); err != nil {
		return nil, nil, err
	}
	if len(byName) > 0 {
		var extra []string
		for n := range byName {
			extra = append(extra, n)
		}
		slices.Sort(extra)
		return nil, nil, fmt.Errorf("onnx: tensors %q are not initializers of the graph", extra)
	}
	return mp, data, nil
}

// checkReplacement checks that t can stand in for the initializer tp.
func checkReplacement(tp *onnxpb.TensorProto, t *tensor.Tensor) error {
	elem, err := ElemType(t.DType)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if elem != tp.GetDataType() || !t.Shape.Equal(tensor.Shape(tp.Dims)) {
		return refit.Unsupportedf("onnx", "tensor %q is %v %v but the graph declares %s %v (changing it needs a graph rewrite)",
			t.Name, t.DType, t.Shape, TypeName(tp.GetDataType()), tp.Dims)
	}
	return nil
}
