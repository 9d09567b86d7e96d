package graph

import (
	"encoding/binary"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// ONNX TensorProto element types that graph transforms create.
const (
	ElemFloat = 1
	ElemUint8 = 2
	ElemInt8  = 3
	ElemInt32 = 6
	ElemInt64 = 7
)

// RawTensor makes a tensor of element type elem holding raw little-endian bytes;
// name "" leaves it unnamed (as Constant node values are).
func RawTensor(name string, elem int32, dims []int64, raw []byte) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Dims: slices.Clone(dims), DataType: proto.Int32(elem), RawData: raw}
	if name != "" {
		tp.Name = proto.String(name)
	}
	return tp
}

// FloatTensor makes a float32 initializer.
func FloatTensor(name string, dims []int64, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return RawTensor(name, ElemFloat, dims, raw)
}

// Int64Tensor makes an int64 initializer.
func Int64Tensor(name string, dims []int64, v []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return RawTensor(name, ElemInt64, dims, raw)
}

// Int32Tensor makes an int32 initializer.
func Int32Tensor(name string, dims []int64, v []int32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return RawTensor(name, ElemInt32, dims, raw)
}

// IntTensor makes an integer tensor of element type elem with its values in the
// typed fields rather than raw bytes: int64_data for ElemInt64, int32_data for the
// 32-bit and smaller integer types (ONNX keeps those widened to int32 there).
func IntTensor(name string, elem int32, dims []int64, v []int64) *onnxpb.TensorProto {
	tp := &onnxpb.TensorProto{Dims: slices.Clone(dims), DataType: proto.Int32(elem)}
	if name != "" {
		tp.Name = proto.String(name)
	}
	if elem == ElemInt64 {
		tp.Int64Data = slices.Clone(v)
		return tp
	}
	for _, x := range v {
		tp.Int32Data = append(tp.Int32Data, int32(x))
	}
	return tp
}

// ValueInfo describes a tensor value of element type elem. A nil shape leaves the
// shape unknown. A negative dimension is unknown: dimName(axis) names it, or it stays
// anonymous when dimName is nil or returns "".
func ValueInfo(name string, elem int32, shape []int64, dimName func(axis int) string) *onnxpb.ValueInfoProto {
	ts := &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(elem)}
	if shape != nil {
		ts.Shape = &onnxpb.TensorShapeProto{}
		for i, d := range shape {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			if d >= 0 {
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
			} else if dimName != nil {
				if p := dimName(i); p != "" {
					dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: p}
				}
			}
			ts.Shape.Dim = append(ts.Shape.Dim, dim)
		}
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: ts}}}
}
