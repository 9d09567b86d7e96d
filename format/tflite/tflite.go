package tflite

import (
	"fmt"
	"io"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite/internal/schema"
	"github.com/refit-ml/refit/tensor"
)

// Identifier is the flatbuffers file identifier of TFLite models, at bytes 4..8.
const Identifier = "TFL3"

// MaxFlatbuffer caps the bytes read into memory when r cannot expose its bytes
// directly (an mmap'd refit.MappedFile can); flatbuffers are limited to 2 GiB.
const MaxFlatbuffer = 2 << 30

func init() {
	refit.Register(refit.Format{
		Name:       "tflite",
		Extensions: []string{".tflite"},
		Sniff:      Sniff,
		Decode:     Decode,
	})
}

// Sniff reports whether r carries the TFLite file identifier.
func Sniff(r io.ReaderAt, size int64) bool {
	if size < 8 {
		return false
	}
	var b [4]byte
	if n, _ := r.ReadAt(b[:], 4); n != 4 {
		return false
	}
	return string(b[:]) == Identifier
}

// Quantization holds a tensor's affine quantization: real = Scale[c] * (q - ZeroPoint[c])
// along Dimension when there are several channels, per tensor when there is one.
type Quantization struct {
	Scale     []float32
	ZeroPoint []int64
	Min, Max  []float32
	Dimension int32
}

// TensorInfo describes one tensor of a subgraph.
type TensorInfo struct {
	Subgraph     int
	Index        int
	Name         string
	Type         int8 // TFLite TensorType
	Shape        []int64
	Buffer       uint32
	Quantization *Quantization
	Sparse       bool
	Variable     bool
	Tensor       string // name of the Model tensor it became ("" for none); differs from Name when a name repeats
}

// File is a parsed TFLite model: what Decode saw beyond the tensors it returns.
type File struct {
	Version     uint32
	Description string
	Subgraphs   []string // names
	Tensors     []TensorInfo
	Graphs      []Graph // per subgraph: inputs, outputs, operators
}

var dtypes = map[schema.TensorType]tensor.DType{
	schema.TensorTypeFLOAT32: tensor.F32, schema.TensorTypeFLOAT16: tensor.F16,
	schema.TensorTypeINT32: tensor.I32, schema.TensorTypeUINT8: tensor.U8,
	schema.TensorTypeINT64: tensor.I64, schema.TensorTypeBOOL: tensor.Bool,
	schema.TensorTypeINT16: tensor.I16, schema.TensorTypeCOMPLEX64: tensor.C64,
	schema.TensorTypeINT8: tensor.I8, schema.TensorTypeFLOAT64: tensor.F64,
	schema.TensorTypeCOMPLEX128: tensor.C128, schema.TensorTypeUINT64: tensor.U64,
	schema.TensorTypeUINT32: tensor.U32, schema.TensorTypeUINT16: tensor.U16,
	schema.TensorTypeBFLOAT16: tensor.BF16,
}

type byteser interface{ Bytes() []byte }

// Decode reads a .tflite model. Constant tensors (those whose buffer holds data) become
// Model tensors in subgraph order, viewing r; tensors of subgraphs after the first are
// named "<subgraph>/<name>" when a name repeats. Quantization parameters go to metadata
// "tflite.quantization.<tensor>.{scale,zero_point,dimension}"; Dequantize gives a float view.
// Model.Source is the *File. opts may be nil; no option applies to TFLite.
func Decode(r io.ReaderAt, size int64, _ *refit.DecodeOptions) (*refit.Model, error) {
	if !Sniff(r, size) {
		return nil, refit.Errorf("tflite", 4, "no %q file identifier", Identifier)
	}
	var buf []byte
	if bs, ok := r.(byteser); ok && int64(len(bs.Bytes())) == size {
		buf = bs.Bytes()
	} else {
		if size > MaxFlatbuffer {
			return nil, refit.Unsupportedf("tflite", "a %d-byte model not backed by a mapped file", size)
		}
		buf = make([]byte, size)
		if n, err := r.ReadAt(buf, 0); int64(n) != size {
			return nil, &refit.FormatError{Format: "tflite", Offset: int64(n), Msg: "reading model", Err: err}
		}
	}
	if len(buf) > math.MaxUint32 {
		buf = buf[:math.MaxUint32] // flatbuffer offsets are 32-bit; data past this is reached by Buffer.offset
	}
	graphs, err := readGraphs(buf)
	if err != nil {
		return nil, err
	}
	m, err := decode(buf, r, size)
	if err != nil {
		return nil, err
	}
	m.Source.(*File).Graphs = graphs
	return m, nil
}

// decode walks the tensors and buffers of every subgraph. The flatbuffers runtime
// indexes the buffer without checks, so, as in readGraphs, every table, field, vector
// and string is checked against buf before a generated accessor reads it.
func decode(buf []byte, r io.ReaderAt, size int64) (*refit.Model, error) {
	if len(buf) < 8 {
		return nil, refit.Errorf("tflite", 0, "%d-byte flatbuffer", len(buf))
	}
	rt, err := checkTable(buf, uint64(flatbuffers.GetUOffsetT(buf)))
	if err != nil {
		return nil, err
	}
	var root schema.Model
	root.Init(buf, rt.Pos)
	if _, err := fieldPos(rt, slot(0), 4); err != nil {
		return nil, err
	}
	if err := checkString(rt, slot(3)); err != nil {
		return nil, err
	}
	f := &File{Version: root.Version(), Description: string(root.Description())}
	nBuffers, err := tableVector(rt, slot(4))
	if err != nil {
		return nil, err
	}
	nGraphs, err := tableVector(rt, slot(2))
	if err != nil {
		return nil, err
	}
	m := &refit.Model{Format: "tflite", Source: f}
	m.Metadata.Set("tflite.version", f.Version)
	if f.Description != "" {
		m.Metadata.Set("tflite.description", f.Description)
	}
	seen := map[string]bool{}
	var skipped []string
	var sg schema.SubGraph
	var tt schema.Tensor
	var b schema.Buffer
	for si := range nGraphs {
		root.Subgraphs(&sg, si)
		if err := checkString(sg.Table(), slot(4)); err != nil {
			return nil, err
		}
		f.Subgraphs = append(f.Subgraphs, string(sg.Name()))
		nTensors, err := tableVector(sg.Table(), slot(0))
		if err != nil {
			return nil, err
		}
		for ti := range nTensors {
			sg.Tensors(&tt, ti)
			info, sparsity, err := tensorInfo(&tt, si, ti)
			if err != nil {
				return nil, err
			}
			f.Tensors = append(f.Tensors, info)
			if info.Buffer == 0 {
				continue
			}
			if uint64(info.Buffer) >= uint64(nBuffers) {
				return nil, refit.Errorf("tflite", int64(tt.Table().Pos), "tensor %q: buffer %d of %d", info.Name, info.Buffer, nBuffers)
			}
			root.Buffers(&b, int(info.Buffer))
			off, n, err := bufferRange(&b, size)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
			}
			if n == 0 {
				continue
			}
			var t *tensor.Tensor
			if info.Sparse {
				t, err = sparseTensor(sparsity, info, r, off, n)
			} else {
				t, err = constTensor(info, r, off, n)
			}
			if err != nil {
				return nil, err
			}
			if t == nil {
				skipped = append(skipped, info.Name)
				continue
			}
			if seen[t.Name] {
				t.Name = fmt.Sprintf("%s/%s", subgraphName(f, si), t.Name)
			}
			if seen[t.Name] {
				t.Name = fmt.Sprintf("%s#%d", t.Name, ti)
			}
			seen[t.Name] = true
			f.Tensors[len(f.Tensors)-1].Tensor = t.Name
			m.Tensors = append(m.Tensors, t)
			if q := info.Quantization; q != nil && len(q.Scale) > 0 {
				m.Metadata.Set("tflite.quantization."+t.Name+".scale", q.Scale)
				m.Metadata.Set("tflite.quantization."+t.Name+".zero_point", q.ZeroPoint)
				m.Metadata.Set("tflite.quantization."+t.Name+".dimension", q.Dimension)
			}
		}
	}
	if len(skipped) > 0 {
		m.Metadata.Set("tflite.skipped", skipped)
	}
	return m, nil
}

func subgraphName(f *File, i int) string {
	if f.Subgraphs[i] != "" {
		return f.Subgraphs[i]
	}
	return fmt.Sprintf("subgraph%d", i)
}

// tensorInfo reads the checked tensor table tt; it also returns its sparsity table
// (checked, valid when info.Sparse).
func tensorInfo(tt *schema.Tensor, si, ti int) (TensorInfo, flatbuffers.Table, error) {
	t := tt.Table()
	at := int64(t.Pos)
	for _, f := range []struct{ slot, width int }{{1, 1}, {2, 4}, {5, 1}} { // type, buffer, is_variable
		if _, err := fieldPos(t, slot(f.slot), f.width); err != nil {
			return TensorInfo{}, flatbuffers.Table{}, err
		}
	}
	if err := checkString(t, slot(3)); err != nil {
		return TensorInfo{}, flatbuffers.Table{}, err
	}
	sparsity, sparse, err := subTable(t, slot(6))
	if err != nil {
		return TensorInfo{}, flatbuffers.Table{}, err
	}
	info := TensorInfo{Subgraph: si, Index: ti, Name: string(tt.Name()), Type: int8(tt.Type()),
		Buffer: tt.Buffer(), Sparse: sparse, Variable: tt.IsVariable()}
	if info.Name == "" {
		info.Name = fmt.Sprintf("tensor%d", ti)
	}
	rank, err := vectorLen(t, slot(0), 4)
	if err != nil {
		return info, sparsity, err
	}
	if rank > tensor.MaxDims {
		return info, sparsity, refit.Errorf("tflite", at, "tensor %q: rank %d", info.Name, rank)
	}
	info.Shape = make([]int64, rank)
	for i := range info.Shape {
		info.Shape[i] = int64(tt.Shape(i))
	}
	qt, ok, err := subTable(t, slot(4))
	if err != nil || !ok {
		return info, sparsity, err
	}
	var q schema.QuantizationParameters
	q.Init(qt.Bytes, qt.Pos)
	if _, err := fieldPos(qt, slot(6), 4); err != nil {
		return info, sparsity, err
	}
	p := &Quantization{Dimension: q.QuantizedDimension()}
	if p.Min, err = readVector(qt, slot(0), 4, q.Min); err != nil {
		return info, sparsity, err
	}
	if p.Max, err = readVector(qt, slot(1), 4, q.Max); err != nil {
		return info, sparsity, err
	}
	if p.Scale, err = readVector(qt, slot(2), 4, q.Scale); err != nil {
		return info, sparsity, err
	}
	if p.ZeroPoint, err = readVector(qt, slot(3), 8, q.ZeroPoint); err != nil {
		return info, sparsity, err
	}
	if len(p.Scale) > 0 || len(p.Min) > 0 {
		info.Quantization = p
	}
	return info, sparsity, nil
}

// bufferRange returns where the checked buffer b's bytes are in the file: inside the
// flatbuffer (data) or, for models over 2 GiB, at an absolute offset (offset, size).
func bufferRange(b *schema.Buffer, size int64) (int64, int64, error) {
	t := b.Table()
	if p, err := fieldPos(t, slot(0), 4); err != nil || p != 0 {
		if err != nil {
			return 0, 0, err
		}
		n, err := vectorLen(t, slot(0), 1)
		if err != nil {
			return 0, 0, err
		}
		return int64(t.Vector(flatbuffers.UOffsetT(t.Offset(slot(0))))), int64(n), nil
	}
	for _, s := range []int{1, 2} { // offset, size
		if _, err := fieldPos(t, slot(s), 8); err != nil {
			return 0, 0, err
		}
	}
	off, n := b.Offset(), b.Size()
	if off <= 1 || n == 0 { // 1 marks a buffer whose data is not yet written
		return 0, 0, nil
	}
	if off > uint64(size) || n > uint64(size)-off {
		return 0, 0, refit.Errorf("tflite", int64(t.Pos), "buffer of %d bytes at offset %d is beyond the %d-byte file", n, off, size)
	}
	return int64(off), int64(n), nil
}

// constTensor returns the constant tensor of info stored at off, or nil for types
// Refit cannot represent (strings, resources, int4).
func constTensor(info TensorInfo, r io.ReaderAt, off, n int64) (*tensor.Tensor, error) {
	dt, ok := dtypes[schema.TensorType(info.Type)]
	if !ok {
		return nil, nil
	}
	want, err := tensor.ByteSize(dt, info.Shape)
	if err != nil {
		return nil, refit.Errorf("tflite", off, "tensor %q: shape %v: %v", info.Name, info.Shape, err)
	}
	if want != n {
		return nil, refit.Errorf("tflite", off, "tensor %q: %v %v needs %d bytes, its buffer has %d", info.Name, dt, info.Shape, want, n)
	}
	return tensor.New(info.Name, dt, tensor.Shape(info.Shape).Clone(), io.NewSectionReader(r, off, n))
}

// Dequantize returns a lazy F32 view of an I8, U8, I16 or I32 tensor with q's
// parameters: real = scale * (q - zero_point), per channel along q.Dimension.
func Dequantize(t *tensor.Tensor, q *Quantization) (*tensor.Tensor, error) {
	if q == nil || len(q.Scale) == 0 {
		return nil, fmt.Errorf("tflite: tensor %q has no quantization scale", t.Name)
	}
	channels, inner := 1, int64(1)
	if len(q.Scale) > 1 {
		d := int(q.Dimension)
		if d < 0 || d >= len(t.Shape) || t.Shape[d] != int64(len(q.Scale)) {
			return nil, fmt.Errorf("tflite: tensor %q %v: %d scales along dimension %d", t.Name, t.Shape, len(q.Scale), d)
		}
		channels = len(q.Scale)
		for _, x := range t.Shape[d+1:] {
			inner *= x
		}
	}
	if len(q.ZeroPoint) != 0 && len(q.ZeroPoint) != len(q.Scale) {
		return nil, fmt.Errorf("tflite: tensor %q: %d zero points for %d scales", t.Name, len(q.ZeroPoint), len(q.Scale))
	}
	switch t.DType {
	case tensor.I8, tensor.U8, tensor.I16, tensor.I32:
	default:
		return nil, fmt.Errorf("tflite: dequantizing %v: %w", t.DType, refit.ErrUnsupported)
	}
	n := t.NumElements()
	lazy := tensor.NewLazy(n*4, func() ([]byte, error) {
		src, err := t.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]float32, n)
		for i := range out {
			var v int64
			switch t.DType {
			case tensor.I8:
				v = int64(int8(src[i]))
			case tensor.U8:
				v = int64(src[i])
			case tensor.I16:
				v = int64(int16(uint16(src[2*i]) | uint16(src[2*i+1])<<8))
			case tensor.I32:
				v = int64(int32(uint32(src[4*i]) | uint32(src[4*i+1])<<8 | uint32(src[4*i+2])<<16 | uint32(src[4*i+3])<<24))
			}
			c := 0
			if channels > 1 {
				c = int((int64(i) / inner) % int64(channels))
			}
			var zp int64
			if len(q.ZeroPoint) > 0 {
				zp = q.ZeroPoint[c]
			}
			out[i] = float32(float64(q.Scale[c]) * float64(v-zp)) // as TFLite's reference kernel
		}
		return tensor.EncodeFloat32(nil, out), nil
	})
	return tensor.New(t.Name, tensor.F32, t.Shape.Clone(), lazy)
}

// Info returns the TensorInfo of a Model tensor of m (decoded by this package) by its name in m.
func Info(m *refit.Model, name string) (*TensorInfo, bool) {
	f, ok := m.Source.(*File)
	if !ok {
		return nil, false
	}
	for i := range f.Tensors {
		if f.Tensors[i].Tensor == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// sparseTensor returns a lazily densified view of a sparse constant tensor.
func sparseTensor(sparsity flatbuffers.Table, info TensorInfo, r io.ReaderAt, off, n int64) (*tensor.Tensor, error) {
	dt, ok := dtypes[schema.TensorType(info.Type)]
	if !ok || dt.BlockSize() != 1 {
		return nil, nil
	}
	es := int64(dt.TypeSize())
	if n%es != 0 {
		return nil, refit.Errorf("tflite", off, "sparse tensor %q: %d bytes is not a whole number of %v values", info.Name, n, dt)
	}
	sp, err := readSparsity(sparsity)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	size, err := tensor.ByteSize(dt, info.Shape)
	if err != nil {
		return nil, refit.Errorf("tflite", off, "tensor %q: shape %v: %v", info.Name, info.Shape, err)
	}
	if size/maxDensify > n+1<<20 {
		return nil, refit.Errorf("tflite", off, "sparse tensor %q: %d dense bytes from %d stored", info.Name, size, n)
	}
	exp, err := sp.expanded(info.Shape, n/es)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
	}
	shape := tensor.Shape(info.Shape).Clone()
	stored := io.NewSectionReader(r, off, n)
	return tensor.New(info.Name, dt, shape, tensor.NewLazy(size, func() ([]byte, error) {
		b := make([]byte, n)
		if k, err := stored.ReadAt(b, 0); int64(k) != n {
			return nil, &refit.FormatError{Format: "tflite", Offset: off, Msg: "reading sparse values", Err: err}
		}
		return sp.densify(b, int(es), shape, exp), nil
	}))
}
