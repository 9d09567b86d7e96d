package onnx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/proto"
)

// maxProtoSize is protobuf's 2 GiB message limit, which every ONNX tool enforces.
const maxProtoSize = math.MaxInt32

// TensorFromProto converts a TensorProto of any storage form to a tensor: raw_data
// (aliased, not copied), the typed fields (float_data, int32_data holding float16,
// bfloat16, float8 or bool bit patterns, int64_data, double_data, uint64_data;
// converted), or external data, read into memory from fsys, which must be the folder
// the locations are relative to (the model's folder); fsys may be nil when the
// tensor has no external data.
func TensorFromProto(tp *onnxpb.TensorProto, fsys fs.FS) (*tensor.Tensor, error) {
	return protoTensor(tp, nil, &resolver{fsys: fsys, dir: "."})
}

// TensorToProto converts a tensor to a TensorProto holding its bytes in raw_data.
func TensorToProto(t *tensor.Tensor) (*onnxpb.TensorProto, error) {
	elem, err := ElemType(t.DType)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	b, err := t.Bytes()
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{Dims: append([]int64{}, t.Shape...), DataType: proto.Int32(elem), RawData: b}
	if t.Name != "" {
		tp.Name = proto.String(t.Name)
	}
	return tp, nil
}

// ReadTensorProto reads a file holding one serialized TensorProto, such as the
// input_0.pb / output_0.pb files of the ONNX backend test suite.
func ReadTensorProto(name string) (*onnxpb.TensorProto, error) {
	b, err := readCapped(name)
	if err != nil {
		return nil, err
	}
	tp := new(onnxpb.TensorProto)
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, &refit.FormatError{Format: "onnx", Offset: -1, Msg: name + " is not a TensorProto", Err: err}
	}
	return tp, nil
}

// ReadTensorFile reads a serialized TensorProto file as a tensor; external data is
// resolved relative to the file's folder.
func ReadTensorFile(name string) (*tensor.Tensor, error) {
	tp, err := ReadTensorProto(name)
	if err != nil {
		return nil, err
	}
	dir, _ := splitDir(name)
	return TensorFromProto(tp, refit.DirFS(dir))
}

func splitDir(name string) (dir, base string) {
	i := strings.LastIndexAny(name, `/`)
	if i < 0 {
		return ".", name
	}
	if i == 0 {
		return "/", name[1:]
	}
	return name[:i], name[i+1:]
}

func readCapped(name string) ([]byte, error) {
	f, err := refit.OpenRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxProtoSize {
		return nil, refit.Errorf("onnx", -1, "%s is %d bytes, over the 2 GiB protobuf limit", name, st.Size())
	}
	return io.ReadAll(f)
}

// resolver finds external data files. With lazy set it keeps each file open and
// returns section readers into it; otherwise it reads the bytes and closes the file.
type resolver struct {
	fsys  fs.FS
	dir   string // folder of the model file inside fsys
	lazy  bool
	files map[string]refit.File
}

func (r *resolver) Close() error {
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}

// externalRef is a tensor's parsed external_data entries.
type externalRef struct {
	location       string // cleaned, relative, slash-separated
	offset, length int64
	hasLength      bool
}

// cleanLocation validates an external data location taken from a file with
// refit.IsLocalPath after normalizing what ONNX writers produce: backslashes (Windows
// writers) count as slashes, and "./" or "a//b" are cleaned. A ".." element is
// refused even where cleaning would remove it.
func cleanLocation(loc string) (string, bool) {
	l := strings.ReplaceAll(loc, `\`, "/")
	if slices.Contains(strings.Split(l, "/"), "..") {
		return "", false
	}
	c := path.Clean(l)
	return c, refit.IsLocalPath(c)
}

func parseExternal(tp *onnxpb.TensorProto) (externalRef, error) {
	name := tp.GetName()
	var ref externalRef
	var loc string
	for _, kv := range tp.GetExternalData() {
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset", "length":
			v, err := strconv.ParseInt(kv.GetValue(), 10, 64)
			if err != nil || v < 0 {
				return ref, refit.Errorf("onnx", -1, "tensor %q: external data %s %q is not a non-negative integer", name, kv.GetKey(), kv.GetValue())
			}
			if kv.GetKey() == "offset" {
				ref.offset = v
			} else {
				ref.length, ref.hasLength = v, true
			}
		}
	}
	if loc == "" {
		return ref, refit.Errorf("onnx", -1, "tensor %q: external data without a location", name)
	}
	c, ok := cleanLocation(loc)
	if !ok {
		return ref, fmt.Errorf("onnx: tensor %q: external data location %q: %w", name, loc, refit.ErrInsecurePath)
	}
	ref.location = c
	return ref, nil
}

// external returns the size bytes of tp's external data.
func (r *resolver) external(tp *onnxpb.TensorProto, size int64) (tensor.Data, error) {
	name := tp.GetName()
	ref, err := parseExternal(tp)
	if err != nil {
		return nil, err
	}
	if r == nil || r.fsys == nil {
		return nil, refit.Unsupportedf("onnx", "tensor %q has external data (%s) but the model was not opened from a folder", name, ref.location)
	}
	p := path.Join(r.dir, ref.location)
	f := r.files[p]
	if f == nil {
		f, err = refit.OpenFS(r.fsys, p)
		if err != nil {
			return nil, fmt.Errorf("onnx: tensor %q: external data: %w", name, err)
		}
		if r.lazy {
			if r.files == nil {
				r.files = map[string]refit.File{}
			}
			r.files[p] = f
		} else {
			defer f.Close()
		}
	}
	fsize := f.Size()
	length := ref.length
	if !ref.hasLength {
		length = max(fsize-ref.offset, 0)
	}
	if ref.offset > fsize || length > fsize-ref.offset {
		return nil, refit.WrapErrorf("onnx", -1, io.ErrUnexpectedEOF, "tensor %q: external data [%d, +%d) lies beyond the end of %s (%d bytes)", name, ref.offset, length, ref.location, fsize)
	}
	if length != size {
		return nil, refit.Errorf("onnx", -1, "tensor %q: external data has %d bytes, its type and shape need %d", name, length, size)
	}
	if r.lazy {
		return io.NewSectionReader(f, ref.offset, length), nil
	}
	buf := make([]byte, length)
	if n, err := f.ReadAt(buf, ref.offset); n != len(buf) {
		return nil, refit.WrapErrorf("onnx", -1, err, "tensor %q: reading external data from %s", name, ref.location)
	}
	return bytes.NewReader(buf), nil
}

// hasTyped reports whether any typed data field is set.
func hasTyped(tp *onnxpb.TensorProto) bool {
	return len(tp.FloatData)+len(tp.Int32Data)+len(tp.StringData)+len(tp.Int64Data)+len(tp.DoubleData)+len(tp.Uint64Data) > 0
}

// protoShape validates dims.
func protoShape(tp *onnxpb.TensorProto) (tensor.Shape, error) {
	if len(tp.Dims) > tensor.MaxDims {
		return nil, refit.Errorf("onnx", -1, "tensor %q: %d dimensions, more than %d", tp.GetName(), len(tp.Dims), tensor.MaxDims)
	}
	for _, d := range tp.Dims {
		if d < 0 {
			return nil, refit.Errorf("onnx", -1, "tensor %q: negative dimension in %v", tp.GetName(), tp.Dims)
		}
	}
	return tensor.Shape(append([]int64{}, tp.Dims...)), nil
}

// protoTensor converts tp; raw, when not nil, is its raw_data kept outside the proto.
func protoTensor(tp *onnxpb.TensorProto, raw tensor.Data, r *resolver) (*tensor.Tensor, error) {
	name := tp.GetName()
	d, err := DTypeOf(tp.GetDataType())
	if errors.Is(err, refit.ErrUnsupported) {
		return nil, refit.Unsupportedf("onnx", "tensor %q: element type %s has no Refit dtype", name, TypeName(tp.GetDataType()))
	} else if err != nil {
		return nil, refit.Errorf("onnx", -1, "tensor %q: unknown element type %d", name, tp.GetDataType())
	}
	if tp.Segment != nil {
		return nil, refit.Unsupportedf("onnx", "tensor %q is a segment of a larger tensor", name)
	}
	shape, err := protoShape(tp)
	if err != nil {
		return nil, err
	}
	size, err := tensor.ByteSize(d, shape)
	if err != nil {
		return nil, refit.WrapErrorf("onnx", -1, err, "tensor %q: shape %v", name, shape)
	}
	if raw == nil && tp.RawData != nil {
		raw = bytes.NewReader(tp.RawData)
	}
	external := tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL
	var data tensor.Data
	switch {
	case external && (raw != nil || hasTyped(tp)):
		return nil, refit.Errorf("onnx", -1, "tensor %q: has both external data and data in the file", name)
	case raw != nil && hasTyped(tp):
		return nil, refit.Errorf("onnx", -1, "tensor %q: has both raw_data and typed data fields", name)
	case external:
		if data, err = r.external(tp, size); err != nil {
			return nil, err
		}
	case raw != nil:
		if raw.Size() != size {
			return nil, refit.Errorf("onnx", -1, "tensor %q: raw_data has %d bytes, %v %v needs %d", name, raw.Size(), d, shape, size)
		}
		data = raw
	default:
		b, err := typedBytes(tp, shape.Elements(), d)
		if err != nil {
			return nil, err
		}
		data = bytes.NewReader(b)
	}
	return tensor.New(name, d, shape, data)
}

// typedBytes converts the typed data field that holds tp's n elements of type d to
// little-endian bytes. Counts are checked against the values present before allocating.
func typedBytes(tp *onnxpb.TensorProto, n int64, d tensor.DType) ([]byte, error) {
	name := tp.GetName()
	count := func(field string, have int, per int64) error {
		if int64(have) != n*per {
			return refit.Errorf("onnx", -1, "tensor %q: %s has %d values, shape %v of %s needs %d", name, field, have, tp.Dims, TypeName(tp.GetDataType()), n*per)
		}
		return nil
	}
	le := binary.LittleEndian
	size := int64(d.TypeSize()) * n // n was checked by ByteSize and equals the values present below
	switch tp.GetDataType() {
	case typeFloat, typeComplex64:
		if err := count("float_data", len(tp.FloatData), size/4/max(n, 1)); err != nil {
			return nil, err
		}
		out := make([]byte, 0, 4*len(tp.FloatData))
		for _, v := range tp.FloatData {
			out = le.AppendUint32(out, math.Float32bits(v))
		}
		return out, nil
	case typeDouble, typeComplex128:
		if err := count("double_data", len(tp.DoubleData), size/8/max(n, 1)); err != nil {
			return nil, err
		}
		out := make([]byte, 0, 8*len(tp.DoubleData))
		for _, v := range tp.DoubleData {
			out = le.AppendUint64(out, math.Float64bits(v))
		}
		return out, nil
	case typeInt64:
		if err := count("int64_data", len(tp.Int64Data), 1); err != nil {
			return nil, err
		}
		out := make([]byte, 0, 8*len(tp.Int64Data))
		for _, v := range tp.Int64Data {
			out = le.AppendUint64(out, uint64(v))
		}
		return out, nil
	case typeUint32, typeUint64:
		if err := count("uint64_data", len(tp.Uint64Data), 1); err != nil {
			return nil, err
		}
		out := make([]byte, 0, d.TypeSize()*len(tp.Uint64Data))
		for _, v := range tp.Uint64Data {
			if d == tensor.U32 {
				out = le.AppendUint32(out, uint32(v))
			} else {
				out = le.AppendUint64(out, v)
			}
		}
		return out, nil
	default: // INT32, INT16, INT8, UINT16, UINT8, BOOL, FLOAT16, BFLOAT16, FLOAT8: int32_data
		if err := count("int32_data", len(tp.Int32Data), 1); err != nil {
			return nil, err
		}
		out := make([]byte, 0, d.TypeSize()*len(tp.Int32Data))
		for _, v := range tp.Int32Data {
			switch d.TypeSize() {
			case 1:
				out = append(out, byte(v))
			case 2:
				out = le.AppendUint16(out, uint16(v))
			default:
				out = le.AppendUint32(out, uint32(v))
			}
		}
		return out, nil
	}
}
