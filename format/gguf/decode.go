package gguf

import (
	"errors"
	"io"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func init() {
	refit.Register(refit.Format{
		Name:       "gguf",
		Extensions: []string{".gguf"},
		Sniff:      func(r io.ReaderAt, size int64) bool { return refit.HasPrefix(r, size, magic) },
		Decode:     Decode,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
	})
}

// Decode parses a GGUF file and returns a Model whose tensors read lazily from r.
// Metadata holds every KV in file order with the value representation described at KV.
// Tensor shapes are row-major: the reverse of the ggml order stored in the file.
// opts may be nil; only MaxMemory applies to GGUF (see ParseBudget).
func Decode(r io.ReaderAt, size int64, opts *refit.DecodeOptions) (*refit.Model, error) {
	f, err := ParseBudget(r, size, opts.NewBudget())
	if err != nil {
		return nil, err
	}
	return f.Model()
}

// Model returns f as a Model whose tensors are views of f's source. Tensor types that a
// Model cannot hold (ggml types newer than Refit's dtype table) give refit.ErrUnsupported.
func (f *File) Model() (*refit.Model, error) {
	if f.src == nil {
		return nil, errors.New("gguf: Model needs a File returned by Parse")
	}
	m := &refit.Model{Format: "gguf", Tensors: make([]*tensor.Tensor, 0, len(f.Tensors))}
	if len(f.Tensors) == 0 {
		m.Source = &Source{PaddedHeader: f.srcSize >= f.DataOffset}
	}
	for _, kv := range f.KVs {
		m.Metadata.Set(kv.Key, kv.Value)
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		dt := ti.Type.DType()
		if dt == tensor.Invalid {
			return nil, unsupportedf("tensor %q has ggml type %v", ti.Name, ti.Type)
		}
		size, err := ti.Size()
		if err != nil { // Parse validated it
			return nil, withContext(err, "tensor "+ti.Name)
		}
		shape := make(tensor.Shape, len(ti.Shape))
		for j, d := range ti.Shape {
			shape[len(shape)-1-j] = d
		}
		data := io.NewSectionReader(f.src, f.DataOffset+int64(ti.Offset), size)
		t, err := tensor.New(ti.Name, dt, shape, data)
		if err != nil {
			return nil, withContext(err, "tensor "+ti.Name)
		}
		m.Tensors = append(m.Tensors, t)
	}
	return m, nil
}
