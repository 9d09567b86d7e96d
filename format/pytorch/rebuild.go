package pytorch

import (
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pickle"
	"github.com/refit-ml/refit/tensor"
)

// maxExpand caps the bytes a strided view may materialize beyond its storage's size
// (views with zero strides, as torch's expand() makes, can be far larger than their storage).
const maxExpand = 1 << 30

// storage is a torch storage: numel elements of dtype. Its bytes are found later
// (legacy files list them after the pickle), so reads go through the resolved fields.
type storage struct {
	key   string
	dtype tensor.DType
	numel int64

	// Resolved data: numel*elemsize bytes in file byte order.
	readAt    io.ReaderAt // direct access (stored zip member, legacy file), or nil
	base      int64       // byte offset of element 0 in readAt
	inflate   func(n int64) ([]byte, error)
	bigEndian bool
	resolved  bool

	root       *storage // legacy views: this storage is root[rootOffset:]
	rootOffset int64
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it: a view of a storage.
type tensorRef struct {
	st     *storage
	offset int64
	shape  []int64
	stride []int64
}

func errorf(msg string, args ...any) error { return refit.Errorf("pytorch", -1, msg, args...) }

// globals returns the allowlist for torch pickles.
func globals() map[string]any {
	g := map[string]any{
		"torch._utils._rebuild_tensor_v2":                pickle.Func(rebuildTensor),
		"torch._utils._rebuild_tensor":                   pickle.Func(rebuildTensor),
		"torch._utils._rebuild_parameter":                pickle.Func(rebuildParameter),
		"torch._utils._rebuild_parameter_with_state":     pickle.Func(rebuildParameter),
		"torch._tensor._rebuild_from_type_v2":            pickle.Func(rebuildFromType),
		"torch._utils._rebuild_qtensor":                  pickle.Func(unsupported("quantized tensors")),
		"torch._utils._rebuild_sparse_tensor":            pickle.Func(unsupported("sparse tensors")),
		"torch._utils._rebuild_sparse_csr_tensor":        pickle.Func(unsupported("sparse tensors")),
		"torch._utils._rebuild_meta_tensor_no_storage":   pickle.Func(unsupported("meta tensors")),
		"torch._utils._rebuild_wrapper_subclass":         pickle.Func(unsupported("tensor subclasses")),
		"torch._utils._rebuild_device_tensor_from_numpy": pickle.Func(unsupported("tensors saved from numpy")),
		"torch.Size":                    pickle.Func(size),
		"torch.device":                  pickle.Func(device),
		"torch.Tensor":                  &pickle.Class{Module: "torch", Name: "Tensor"},
		"torch.nn.parameter.Parameter":  &pickle.Class{Module: "torch.nn.parameter", Name: "Parameter"},
		"torch.storage.UntypedStorage":  &storageType{"UntypedStorage", tensor.U8},
		"torch.UntypedStorage":          &storageType{"UntypedStorage", tensor.U8},
		"torch.storage._UntypedStorage": &storageType{"UntypedStorage", tensor.U8},
		"torch.storage._TypedStorage":   &storageType{"TypedStorage", tensor.U8},
		"torch.storage.TypedStorage":    &storageType{"TypedStorage", tensor.U8},
	}
	for k, v := range pickle.Builtins() {
		g[k] = v
	}
	for _, s := range storageNames {
		g["torch."+s.name] = &storageType{s.name, s.dtype}
	}
	for name, d := range dtypeNames {
		g["torch."+name] = &dtypeValue{name, d}
	}
	return g
}

func unsupported(what string) pickle.Func {
	return func([]any) (any, error) { return nil, refit.Unsupportedf("pytorch", "%s", what) }
}

func intArg(args []any, i int, what string) (int64, error) {
	if i >= len(args) {
		return 0, errorf("missing %s", what)
	}
	v, ok := pickle.Int(args[i])
	if !ok {
		return 0, errorf("%s is %T, not an integer", what, args[i])
	}
	return v, nil
}

func intTuple(v any, what string) ([]int64, error) {
	var items []any
	switch x := v.(type) {
	case pickle.Tuple:
		items = x
	case *pickle.List:
		items = x.Items
	default:
		return nil, errorf("%s is %T, not a tuple", what, v)
	}
	if len(items) > tensor.MaxDims {
		return nil, errorf("%s has %d dimensions (max %d)", what, len(items), tensor.MaxDims)
	}
	out := make([]int64, len(items))
	for i, e := range items {
		n, ok := pickle.Int(e)
		if !ok {
			return nil, errorf("%s[%d] is %T, not an integer", what, i, e)
		}
		out[i] = n
	}
	return out, nil
}

// rebuildTensor implements _rebuild_tensor_v2(storage, storage_offset, size, stride, ...)
// and _rebuild_tensor(storage, storage_offset, size, stride).
func rebuildTensor(args []any) (any, error) {
	if len(args) < 4 {
		return nil, errorf("_rebuild_tensor with %d arguments", len(args))
	}
	st, ok := args[0].(*storage)
	if !ok {
		return nil, errorf("_rebuild_tensor storage is %T", args[0])
	}
	off, err := intArg(args, 1, "storage offset")
	if err != nil {
		return nil, err
	}
	shape, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(stride) != len(shape) {
		return nil, errorf("size %v and stride %v differ in rank", shape, stride)
	}
	t := &tensorRef{st: st, offset: off, shape: shape, stride: stride}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

func rebuildParameter(args []any) (any, error) {
	if len(args) < 1 {
		return nil, errorf("_rebuild_parameter without data")
	}
	if _, ok := args[0].(*tensorRef); !ok {
		return nil, errorf("_rebuild_parameter data is %T", args[0])
	}
	return args[0], nil
}

// rebuildFromType implements _rebuild_from_type_v2(func, new_type, args, state): the
// tensor func builds is kept; the subclass is dropped.
func rebuildFromType(args []any) (any, error) {
	if len(args) < 3 {
		return nil, errorf("_rebuild_from_type_v2 with %d arguments", len(args))
	}
	fn, ok1 := args[0].(pickle.Callable)
	inner, ok2 := args[2].(pickle.Tuple)
	if !ok1 || !ok2 {
		return nil, errorf("_rebuild_from_type_v2 with %T, %T", args[0], args[2])
	}
	return fn.Call(inner)
}

func size(args []any) (any, error) {
	if len(args) == 0 {
		return pickle.Tuple{}, nil
	}
	dims, err := intTuple(args[0], "torch.Size")
	if err != nil {
		return nil, err
	}
	out := make(pickle.Tuple, len(dims))
	for i, d := range dims {
		out[i] = d
	}
	return out, nil
}

func device(args []any) (any, error) {
	if len(args) == 0 {
		return nil, errorf("torch.device without arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, errorf("torch.device argument is %T", args[0])
	}
	return s, nil
}

// check validates the view against its storage's element count.
func (t *tensorRef) check() error {
	n, err := tensor.Shape(t.shape).NumElements()
	if err != nil {
		return errorf("tensor size %v: %v", t.shape, err)
	}
	if t.offset < 0 || t.offset > t.st.numel {
		return errorf("storage offset %d outside a storage of %d elements", t.offset, t.st.numel)
	}
	if n == 0 {
		return nil
	}
	last := uint64(t.offset)
	for i, d := range t.shape {
		if t.stride[i] < 0 {
			return errorf("negative stride %v", t.stride)
		}
		hi, lo := bits.Mul64(uint64(d-1), uint64(t.stride[i]))
		sum, carry := bits.Add64(last, lo, 0)
		if hi != 0 || carry != 0 || sum > math.MaxInt64 {
			return errorf("view %v strides %v overflows", t.shape, t.stride)
		}
		last = sum
	}
	if int64(last) >= t.st.numel {
		return errorf("view (offset %d, size %v, stride %v) reaches element %d of a storage of %d",
			t.offset, t.shape, t.stride, last, t.st.numel)
	}
	return nil
}

// contiguous reports whether the view is row-major without gaps.
func (t *tensorRef) contiguous() bool {
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.shape[i]
	}
	return true
}

// rootStorage follows legacy views to the storage that owns the bytes.
func (s *storage) rootStorage() (*storage, int64) {
	off := int64(0)
	for s.root != nil {
		off += s.rootOffset
		s = s.root
	}
	return s, off
}

// readElems reads n elements starting at element off of the storage, in file byte order.
func (s *storage) readElems(off, n int64) ([]byte, error) {
	es := int64(s.dtype.TypeSize())
	if s.inflate != nil {
		b, err := s.inflate((off + n) * es)
		if err != nil {
			return nil, err
		}
		return b[off*es:], nil
	}
	buf := make([]byte, n*es)
	got, err := s.readAt.ReadAt(buf, s.base+off*es)
	if int64(got) == n*es {
		return buf, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("pytorch: storage %s: %w", s.key, err)
}

// data returns the tensor's bytes: a view of the file when possible, computed lazily otherwise.
func (t *tensorRef) data(d tensor.DType) (tensor.Data, error) {
	root, rootOff := t.st.rootStorage()
	if !root.resolved {
		return nil, errorf("storage %q has no data", root.key)
	}
	es := int64(d.TypeSize())
	n := tensor.Shape(t.shape).Elements()
	nbytes := n * es
	start := rootOff + t.offset
	if root.readAt != nil && !root.bigEndian && t.contiguous() {
		return io.NewSectionReader(root.readAt, root.base+start*es, nbytes), nil
	}
	if n == 0 {
		return io.NewSectionReader(emptyReader{}, 0, 0), nil
	}
	span := int64(1)
	for i, dim := range t.shape {
		span += (dim - 1) * t.stride[i]
	}
	if nbytes > maxExpand && n > span {
		return nil, refit.Unsupportedf("pytorch", "expanded view %v (stride %v) of %d elements would materialize %d bytes", t.shape, t.stride, span, nbytes)
	}
	shape, stride, bigEndian := t.shape, t.stride, root.bigEndian
	return tensor.NewLazy(nbytes, func() ([]byte, error) {
		src, err := root.readElems(start, span)
		if err != nil {
			return nil, err
		}
		out := gather(src, shape, stride, es)
		if bigEndian {
			unit := es
			if d == tensor.C64 || d == tensor.C128 {
				unit = es / 2
			}
			swapBytes(out, int(unit))
		}
		return out, nil
	}), nil
}

// gather copies a strided view of src (whose element 0 is the view's first element)
// into a new row-major buffer.
func gather(src []byte, shape, stride []int64, es int64) []byte {
	n := tensor.Shape(shape).Elements()
	out := make([]byte, n*es)
	if len(shape) == 0 {
		copy(out, src[:es])
		return out
	}
	idx := make([]int64, len(shape))
	pos := int64(0)
	for o := int64(0); o < n; o++ {
		copy(out[o*es:(o+1)*es], src[pos*es:(pos+1)*es])
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			pos += stride[k]
			if idx[k] < shape[k] {
				break
			}
			pos -= stride[k] * shape[k]
			idx[k] = 0
		}
	}
	return out
}

func swapBytes(b []byte, unit int) {
	if unit <= 1 {
		return
	}
	for i := 0; i+unit <= len(b); i += unit {
		for a, z := i, i+unit-1; a < z; a, z = a+1, z-1 {
			b[a], b[z] = b[z], b[a]
		}
	}
}

type emptyReader struct{}

func (emptyReader) ReadAt(p []byte, off int64) (int, error) { return 0, io.EOF }
