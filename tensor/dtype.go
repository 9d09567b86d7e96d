package tensor

import (
	"fmt"
	"strings"
)

// DType is an element type: a plain scalar type or a GGML block-quantized type.
type DType uint8

// Plain scalar types.
const (
	Invalid DType = iota
	F64
	F32
	F16
	BF16
	F8E4M3 // float8 e4m3fn: no infinities, one NaN pattern per sign
	F8E5M2
	I64
	I32
	I16
	I8
	U64
	U32
	U16
	U8
	Bool
	C64  // complex64: two float32
	C128 // complex128: two float64

	// GGML block-quantized types. Each stores BlockSize elements in TypeSize bytes.
	Q4_0
	Q4_1
	Q5_0
	Q5_1
	Q8_0
	Q8_1
	Q2_K
	Q3_K
	Q4_K
	Q5_K
	Q6_K
	Q8_K
	IQ2_XXS
	IQ2_XS
	IQ3_XXS
	IQ1_S
	IQ4_NL
	IQ3_S
	IQ2_S
	IQ4_XS
	IQ1_M
	TQ1_0
	TQ2_0
	MXFP4

	numDTypes
)

type dtypeInfo struct {
	name      string
	blockSize int // elements per block; 1 for scalar types
	typeSize  int // bytes per block
	float     bool
	signed    bool
}

// dtypes is the one size table for every type Refit knows.
// Block sizes and byte sizes of the GGML types follow ggml's type traits.
var dtypes = [numDTypes]dtypeInfo{
	Invalid: {"invalid", 1, 0, false, false},
	F64:     {"F64", 1, 8, true, true},
	F32:     {"F32", 1, 4, true, true},
	F16:     {"F16", 1, 2, true, true},
	BF16:    {"BF16", 1, 2, true, true},
	F8E4M3:  {"F8_E4M3", 1, 1, true, true},
	F8E5M2:  {"F8_E5M2", 1, 1, true, true},
	I64:     {"I64", 1, 8, false, true},
	I32:     {"I32", 1, 4, false, true},
	I16:     {"I16", 1, 2, false, true},
	I8:      {"I8", 1, 1, false, true},
	U64:     {"U64", 1, 8, false, false},
	U32:     {"U32", 1, 4, false, false},
	U16:     {"U16", 1, 2, false, false},
	U8:      {"U8", 1, 1, false, false},
	Bool:    {"BOOL", 1, 1, false, false},
	C64:     {"C64", 1, 8, true, true},
	C128:    {"C128", 1, 16, true, true},

	Q4_0:    {"Q4_0", 32, 2 + 16, true, true},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16, true, true},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16, true, true},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16, true, true},
	Q8_0:    {"Q8_0", 32, 2 + 32, true, true},
	Q8_1:    {"Q8_1", 32, 4 + 32, true, true},
	Q2_K:    {"Q2_K", 256, 256/16 + 256/4 + 2 + 2, true, true},
	Q3_K:    {"Q3_K", 256, 256/8 + 256/4 + 12 + 2, true, true},
	Q4_K:    {"Q4_K", 256, 2 + 2 + 12 + 256/2, true, true},
	Q5_K:    {"Q5_K", 256, 2 + 2 + 12 + 256/8 + 256/2, true, true},
	Q6_K:    {"Q6_K", 256, 256/2 + 256/4 + 256/16 + 2, true, true},
	Q8_K:    {"Q8_K", 256, 4 + 256 + 256/16*2, true, true},
	IQ2_XXS: {"IQ2_XXS", 256, 2 + 256/8*2, true, true},
	IQ2_XS:  {"IQ2_XS", 256, 2 + 256/8*2 + 256/32, true, true},
	IQ3_XXS: {"IQ3_XXS", 256, 2 + 256/4 + 256/8, true, true},
	IQ1_S:   {"IQ1_S", 256, 2 + 256/8 + 256/16, true, true},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16, true, true},
	IQ3_S:   {"IQ3_S", 256, 2 + 256/4 + 256/8 + 256/32 + 4, true, true},
	IQ2_S:   {"IQ2_S", 256, 2 + 256/4 + 256/16, true, true},
	IQ4_XS:  {"IQ4_XS", 256, 2 + 2 + 256/64 + 256/2, true, true},
	IQ1_M:   {"IQ1_M", 256, 256/8 + 256/16 + 256/32, true, true},
	TQ1_0:   {"TQ1_0", 256, 2 + 4*13, true, true},
	TQ2_0:   {"TQ2_0", 256, 2 + 64, true, true},
	MXFP4:   {"MXFP4", 32, 1 + 16, true, true},
}

// Valid reports whether d is a known type.
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

func (d DType) String() string {
	if d >= numDTypes {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypes[d].name
}

// BlockSize is the number of elements in one storage block: 1 for scalar types.
func (d DType) BlockSize() int {
	if d >= numDTypes {
		return 0
	}
	return dtypes[d].blockSize
}

// TypeSize is the number of bytes in one block (the element size for scalar types).
func (d DType) TypeSize() int {
	if d >= numDTypes {
		return 0
	}
	return dtypes[d].typeSize
}

// Quantized reports whether d is a GGML block type.
func (d DType) Quantized() bool { return d >= Q4_0 && d < numDTypes }

// Float reports whether d holds real-valued numbers (floats and quantized types).
func (d DType) Float() bool { return d.Valid() && dtypes[d].float && d != C64 && d != C128 }

// Integer reports whether d is a plain integer type (Bool excluded).
func (d DType) Integer() bool { return d >= I64 && d <= U8 }

// Signed reports whether d holds negative values.
func (d DType) Signed() bool { return d.Valid() && dtypes[d].signed }

// ParseDType parses a type name such as "F16", "bf16", "q4_k" or "float32".
func ParseDType(s string) (DType, error) {
	u := strings.ToUpper(s)
	switch u {
	case "FLOAT64", "DOUBLE", "FP64":
		return F64, nil
	case "FLOAT32", "FLOAT", "FP32":
		return F32, nil
	case "FLOAT16", "HALF", "FP16":
		return F16, nil
	case "BFLOAT16":
		return BF16, nil
	case "F8E4M3", "F8_E4M3FN", "FLOAT8_E4M3FN", "FP8_E4M3":
		return F8E4M3, nil
	case "F8E5M2", "FLOAT8_E5M2", "FP8_E5M2":
		return F8E5M2, nil
	case "INT64":
		return I64, nil
	case "INT32":
		return I32, nil
	case "INT16":
		return I16, nil
	case "INT8":
		return I8, nil
	case "UINT8":
		return U8, nil
	case "UINT16":
		return U16, nil
	case "UINT32":
		return U32, nil
	case "UINT64":
		return U64, nil
	}
	for d := DType(1); d < numDTypes; d++ {
		if dtypes[d].name == u {
			return d, nil
		}
	}
	return Invalid, fmt.Errorf("tensor: unknown dtype %q", s)
}

// DTypes lists every valid type in table order.
func DTypes() []DType {
	out := make([]DType, 0, numDTypes-1)
	for d := DType(1); d < numDTypes; d++ {
		out = append(out, d)
	}
	return out
}
