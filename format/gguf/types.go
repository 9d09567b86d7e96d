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

// ggmlTypes is the one table mapping ggml type ids to sizes and Refit dtypes.
// Ids absent here (4, 5, 31-33, 36-38) were removed from ggml and are rejected.
// Sizes follow ggml's type traits and are checked against tensor.DType in tests.
var ggmlTypes = map[GGMLType]ggmlInfo{
	0:  {"F32", 1, 4, tensor.F32},
	1:  {"F16", 1, 2, tensor.F16},
	2:  {"Q4_0", 32, 18, tensor.Q4_0},
	3:  {"Q4_1", 32, 20, tensor.Q4_1},
	6:  {"Q5_0", 32, 22, tensor.Q5_0},
	7:  {"Q5_1", 32, 24, tensor.Q5_1},
	8:  {"Q8_0", 32, 34, tensor.Q8_0},
	9:  {"Q8_1", 32, 36, tensor.Q8_1},
	10: {"Q2_K", 256, 84, tensor.Q2_K},
	11: {"Q3_K", 256, 110, tensor.Q3_K},
	12: {"Q4_K", 256, 144, tensor.Q4_K},
	13: {"Q5_K", 256, 176, tensor.Q5_K},
	14: {"Q6_K", 256, 210, tensor.Q6_K},
	15: {"Q8_K", 256, 292, tensor.Q8_K},
	16: {"IQ2_XXS", 256, 66, tensor.IQ2_XXS},
	17: {"IQ2_XS", 256, 74, tensor.IQ2_XS},
	18: {"IQ3_XXS", 256, 98, tensor.IQ3_XXS},
	19: {"IQ1_S", 256, 50, tensor.IQ1_S},
	20: {"IQ4_NL", 32, 18, tensor.IQ4_NL},
	21: {"IQ3_S", 256, 110, tensor.IQ3_S},
	22: {"IQ2_S", 256, 82, tensor.IQ2_S},
	23: {"IQ4_XS", 256, 136, tensor.IQ4_XS},
	24: {"I8", 1, 1, tensor.I8},
	25: {"I16", 1, 2, tensor.I16},
	26: {"I32", 1, 4, tensor.I32},
	27: {"I64", 1, 8, tensor.I64},
	28: {"F64", 1, 8, tensor.F64},
	29: {"IQ1_M", 256, 56, tensor.IQ1_M},
	30: {"BF16", 1, 2, tensor.BF16},
	34: {"TQ1_0", 256, 54, tensor.TQ1_0},
	35: {"TQ2_0", 256, 66, tensor.TQ2_0},
	39: {"MXFP4", 32, 17, tensor.MXFP4},
	40: {"NVFP4", 64, 36, tensor.Invalid},
	41: {"Q1_0", 128, 18, tensor.Invalid},
}

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
