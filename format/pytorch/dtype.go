package pytorch

import "github.com/refit-ml/refit/tensor"

// storageType is the value of a torch.<X>Storage global: which element type its bytes hold.
type storageType struct {
	name  string
	dtype tensor.DType // Invalid for types Refit cannot read (quantized, complex half)
}

// dtypeValue is the value of a torch.<dtype> global such as torch.float32.
type dtypeValue struct {
	name  string
	dtype tensor.DType
}

// storageNames maps torch storage class names to element types, in one table used by
// both directions. Entries with Invalid are known but unsupported.
var storageNames = []struct {
	name  string
	dtype tensor.DType
}{
	{"DoubleStorage", tensor.F64},
	{"FloatStorage", tensor.F32},
	{"HalfStorage", tensor.F16},
	{"BFloat16Storage", tensor.BF16},
	{"LongStorage", tensor.I64},
	{"IntStorage", tensor.I32},
	{"ShortStorage", tensor.I16},
	{"CharStorage", tensor.I8},
	{"ByteStorage", tensor.U8},
	{"BoolStorage", tensor.Bool},
	{"ComplexFloatStorage", tensor.C64},
	{"ComplexDoubleStorage", tensor.C128},
	{"Float8_e4m3fnStorage", tensor.F8E4M3}, // torch >= 2.1
	{"Float8_e5m2Storage", tensor.F8E5M2},
	{"UInt16Storage", tensor.U16}, // torch >= 2.3
	{"UInt32Storage", tensor.U32},
	{"UInt64Storage", tensor.U64},
	{"ComplexHalfStorage", tensor.Invalid},
	{"QInt8Storage", tensor.Invalid},
	{"QUInt8Storage", tensor.Invalid},
	{"QInt32Storage", tensor.Invalid},
	{"QUInt4x2Storage", tensor.Invalid},
	{"QUInt2x4Storage", tensor.Invalid},
	{"Float8_e4m3fnuzStorage", tensor.Invalid},
	{"Float8_e5m2fnuzStorage", tensor.Invalid},
}

// dtypeNames maps torch dtype attribute names (torch.float32 ...) to element types.
var dtypeNames = map[string]tensor.DType{
	"float64": tensor.F64, "double": tensor.F64,
	"float32": tensor.F32, "float": tensor.F32,
	"float16": tensor.F16, "half": tensor.F16,
	"bfloat16": tensor.BF16,
	"int64":    tensor.I64, "long": tensor.I64,
	"int32": tensor.I32, "int": tensor.I32,
	"int16": tensor.I16, "short": tensor.I16,
	"int8":      tensor.I8,
	"uint8":     tensor.U8,
	"bool":      tensor.Bool,
	"complex64": tensor.C64, "cfloat": tensor.C64,
	"complex128": tensor.C128, "cdouble": tensor.C128,
	"float8_e4m3fn": tensor.F8E4M3,
	"float8_e5m2":   tensor.F8E5M2,
	"uint16":        tensor.U16,
	"uint32":        tensor.U32,
	"uint64":        tensor.U64,
}

// storageName returns the torch storage class for d, or "" if torch has none.
func storageName(d tensor.DType) string {
	for _, s := range storageNames {
		if s.dtype == d && d != tensor.Invalid {
			return s.name
		}
	}
	return ""
}
