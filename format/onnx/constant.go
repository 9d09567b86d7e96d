package onnx

import (
	"encoding/binary"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// DefaultMaxConstantBytes caps the dense size of a sparse Constant that
// ConstantValue expands: a few bytes of sparse_value may declare a huge shape.
const DefaultMaxConstantBytes = 64 << 20

// IsConstantNode reports whether n is a default-domain Constant node with one output.
func IsConstantNode(n *onnxpb.NodeProto) bool {
	d := n.GetDomain()
	return n.GetOpType() == "Constant" && (d == "" || d == "ai.onnx") && len(n.Output) == 1 && n.Output[0] != ""
}

// ConstantValue returns the tensor a Constant node produces, named after its output:
// value, value_float(s), value_int(s), or sparse_value expanded to a dense tensor of
// at most maxBytes (0: DefaultMaxConstantBytes). A value tensor is shared, not copied
// (its name set on a shallow copy). String constants are refit.ErrUnsupported;
// a node with no value or several is refit.ErrFormat.
func ConstantValue(n *onnxpb.NodeProto, maxBytes int64) (*onnxpb.TensorProto, error) {
	if !IsConstantNode(n) {
		return nil, refit.Errorf("onnx", -1, "node %q is not a Constant with one output", n.GetName())
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxConstantBytes
	}
	name := n.Output[0]
	if len(n.Attribute) != 1 {
		return nil, refit.Errorf("onnx", -1, "Constant %q has %d attributes, want exactly one value", name, len(n.Attribute))
	}
	a := n.Attribute[0]
	var tp *onnxpb.TensorProto
	switch a.GetName() {
	case "value":
		if a.T == nil {
			return nil, refit.Errorf("onnx", -1, "Constant %q: value holds no tensor", name)
		}
		tp = shallowCopy(a.T)
		if tp.RawData == nil && !hasTyped(tp) && tp.GetDataLocation() != onnxpb.TensorProto_EXTERNAL {
			tp.RawData = []byte{} // an empty tensor: the form Encode writes it back in
		}
	case "value_float":
		tp = &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), FloatData: []float32{a.GetF()}}
	case "value_floats":
		tp = &onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{int64(len(a.Floats))}, FloatData: a.Floats}
	case "value_int":
		tp = &onnxpb.TensorProto{DataType: proto.Int32(typeInt64), Int64Data: []int64{a.GetI()}}
	case "value_ints":
		tp = &onnxpb.TensorProto{DataType: proto.Int32(typeInt64), Dims: []int64{int64(len(a.Ints))}, Int64Data: a.Ints}
	case "sparse_value":
		var err error
		if tp, err = densify(name, a.SparseTensor, maxBytes); err != nil {
			return nil, err
		}
	case "value_string", "value_strings":
		return nil, refit.Unsupportedf("onnx", "Constant %q holds strings", name)
	default:
		return nil, refit.Errorf("onnx", -1, "Constant %q: unknown attribute %q", name, a.GetName())
	}
	tp.Name = proto.String(name)
	if err := checkTensorProto(tp); err != nil {
		return nil, err
	}
	return tp, nil
}

// checkTensorProto validates tp's type, shape and data sizes without reading
// external data.
func checkTensorProto(tp *onnxpb.TensorProto) error {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		if _, err := parseExternal(tp); err != nil {
			return err
		}
		return nil
	}
	_, err := protoTensor(tp, nil, nil)
	return err
}

// densify expands a SparseTensorProto: values [NNZ] and indices [NNZ] (linear) or
// [NNZ, rank], as the ONNX spec defines them.
func densify(name string, sp *onnxpb.SparseTensorProto, maxBytes int64) (*onnxpb.TensorProto, error) {
	if sp == nil || sp.Values == nil || sp.Indices == nil {
		return nil, refit.Errorf("onnx", -1, "Constant %q: sparse_value lacks values or indices", name)
	}
	if sp.Values.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || sp.Indices.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, refit.Unsupportedf("onnx", "Constant %q: sparse_value with external data", name)
	}
	vals, err := protoTensor(sp.Values, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("onnx: Constant %q: sparse values: %w", name, err)
	}
	idx, err := protoTensor(sp.Indices, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("onnx: Constant %q: sparse indices: %w", name, err)
	}
	shape, err := protoShape(&onnxpb.TensorProto{Name: proto.String(name), Dims: sp.Dims})
	if err != nil {
		return nil, err
	}
	d := vals.DType
	size, err := tensor.ByteSize(d, shape)
	if err != nil {
		return nil, refit.WrapErrorf("onnx", -1, err, "Constant %q: sparse shape %v", name, shape)
	}
	if size > maxBytes {
		return nil, refit.Unsupportedf("onnx", "Constant %q: sparse_value expands to %d bytes, over the %d-byte cap", name, size, maxBytes)
	}
	if d.BlockSize() != 1 || len(vals.Shape) != 1 || idx.DType != tensor.I64 {
		return nil, refit.Errorf("onnx", -1, "Constant %q: sparse values must be 1-D and indices int64", name)
	}
	nnz := vals.Shape[0]
	rank := int64(len(shape))
	linear := len(idx.Shape) == 1 && idx.Shape[0] == nnz
	if !linear && !(len(idx.Shape) == 2 && idx.Shape[0] == nnz && idx.Shape[1] == rank) {
		return nil, refit.Errorf("onnx", -1, "Constant %q: sparse indices %v do not match %d values of rank %d", name, idx.Shape, nnz, rank)
	}
	vb, err := vals.Bytes()
	if err != nil {
		return nil, err
	}
	ib, err := idx.Bytes()
	if err != nil {
		return nil, err
	}
	elems := shape.Elements()
	es := int64(d.TypeSize())
	dense := make([]byte, size)
	for k := int64(0); k < nnz; k++ {
		var pos int64
		if linear {
			pos = int64(binary.LittleEndian.Uint64(ib[8*k:]))
		} else {
			for j := int64(0); j < rank; j++ {
				c := int64(binary.LittleEndian.Uint64(ib[8*(k*rank+j):]))
				if c < 0 || c >= shape[j] {
					return nil, refit.Errorf("onnx", -1, "Constant %q: sparse index %d out of range for %v", name, c, shape)
				}
				pos = pos*shape[j] + c
			}
		}
		if pos < 0 || pos >= elems {
			return nil, refit.Errorf("onnx", -1, "Constant %q: sparse index %d out of range [0, %d)", name, pos, elems)
		}
		copy(dense[pos*es:(pos+1)*es], vb[k*es:(k+1)*es])
	}
	return &onnxpb.TensorProto{DataType: sp.Values.DataType, Dims: slices.Clone(sp.Dims), RawData: dense}, nil
}

// LiftConstants turns g's Constant nodes into initializers named after their
// outputs and removes the nodes, so that weights stored as Constant nodes (as
// Paddle2ONNX and older tf2onnx write them) are initializers like any other. It
// keeps a Constant that makes a graph output, shares its name with a graph input,
// an initializer or another node's output (an invalid graph stays invalid), or cannot be expressed as a tensor (strings, sparse values expanding
// past maxBytes, malformed ones: the runtime reports those). Subgraphs keep reading
// the same name, now an outer-scope initializer. It returns the lifted initializers.
// Graphs of IR version < 4 list every initializer as an input too; pass them through
// unchanged (lift reports nothing).
func LiftConstants(mp *onnxpb.ModelProto, maxBytes int64) []*onnxpb.TensorProto {
	g := mp.GetGraph()
	if g == nil || mp.GetIrVersion() < 4 {
		return nil
	}
	taken := map[string]bool{}
	written := map[string]int{}
	for _, n := range g.Node {
		for _, o := range n.GetOutput() {
			written[o]++
		}
	}
	for _, v := range g.Input {
		taken[v.GetName()] = true
	}
	for _, v := range g.Output {
		taken[v.GetName()] = true
	}
	for _, t := range g.Initializer {
		taken[t.GetName()] = true
	}
	var lifted []*onnxpb.TensorProto
	nodes := g.Node[:0:0]
	for _, n := range g.Node {
		if n != nil && IsConstantNode(n) && !taken[n.Output[0]] && written[n.Output[0]] == 1 {
			if tp, err := ConstantValue(n, maxBytes); err == nil {
				taken[n.Output[0]] = true
				lifted = append(lifted, tp)
				continue
			}
		}
		nodes = append(nodes, n)
	}
	if len(lifted) == 0 {
		return nil
	}
	g.Node = nodes
	g.Initializer = append(g.Initializer, lifted...)
	return lifted
}
