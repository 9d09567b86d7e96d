package onnx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime/debug"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/proto"
)

// LoadMapped is Load without copying the weights: the model file and its external
// data files are memory-mapped (when fsys maps them, as refit.FileFS's file systems
// do), and the raw_data of the top-level graph's initializers and of every tensor
// with external data are slices of those read-only mappings. The weights then take
// page cache, shared with other processes and dropped by the kernel under pressure,
// rather than the process's own memory. Nested tensors (Constant nodes, subgraphs)
// are copied as Load copies them, and a file fsys does not map is read as Load reads it.
//
// Closing the returned io.Closer unmaps the files: neither mp's raw_data nor anything
// sharing it (a runtime.Session loaded from mp, its outputs) may be used afterwards.
// The raw_data slices must not be written (the pages are read-only: a write faults),
// and the files must not be truncated while mapped.
func LoadMapped(fsys fs.FS, name string) (mp *onnxpb.ModelProto, closer io.Closer, err error) {
	rf, err := refit.OpenFS(fsys, name)
	if err != nil {
		return nil, nil, err
	}
	m, ok := rf.(interface{ Bytes() []byte })
	if !ok || int64(len(m.Bytes())) != rf.Size() || rf.Size() == 0 {
		rf.Close()
		mp, err := Load(fsys, name)
		return mp, io.NopCloser(nil), err
	}
	maps := &mappings{files: []io.Closer{rf}}
	defer func() {
		if err != nil {
			maps.Close()
		}
	}()
	b := m.Bytes()
	if int64(len(b)) > maxProtoSize {
		return nil, nil, refit.Errorf("onnx", -1, "%s is %d bytes, over the 2 GiB protobuf limit", name, len(b))
	}
	// The file is parsed in place: a file truncated under the mapping by another
	// process is an error, not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if ferr := refit.MappingFault(r); ferr != nil {
				err = ferr // the file changed (was truncated) while it was parsed
				return
			}
			err = refit.WrapErrorf("onnx", -1, io.ErrUnexpectedEOF, "reading %s through its mapping: %v", name, r)
		}
	}()
	skel, raw, err := stripRawData(b)
	if err != nil {
		return nil, nil, err
	}
	mp = new(onnxpb.ModelProto)
	if err := chargeProto(skel, mp.ProtoReflect().Descriptor(), refit.NewBudget(refit.DefaultMaxMemory())); err != nil {
		return nil, nil, err
	}
	if err := proto.Unmarshal(skel, mp); err != nil {
		return nil, nil, &refit.FormatError{Format: "onnx", Offset: -1, Msg: name + " is not a valid ONNX ModelProto", Err: err}
	}
	if mp.Graph == nil {
		return nil, nil, refit.Errorf("onnx", -1, "%s: model has no graph", name)
	}
	inits := mp.Graph.Initializer
	if len(raw) != len(inits) {
		return nil, nil, refit.Errorf("onnx", -1, "found %d initializers, the graph lists %d", len(raw), len(inits))
	}
	for i, r := range raw {
		if r.ok {
			inits[i].RawData = b[r.off : r.off+r.n : r.off+r.n]
		}
	}
	res := &resolver{fsys: fsys, dir: path.Dir(name), lazy: true}
	maps.files = append(maps.files, res)
	err = walkTensors(mp, func(tp *onnxpb.TensorProto) error {
		if tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			return nil
		}
		t, err := protoTensor(tp, nil, res)
		if err != nil {
			return err
		}
		if tp.RawData, err = mappedBytes(t.Data); err != nil {
			return err
		}
		tp.DataLocation, tp.ExternalData = nil, nil
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return mp, maps, nil
}

// mappedBytes returns the bytes of d in place when d is a section of a mapped
// file, and a copy otherwise.
func mappedBytes(d tensor.Data) ([]byte, error) {
	if outer, off, ok := tensor.OuterRange(d); ok {
		n := d.Size()
		if m, ok := outer.(interface{ Bytes() []byte }); ok {
			if b := m.Bytes(); off >= 0 && n >= 0 && off <= int64(len(b)) && n <= int64(len(b))-off {
				return b[off : off+n : off+n], nil
			}
		}
	}
	b := make([]byte, d.Size())
	if n, err := d.ReadAt(b, 0); n != len(b) {
		return nil, fmt.Errorf("onnx: reading external data: %w", errors.Join(err, io.ErrUnexpectedEOF))
	}
	return b, nil
}

// mappings closes the files a LoadMapped model's raw_data points into.
type mappings struct{ files []io.Closer }

func (m *mappings) Close() error {
	var errs []error
	for _, f := range m.files {
		errs = append(errs, f.Close())
	}
	m.files = nil
	return errors.Join(errs...)
}
