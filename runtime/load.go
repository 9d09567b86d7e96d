package runtime

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"unsafe"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Load prepares a model for running. fsys resolves external tensor data (paths relative
// to the model file's folder); it may be nil when all data is inline. Every unknown
// operator is reported here, never mid-run. Initializers whose raw_data already is
// their values as this CPU lays them out (float32, int32, 8-bit) share those bytes
// with mp instead of being copied (except those under 64 KiB left in a file's mapping,
// which kernels would fault in on every Run): the caller must not modify mp's raw_data
// while the session is in use (replacing the slice is fine). A model file truncated by another
// process while it is read gives an error wrapping refit.ErrFormat.
func Load(mp *onnxpb.ModelProto, fsys fs.FS, opts *Options) (*Session, error) {
	var s *Session
	err := refit.GuardMapped(func() (err error) {
		s, err = load(mp, fsys, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func load(mp *onnxpb.ModelProto, fsys fs.FS, opts *Options) (*Session, error) {
	if mp.GetGraph() == nil {
		return nil, fmt.Errorf("runtime: model has no graph: %w", refit.ErrFormat)
	}
	opsets := map[string]int64{}
	for _, o := range mp.GetOpsetImport() {
		d := o.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		opsets[d] = o.GetVersion()
	}
	if _, ok := opsets[""]; !ok {
		opsets[""] = 1
	}
	var maxMemory int64
	if opts != nil {
		maxMemory = opts.MaxMemory
	}
	// The initializers are charged to the session's budget as they are decoded.
	budget := newMemBudget(maxMemory, nil)
	g, err := graphFromProto(mp.GetGraph(), fsys, budget)
	if err != nil {
		return nil, err
	}
	s, err := newSession(g, opsets, opts, budget)
	if err != nil {
		return nil, err
	}
	// Parsing the file and copying the small initializers faulted in pages of the
	// weights around them (whole folios of the page cache); drop them from the
	// resident set until a kernel reads them (or packs them, once, on the first Run).
	for _, tp := range mp.GetGraph().GetInitializer() {
		if raw := tp.GetRawData(); len(raw) > 0 {
			refit.ReleaseMapped(raw)
		}
	}
	return s, nil
}

func graphFromProto(gp *onnxpb.GraphProto, fsys fs.FS, budget *memBudget) (*Graph, error) {
	g := &Graph{Name: gp.GetName(), Initializers: map[string]*Value{}}
	for _, tp := range gp.GetInitializer() {
		v, err := valueFromProto(tp, fsys, budget)
		if err != nil {
			return nil, fmt.Errorf("runtime: initializer %q: %w", tp.GetName(), err)
		}
		g.Initializers[tp.GetName()] = v
	}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("runtime: graph %q: sparse initializers: %w", g.Name, errUnsupported)
	}
	for _, vi := range gp.GetInput() {
		g.Inputs = append(g.Inputs, valueInfo(vi))
	}
	for _, vi := range gp.GetOutput() {
		g.Outputs = append(g.Outputs, valueInfo(vi))
	}
	for i, np := range gp.GetNode() {
		n := &Node{Name: np.GetName(), OpType: np.GetOpType(), Domain: np.GetDomain(),
			Inputs: np.GetInput(), Outputs: np.GetOutput(), Attrs: map[string]*Attr{}}
		if n.Domain == "ai.onnx" {
			n.Domain = ""
		}
		if n.Name == "" {
			n.Name = n.OpType + "_" + strconv.Itoa(i)
		}
		for _, ap := range np.GetAttribute() {
			a, err := attrFromProto(ap, fsys, budget)
			if err != nil {
				return nil, nodeError(n, err)
			}
			n.Attrs[a.Name] = a
		}
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

func valueInfo(vi *onnxpb.ValueInfoProto) ValueInfo {
	info := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return info
	}
	info.DType, _ = dtypeFromONNX(tt.GetElemType())
	if sh := tt.GetShape(); sh != nil {
		info.HasShape = true
		for _, d := range sh.GetDim() {
			dim := Dim{Size: -1}
			switch x := d.GetValue().(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				dim.Size = x.DimValue
			case *onnxpb.TensorShapeProto_Dimension_DimParam:
				dim.Param = x.DimParam
			}
			info.Dims = append(info.Dims, dim)
		}
	}
	return info
}

func attrFromProto(ap *onnxpb.AttributeProto, fsys fs.FS, budget *memBudget) (*Attr, error) {
	a := &Attr{Name: ap.GetName()}
	if ap.GetRefAttrName() != "" {
		return nil, fmt.Errorf("attribute %q refers to a function attribute: %w", a.Name, errUnsupported)
	}
	T := onnxpb.AttributeProto_AttributeType(0)
	switch ap.GetType() {
	case T + 1:
		a.Kind, a.Float = AttrFloat, ap.GetF()
	case T + 2:
		a.Kind, a.Int = AttrInt, ap.GetI()
	case T + 3:
		a.Kind, a.String = AttrString, string(ap.GetS())
	case T + 4:
		v, err := valueFromProto(ap.GetT(), fsys, budget)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
		}
		a.Kind, a.Tensor = AttrTensor, v
	case T + 5:
		sg, err := graphFromProto(ap.GetG(), fsys, budget)
		if err != nil {
			return nil, err
		}
		a.Kind, a.Graph = AttrGraph, sg
	case T + 6:
		a.Kind, a.Floats = AttrFloats, ap.GetFloats()
	case T + 7:
		a.Kind, a.Ints = AttrInts, ap.GetInts()
	case T + 8:
		a.Kind = AttrStrings
		for _, s := range ap.GetStrings() {
			a.Strings = append(a.Strings, string(s))
		}
	case T + 9:
		a.Kind = AttrTensors
		for _, tp := range ap.GetTensors() {
			v, err := valueFromProto(tp, fsys, budget)
			if err != nil {
				return nil, fmt.Errorf("attribute %q: %w", a.Name, err)
			}
			a.Tensors = append(a.Tensors, v)
		}
	case T + 10:
		a.Kind = AttrGraphs
		for _, gp := range ap.GetGraphs() {
			sg, err := graphFromProto(gp, fsys, budget)
			if err != nil {
				return nil, err
			}
			a.Graphs = append(a.Graphs, sg)
		}
	default:
		// Sparse tensors and type protos: kept as undefined; kernels that need them fail clearly.
		a.Kind = AttrUndefined
	}
	return a, nil
}

// dtypeFromONNX maps TensorProto.DataType to a runtime dtype.
func dtypeFromONNX(code int32) (tensor.DType, bool) {
	switch code {
	case 1:
		return tensor.F32, true
	case 2:
		return tensor.U8, true
	case 3:
		return tensor.I8, true
	case 4:
		return tensor.U16, true
	case 5:
		return tensor.I16, true
	case 6:
		return tensor.I32, true
	case 7:
		return tensor.I64, true
	case 9:
		return tensor.Bool, true
	case 10:
		return tensor.F16, true
	case 11:
		return tensor.F64, true
	case 12:
		return tensor.U32, true
	case 13:
		return tensor.U64, true
	case 16:
		return tensor.BF16, true
	}
	return tensor.Invalid, false
}

// ValueFromProto decodes a TensorProto, reading external data from fsys.
// Every length is checked against the shape before anything is allocated.
func ValueFromProto(tp *onnxpb.TensorProto, fsys fs.FS) (*Value, error) {
	return valueFromProto(tp, fsys, nil)
}

// valueFromProto is ValueFromProto charging the decoded data (and a transient copy
// of external data) to budget when it is not nil.
func valueFromProto(tp *onnxpb.TensorProto, fsys fs.FS, budget *memBudget) (*Value, error) {
	if tp.GetDataType() == onnxString {
		return stringsFromProto(tp)
	}
	dt, ok := dtypeFromONNX(tp.GetDataType())
	if !ok {
		return nil, fmt.Errorf("tensor data type %d: %w", tp.GetDataType(), errUnsupported)
	}
	shape := tp.GetDims()
	n, err := tensor.Shape(shape).NumElements()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", refit.ErrFormat, err)
	}
	size, err := tensor.ByteSize(dt, shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", refit.ErrFormat, err)
	}
	external := tp.GetDataLocation() == 1 // EXTERNAL
	raw := tp.GetRawData()
	// The data present must match the declared shape before anything is allocated:
	// a few bytes must not make a tensor of 2^40 elements.
	if !external && raw == nil && n > 0 {
		if have := typedDataLen(tp, dt); have != n {
			return nil, fmt.Errorf("%w: %v%v needs %d values, have %d", refit.ErrFormat, dt, tensor.Shape(shape), n, have)
		}
	}
	if !external && raw != nil && int64(len(raw)) != size {
		return nil, fmt.Errorf("%w: %v%v needs %d bytes, have %d", refit.ErrFormat, dt, tensor.Shape(shape), size, len(raw))
	}
	bytes, ok := sliceBytes(dt, n)
	what := func() string { return fmt.Sprintf("tensor %q %v%v", tp.GetName(), dt, tensor.Shape(shape)) }
	if budget != nil {
		if !ok {
			return nil, &MemoryError{What: what(), Requested: bytes, InUse: budget.inUse(), Limit: budget.limit}
		}
		if external {
			bytes += size // the file's bytes, held while they are decoded
		}
		if err := budget.charge(bytes, what); err != nil {
			return nil, err
		}
	}
	v, err := decodeProtoData(tp, fsys, dt, shape, n, size)
	if budget != nil {
		if external {
			budget.release(size)
			bytes -= size
		}
		if err != nil {
			budget.release(bytes)
			return nil, err
		}
		if raw := tp.GetRawData(); len(raw) > 0 && slicePointer(v.Data) == &raw[0] && refit.IsMapped(raw) {
			// Data left in the model file's mapping is page cache, not memory
			// of the process, and cannot be tracked as a Go allocation.
			budget.release(bytes)
		} else {
			budget.track(slicePointer(v.Data), bytes)
		}
	}
	return v, err
}

// typedDataLen is the number of values in the typed field that holds dt's data.
func typedDataLen(tp *onnxpb.TensorProto, dt tensor.DType) int64 {
	switch dt {
	case tensor.F32:
		return int64(len(tp.GetFloatData()))
	case tensor.F64:
		return int64(len(tp.GetDoubleData()))
	case tensor.I64:
		return int64(len(tp.GetInt64Data()))
	case tensor.U64, tensor.U32:
		return int64(len(tp.GetUint64Data()))
	}
	// int32_data carries every type of 32 bits or fewer, bit patterns for the halves.
	return int64(len(tp.GetInt32Data()))
}

// decodeProtoData reads the data of a TensorProto whose lengths valueFromProto checked.
func decodeProtoData(tp *onnxpb.TensorProto, fsys fs.FS, dt tensor.DType, shape []int64, n, size int64) (*Value, error) {
	if tp.GetDataLocation() == 1 {
		b, err := readExternal(tp, fsys, size)
		if err != nil {
			return nil, err
		}
		return decodeLE(dt, shape, b)
	}
	if raw := tp.GetRawData(); raw != nil || n == 0 {
		if len(raw) >= minAliasMapped || !refit.IsMapped(raw) {
			if v := aliasRaw(dt, shape, raw, n); v != nil {
				return v, nil
			}
		}
		return decodeLE(dt, shape, raw)
	}
	v := newValueChecked(dt, shape, n)
	switch d := v.Data.(type) {
	case []float32:
		copy(d, tp.GetFloatData())
	case []float64:
		copy(d, tp.GetDoubleData())
	case []int64:
		copy(d, tp.GetInt64Data())
	case []uint64:
		copy(d, tp.GetUint64Data())
	case []uint32:
		for i, x := range tp.GetUint64Data() {
			d[i] = uint32(x)
		}
	default:
		for i, x := range tp.GetInt32Data() {
			switch d := d.(type) {
			case []int32:
				d[i] = x
			case []int16:
				d[i] = int16(x)
			case []int8:
				d[i] = int8(x)
			case []uint8:
				d[i] = uint8(x)
			case []uint16:
				d[i] = uint16(x)
			case []bool:
				d[i] = x != 0
			}
		}
	}
	return v, nil
}

// newValueChecked is NewValue for a shape whose element count n is already validated.
func newValueChecked(dt tensor.DType, shape []int64, n int64) *Value {
	return &Value{DType: dt, Shape: append([]int64{}, shape...), Data: makeSlice(dt, int(n))}
}

func readExternal(tp *onnxpb.TensorProto, fsys fs.FS, size int64) ([]byte, error) {
	var loc string
	var off, length int64 = 0, -1
	for _, kv := range tp.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			off, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil || off < 0 {
			return nil, fmt.Errorf("%w: external data %s=%q", refit.ErrFormat, kv.GetKey(), kv.GetValue())
		}
	}
	if fsys == nil {
		return nil, fmt.Errorf("runtime: tensor %q has external data but no folder was given: %w", tp.GetName(), errUnsupported)
	}
	loc = path.Clean(loc)
	if !refit.IsLocalPath(loc) {
		return nil, fmt.Errorf("runtime: external data path %q: %w", loc, refit.ErrInsecurePath)
	}
	if length >= 0 && length != size {
		return nil, fmt.Errorf("%w: external data length %d, tensor needs %d", refit.ErrFormat, length, size)
	}
	f, err := fsys.Open(loc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if off > st.Size() || st.Size()-off < size {
		return nil, fmt.Errorf("%w: external data %q holds %d bytes, tensor needs %d at offset %d", refit.ErrFormat, loc, st.Size(), size, off)
	}
	b := make([]byte, size)
	if ra, ok := f.(io.ReaderAt); ok {
		_, err = ra.ReadAt(b, off)
	} else {
		if _, err = io.CopyN(io.Discard, f, off); err == nil {
			_, err = io.ReadFull(f, b)
		}
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// minAliasMapped is the size below which an initializer left in a file's mapping is
// copied rather than shared. Kernels read small initializers (biases, scales,
// shapes) on every Run, and a fault on a mapped page maps the page cache's whole
// folio around it, up to 2 MiB of the neighbouring weights that packing had dropped
// from the resident set (ResNet-18: 20 MiB back after each Run, from its biases);
// the copies of tensors this small add little.
const minAliasMapped = 64 << 10

// littleEndian reports the byte order of this CPU: raw_data is little-endian.
var littleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

// aliasRaw returns a value whose data is raw itself, not a copy, when raw already is
// that data as this CPU lays it out (little-endian, aligned for the element type or
// on a CPU whose loads need no alignment; raw_data in a file is rarely aligned):
// a model's weights then take their memory once, not twice. The session treats
// initializers as read-only, and nothing in Refit writes into a TensorProto's
// raw_data in place. nil means decode a copy.
func aliasRaw(dt tensor.DType, shape []int64, raw []byte, n int64) *Value {
	if !littleEndian || n == 0 || int64(len(raw)) != n*int64(elemBytes(dt)) {
		return nil
	}
	p := unsafe.Pointer(&raw[0])
	var data any
	switch dt {
	case tensor.U8:
		data = raw[:n:n]
	case tensor.I8:
		data = unsafe.Slice((*int8)(p), n)
	case tensor.F32:
		if uintptr(p)%4 != 0 && !unalignedLoads {
			return nil
		}
		data = unsafe.Slice((*float32)(p), n)
	case tensor.I32:
		if uintptr(p)%4 != 0 && !unalignedLoads {
			return nil
		}
		data = unsafe.Slice((*int32)(p), n)
	default:
		return nil
	}
	return &Value{DType: dt, Shape: append([]int64{}, shape...), Data: data}
}
