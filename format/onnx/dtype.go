package onnx

import (
	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// ONNX element types (TensorProto.DataType) as plain int32, the way the schema's
// data_type and elem_type fields carry them.
const (
	typeFloat          = int32(onnxpb.TensorProto_FLOAT)
	typeUint8          = int32(onnxpb.TensorProto_UINT8)
	typeInt8           = int32(onnxpb.TensorProto_INT8)
	typeUint16         = int32(onnxpb.TensorProto_UINT16)
	typeInt16          = int32(onnxpb.TensorProto_INT16)
	typeInt32          = int32(onnxpb.TensorProto_INT32)
	typeInt64          = int32(onnxpb.TensorProto_INT64)
	typeString         = int32(onnxpb.TensorProto_STRING)
	typeBool           = int32(onnxpb.TensorProto_BOOL)
	typeFloat16        = int32(onnxpb.TensorProto_FLOAT16)
	typeDouble         = int32(onnxpb.TensorProto_DOUBLE)
	typeUint32         = int32(onnxpb.TensorProto_UINT32)
	typeUint64         = int32(onnxpb.TensorProto_UINT64)
	typeComplex64      = int32(onnxpb.TensorProto_COMPLEX64)
	typeComplex128     = int32(onnxpb.TensorProto_COMPLEX128)
	typeBFloat16       = int32(onnxpb.TensorProto_BFLOAT16)
	typeFloat8E4M3FN   = int32(onnxpb.TensorProto_FLOAT8E4M3FN)
	typeFloat8E4M3FNUZ = int32(onnxpb.TensorProto_FLOAT8E4M3FNUZ)
	typeFloat8E5M2     = int32(onnxpb.TensorProto_FLOAT8E5M2)
	typeFloat8E5M2FNUZ = int32(onnxpb.TensorProto_FLOAT8E5M2FNUZ)
	typeUint4          = int32(onnxpb.TensorProto_UINT4)
	typeInt4           = int32(onnxpb.TensorProto_INT4)
	typeFloat4E2M1     = int32(onnxpb.TensorProto_FLOAT4E2M1)
)

// dtypeTable maps ONNX element types to Refit's; types missing here have no Refit
// equivalent (strings, FNUZ float8, 4-bit types) and stay readable in the proto only.
var dtypeTable = map[int32]tensor.DType{
	typeFloat:        tensor.F32,
	typeUint8:        tensor.U8,
	typeInt8:         tensor.I8,
	typeUint16:       tensor.U16,
	typeInt16:        tensor.I16,
	typeInt32:        tensor.I32,
	typeInt64:        tensor.I64,
	typeBool:         tensor.Bool,
	typeFloat16:      tensor.F16,
	typeDouble:       tensor.F64,
	typeUint32:       tensor.U32,
	typeUint64:       tensor.U64,
	typeComplex64:    tensor.C64,
	typeComplex128:   tensor.C128,
	typeBFloat16:     tensor.BF16,
	typeFloat8E4M3FN: tensor.F8E4M3,
	typeFloat8E5M2:   tensor.F8E5M2,
}

// TypeName is the ONNX name of an element type ("FLOAT", "INT4"), or "DataType(n)".
func TypeName(elemType int32) string {
	return onnxpb.TensorProto_DataType(elemType).String()
}

// DTypeOf maps an ONNX element type to a Refit dtype. Types Refit does not model
// (STRING, the FNUZ float8 types, INT4/UINT4, FLOAT4E2M1) give an error wrapping
// refit.ErrUnsupported; unknown numbers give one wrapping refit.ErrFormat.
func DTypeOf(elemType int32) (tensor.DType, error) {
	if d, ok := dtypeTable[elemType]; ok {
		return d, nil
	}
	if _, known := onnxpb.TensorProto_DataType_name[elemType]; known && elemType != 0 {
		return tensor.Invalid, refit.Unsupportedf("onnx", "element type %s has no Refit dtype", TypeName(elemType))
	}
	return tensor.Invalid, refit.Errorf("onnx", -1, "unknown element type %d", elemType)
}

// ElemType maps a Refit dtype to the ONNX element type; GGML block types have none.
func ElemType(d tensor.DType) (int32, error) {
	for k, v := range dtypeTable {
		if v == d {
			return k, nil
		}
	}
	return 0, refit.Unsupportedf("onnx", "dtype %v has no ONNX element type", d)
}
