package gguf

import (
	"fmt"

	"github.com/refit-ml/refit/tensor"
)

// ValueType is the type tag of a metadata value (gguf_type in ggml's gguf.h).
type ValueType uint32

// Metadata value types, numbered as in the GGUF specification.
const (
	TypeUint8     ValueType = 0
	TypeInt8      ValueType = 1
	TypeUint16    ValueType = 2
	TypeInt16     ValueType = 3
	TypeUint32    ValueType = 4
	TypeInt32     ValueType = 5
	TypeFloat32   ValueType = 6
	TypeBool      ValueType = 7
	TypeString    ValueType = 8
	TypeArray     ValueType = 9
	TypeUint64    ValueType = 10
	TypeInt64     ValueType = 11
	TypeFloat64   ValueType = 12
	numValueTypes ValueType = 13
)

var valueTypeNames = [numValueTypes]string{
	"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
	"BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64",
}

// valueSizes is the encoded size of each fixed-size scalar type; 0 marks variable size.
var valueSizes = [numValueTypes]int64{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

func (t ValueType) String() string {
	if t < numValueTypes {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// Valid reports whether t is a known value type.
func (t ValueType) Valid() bool { return t < numValueTypes }

// minEncodedSize is the fewest bytes one value of type t occupies: it bounds
// element counts read from a file before anything is allocated.
func (t ValueType) minEncodedSize() int64 {
	switch t {
	case TypeString:
		return 8 // u64 length
	case TypeArray:
		return 4 + 8 // u32 element type + u64 count
	}
	return valueSizes[t]
}

// GGMLType is a tensor type id (ggml_type in ggml.h).
type GGMLType uint32

// ggmlInfo describes one ggml tensor type. dtype is tensor.Invalid for types ggml
// defines but Refit cannot represent in a Model; files holding them still parse
// and rewrite byte for byte through File.
type ggmlInfo struct {
	name      string
	blockSize int64
	typeSize  int64
	dtype     tensor.DType
}

// ggmlTypes maps ggml type ids to Refit dtypes. Sizes and names come from
// tensor.DType's size table; only the types a Model cannot hold carry their own
// (from ggml's type traits). Ids absent here (4, 5, 31-33, 36-38) were removed from
// ggml and are rejected.
var ggmlTypes = func() map[GGMLType]ggmlInfo {
	m := map[GGMLType]ggmlInfo{
		0:  {dtype: tensor.F32},
		1:  {dtype: tensor.F16},
		2:  {dtype: tensor.Q4_0},
		3:  {dtype: tensor.Q4_1},
		6:  {dtype: tensor.Q5_0},
		7:  {dtype: tensor.Q5_1},
		8:  {dtype: tensor.Q8_0},
		9:  {dtype: tensor.Q8_1},
		10: {dtype: tensor.Q2_K},
		11: {dtype: tensor.Q3_K},
		12: {dtype: tensor.Q4_K},
		13: {dtype: tensor.Q5_K},
		14: {dtype: tensor.Q6_K},
		15: {dtype: tensor.Q8_K},
		16: {dtype: tensor.IQ2_XXS},
		17: {dtype: tensor.IQ2_XS},
		18: {dtype: tensor.IQ3_XXS},
		19: {dtype: tensor.IQ1_S},
		20: {dtype: tensor.IQ4_NL},
		21: {dtype: tensor.IQ3_S},
		22: {dtype: tensor.IQ2_S},
		23: {dtype: tensor.IQ4_XS},
		24: {dtype: tensor.I8},
		25: {dtype: tensor.I16},
		26: {dtype: tensor.I32},
		27: {dtype: tensor.I64},
		28: {dtype: tensor.F64},
		29: {dtype: tensor.IQ1_M},
		30: {dtype: tensor.BF16},
		34: {dtype: tensor.TQ1_0},
		35: {dtype: tensor.TQ2_0},
		39: {dtype: tensor.MXFP4},
		40: {"NVFP4", 64, 36, tensor.Invalid},
		41: {"Q1_0", 128, 18, tensor.Invalid},
	}
	for id, info := range m {
		if info.dtype != tensor.Invalid {
			info.name = info.dtype.String()
			info.blockSize, info.typeSize = int64(info.dtype.BlockSize()), int64(info.dtype.TypeSize())
			m[id] = info
		}
	}
	return m
}()

// ggmlIDs is the inverse of ggmlTypes for the types a Model can hold.
var ggmlIDs = func() map[tensor.DType]GGMLType {
	m := make(map[tensor.DType]GGMLType, len(ggmlTypes))
	for id, info := range ggmlTypes {
		if info.dtype != tensor.Invalid {
			m[info.dtype] = id
		}
	}
	return m
}()

func (t GGMLType) String() string {
	if info, ok := ggmlTypes[t]; ok {
		return info.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// Known reports whether t is a ggml type whose size Refit knows.
func (t GGMLType) Known() bool { _, ok := ggmlTypes[t]; return ok }

// DType returns the Refit dtype for t, or tensor.Invalid when a Model cannot hold it.
func (t GGMLType) DType() tensor.DType { return ggmlTypes[t].dtype }

// TypeFor returns the ggml type id that stores d.
func TypeFor(d tensor.DType) (GGMLType, bool) {
	id, ok := ggmlIDs[d]
	return id, ok
}
