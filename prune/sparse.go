package prune

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// The bitmask+values layout stores a tensor <name> of dtype D and shape S (n elements,
// k of them nonzero) as two tensors and one metadata entry:
//
//	<name>.mask    U8 [ceil(n/8)]  bit i%8 (least significant first) of byte i/8 is
//	                               set when element i (row-major) is stored; the
//	                               padding bits of the last byte are 0
//	<name>.values  D  [k]          the stored elements in row-major order
//	refit.sparse.shape.<name>      S as a JSON array, e.g. "[64,1568]"
//
// and the model-wide metadata refit.sparse = "bitmask-v1". An element is stored
// unless all its bytes are zero, so decoding is bit-exact (a -0.0 is kept). Only
// tensors the layout makes smaller are encoded; the rest are left as they are.
// In safetensors every key is a string, so the layout survives any safetensors
// reader; DecodeSparse restores the dense tensors.
const (
	SparseKey       = "refit.sparse"
	SparseBitmask   = "bitmask-v1"
	SparseShapeKey  = "refit.sparse.shape." // + tensor name
	MaskSuffix      = ".mask"
	ValuesSuffix    = ".values"
	maxSparseRank   = 64
	maxSparseTensor = 1 << 40 // elements; sizes are checked against data below anyway
)

// SparseTensor describes one tensor written in the bitmask+values layout.
type SparseTensor struct {
	Name        string       `json:"name"`
	DType       string       `json:"dtype"`
	Shape       tensor.Shape `json:"shape"`
	Stored      int64        `json:"stored"` // nonzero elements kept in .values
	DenseBytes  int64        `json:"dense_bytes"`
	SparseBytes int64        `json:"sparse_bytes"` // mask + values
}

// SparseReport sums up EncodeSparse: tensor data bytes before and after (headers
// excluded), over the whole model.
type SparseReport struct {
	Layout      string         `json:"layout"`
	Tensors     []SparseTensor `json:"tensors"`
	DenseBytes  int64          `json:"dense_bytes"`
	SparseBytes int64          `json:"sparse_bytes"`
}

// sparseEligible reports whether t has whole-byte elements the layout can hold.
func sparseEligible(t *tensor.Tensor) bool {
	return t.DType.Valid() && !t.DType.Quantized() && t.DType.BlockSize() == 1 &&
		t.DType.TypeSize() >= 1 && t.NumElements() > 0
}

// IsSparse reports whether m is marked as holding the bitmask+values layout.
func IsSparse(m *refit.Model) bool { return m.Metadata.String(SparseKey) == SparseBitmask }

// EncodeSparse returns m with every tensor that shrinks under the bitmask+values
// layout replaced by its .mask and .values tensors (at the tensor's position) and the
// layout's metadata added. m is not modified; other tensors are shared. Each encoded
// tensor is read once here to count its nonzeros and again, lazily, by the encoder.
func EncodeSparse(m *refit.Model) (*refit.Model, *SparseReport, error) {
	if _, ok := m.Metadata.Get(SparseKey); ok {
		return nil, nil, fmt.Errorf("%w: model already has %s metadata", ErrOptions, SparseKey)
	}
	rep := &SparseReport{Layout: SparseBitmask}
	var out []*tensor.Tensor
	md := m.Metadata.Clone()
	for _, t := range m.Tensors {
		rep.DenseBytes += t.Size()
		if !sparseEligible(t) {
			out = append(out, t)
			rep.SparseBytes += t.Size()
			continue
		}
		b, err := t.Bytes()
		if err != nil {
			return nil, nil, fmt.Errorf("prune: %s: %w", t.Name, err)
		}
		es := t.DType.TypeSize()
		n := t.NumElements()
		k := countStored(b, es)
		maskLen := (n + 7) / 8
		sparseSize := maskLen + k*int64(es)
		if sparseSize >= t.Size() {
			out = append(out, t)
			rep.SparseBytes += t.Size()
			continue
		}
		src := t
		mask, err := tensor.New(t.Name+MaskSuffix, tensor.U8, tensor.Shape{maskLen}, tensor.NewLazy(maskLen, func() ([]byte, error) {
			b, err := src.Bytes()
			if err != nil {
				return nil, err
			}
			mb := make([]byte, maskLen)
			SparseMaskKernel(mb, b, es)
			return mb, nil
		}))
		if err != nil {
			return nil, nil, err
		}
		vsize := k * int64(es)
		values, err := tensor.New(t.Name+ValuesSuffix, t.DType, tensor.Shape{k}, tensor.NewLazy(vsize, func() ([]byte, error) {
			b, err := src.Bytes()
			if err != nil {
				return nil, err
			}
			vb := make([]byte, vsize)
			if got := SparseValuesKernel(vb, b, es); got != k {
				return nil, fmt.Errorf("prune: %s changed between reads (%d nonzeros, then %d)", src.Name, k, got)
			}
			return vb, nil
		}))
		if err != nil {
			return nil, nil, err
		}
		shape, _ := json.Marshal([]int64(t.Shape))
		md.Set(SparseShapeKey+t.Name, string(shape))
		out = append(out, mask, values)
		rep.SparseBytes += sparseSize
		rep.Tensors = append(rep.Tensors, SparseTensor{Name: t.Name, DType: t.DType.String(), Shape: t.Shape.Clone(),
			Stored: k, DenseBytes: t.Size(), SparseBytes: sparseSize})
	}
	if len(rep.Tensors) > 0 {
		md.Set(SparseKey, SparseBitmask)
	}
	res := &refit.Model{Format: m.Format, Metadata: md, Tensors: out, Source: m.Source}
	if err := res.CheckNames(); err != nil {
		return nil, nil, fmt.Errorf("%w: sparse tensor names collide: %v", ErrOptions, err)
	}
	return res, rep, nil
}

// countStored counts the elements of b (elements of es bytes) that are not all zero.
func countStored(b []byte, es int) int64 {
	var k int64
	for i := 0; i+es <= len(b); i += es {
		if !allZero(b[i : i+es]) {
			k++
		}
	}
	return k
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// SparseMaskKernel writes the bitmask of src's stored elements (es bytes each) to
// dst, which must hold ceil(len(src)/es/8) bytes.
func SparseMaskKernel(dst, src []byte, es int) {
	clear(dst)
	for i, j := 0, 0; i+es <= len(src); i, j = i+es, j+1 {
		if !allZero(src[i : i+es]) {
			dst[j>>3] |= 1 << (j & 7)
		}
	}
}

// SparseValuesKernel packs src's stored elements (es bytes each) into dst in order and
// returns how many there were; it writes no more than len(dst) bytes.
func SparseValuesKernel(dst, src []byte, es int) int64 {
	var k int64
	o := 0
	for i := 0; i+es <= len(src); i += es {
		if allZero(src[i : i+es]) {
			continue
		}
		if o+es <= len(dst) {
			copy(dst[o:o+es], src[i:i+es])
		}
		o += es
		k++
	}
	return k
}

// ScatterKernel is the inverse of the two kernels above: it writes to dst (n
// elements of es bytes) the values at the positions whose mask bit is set and zeros
// elsewhere. It reports false if mask is too short for dst or values run out
// before the set bits do (the caller checks popcount(mask)*es == len(values) first).
func ScatterKernel(dst, mask, values []byte, es int) bool {
	clear(dst)
	o := 0
	n := len(dst) / es
	if len(mask) < (n+7)/8 {
		return false
	}
	for j := 0; j < n; j++ {
		if mask[j>>3]&(1<<(j&7)) != 0 {
			if o+es > len(values) {
				return false
			}
			copy(dst[j*es:(j+1)*es], values[o:o+es])
			o += es
		}
	}
	return true
}

// DecodeSparse restores the dense tensors of a model in the bitmask+values layout
// (see EncodeSparse): each <name>.mask/<name>.values pair named by the metadata
// becomes <name> again, at the mask's position, with lazily scattered data; the
// layout's metadata is removed. Every size is checked against the shape in the
// metadata and the mask's population count before anything is allocated; a
// malformed layout is an error wrapping refit.ErrFormat.
func DecodeSparse(m *refit.Model) (*refit.Model, error) {
	if !IsSparse(m) {
		return nil, fmt.Errorf("%w: prune: model has no %s=%s metadata", refit.ErrFormat, SparseKey, SparseBitmask)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: prune: sparse layout: %s", refit.ErrFormat, fmt.Sprintf(format, args...))
	}
	byName := make(map[string]*tensor.Tensor, len(m.Tensors))
	for _, t := range m.Tensors {
		byName[t.Name] = t
	}
	md := m.Metadata.Clone()
	md.Delete(SparseKey)
	dense := map[string]*tensor.Tensor{} // mask name -> restored tensor
	consumed := map[string]bool{}
	for _, key := range m.Metadata.Keys() {
		name, ok := strings.CutPrefix(key, SparseShapeKey)
		if !ok {
			continue
		}
		md.Delete(key)
		var dims []int64
		if err := json.Unmarshal([]byte(m.Metadata.String(key)), &dims); err != nil {
			return nil, bad("%s: shape %q: %v", name, m.Metadata.String(key), err)
		}
		if len(dims) > maxSparseRank {
			return nil, bad("%s: rank %d", name, len(dims))
		}
		shape := tensor.Shape(dims)
		n, err := shape.NumElements()
		if err != nil || n <= 0 || n > maxSparseTensor {
			return nil, bad("%s: shape %v", name, dims)
		}
		mask, values := byName[name+MaskSuffix], byName[name+ValuesSuffix]
		if mask == nil || values == nil {
			return nil, bad("%s: missing %s or %s", name, MaskSuffix, ValuesSuffix)
		}
		if _, clash := byName[name]; clash {
			return nil, bad("%s is both sparse and dense", name)
		}
		maskLen := (n + 7) / 8
		if mask.DType != tensor.U8 || !mask.Shape.Equal(tensor.Shape{maskLen}) || mask.Size() != maskLen {
			return nil, bad("%s: mask is %s%v, want U8[%d]", name, mask.DType, mask.Shape, maskLen)
		}
		vd := values.DType
		if !vd.Valid() || vd.Quantized() || vd.BlockSize() != 1 || vd.TypeSize() < 1 || len(values.Shape) != 1 {
			return nil, bad("%s: values are %s%v, want a 1-D array of whole-byte elements", name, values.DType, values.Shape)
		}
		mb, err := mask.Bytes()
		if err != nil {
			return nil, fmt.Errorf("prune: %s: %w", mask.Name, err)
		}
		var k int64
		for _, x := range mb {
			k += int64(bits.OnesCount8(x))
		}
		if pad := n % 8; pad != 0 && mb[len(mb)-1]>>pad != 0 {
			return nil, bad("%s: mask has bits set past element %d", name, n)
		}
		es := values.DType.TypeSize()
		if values.Shape[0] != k || values.Size() != k*int64(es) {
			return nil, bad("%s: %d values, mask marks %d", name, values.Shape[0], k)
		}
		size, err := tensor.ByteSize(values.DType, shape)
		if err != nil {
			return nil, bad("%s: %v", name, err)
		}
		vt, mt := values, mask
		t, err := tensor.New(name, values.DType, shape, tensor.NewLazy(size, func() ([]byte, error) {
			vb, err := vt.Bytes()
			if err != nil {
				return nil, err
			}
			mb, err := mt.Bytes()
			if err != nil {
				return nil, err
			}
			if int64(len(vb)) != k*int64(es) || int64(len(mb)) != maskLen {
				return nil, fmt.Errorf("prune: %s: sparse data changed between reads", name)
			}
			out := make([]byte, size)
			if !ScatterKernel(out, mb, vb, es) {
				return nil, fmt.Errorf("prune: %s: sparse data changed between reads", name)
			}
			return out, nil
		}))
		if err != nil {
			return nil, bad("%s: %v", name, err)
		}
		dense[mask.Name] = t
		consumed[mask.Name], consumed[values.Name] = true, true
	}
	if len(dense) == 0 {
		return nil, bad("no %s entries", SparseShapeKey+"<name>")
	}
	out := make([]*tensor.Tensor, 0, len(m.Tensors))
	for _, t := range m.Tensors {
		if d, ok := dense[t.Name]; ok {
			out = append(out, d)
		} else if !consumed[t.Name] {
			out = append(out, t)
		}
	}
	res := &refit.Model{Format: m.Format, Metadata: md, Tensors: slices.Clip(out), Source: m.Source}
	if err := res.CheckNames(); err != nil {
		return nil, bad("%v", err)
	}
	return res, nil
}
