package tf2onnx

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"
)

// The operator part of the TFLite schema that format/tflite does not read: operator
// codes, operators and their builtin option tables, accessed by vtable slot. Slot
// numbers follow tensorflow/lite/schema/schema.fbs (field i is at 4+2i).

// builtinNames are TFLite BuiltinOperator names by enum value.
var builtinNames = []string{
	"ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEPTH_TO_SPACE",
	"DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR", "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION",
	"L2_POOL_2D", "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM", "MAX_POOL_2D",
	"MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RNN", "SOFTMAX",
	"SPACE_TO_DEPTH", "SVDF", "TANH", "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM",
	"EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER", "BATCH_TO_SPACE_ND",
	"SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV", "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM",
	"STRIDED_SLICE", "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX", "DELEGATE",
	"BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM", "ARG_MAX", "MINIMUM", "LESS", "NEG",
	"PADV2", "GREATER", "GREATER_EQUAL", "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV",
	"SPARSE_TO_DENSE", "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
	"SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK", "LOGICAL_OR",
	"ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK", "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY",
	"SQUARE", "ZEROS_LIKE", "FILL", "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
	"SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL", "REVERSE_V2", "ADD_N",
	"GATHER_ND", "COS", "WHERE", "RANK", "ELU", "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE",
	"MATRIX_SET_DIAG", "ROUND", "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
	"NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY", "SEGMENT_SUM", "BATCH_MATMUL",
}

func builtinName(code int32) string {
	if code >= 0 && int(code) < len(builtinNames) {
		return builtinNames[code]
	}
	return fmt.Sprintf("BUILTIN_%d", code)
}

// fbOp is one operator of a subgraph.
type fbOp struct {
	name    string // builtin name, or "CUSTOM:<code>"
	inputs  []int32
	outputs []int32
	opts    *flatbuffers.Table // builtin options, nil when absent
}

func slot(i int) flatbuffers.VOffsetT { return flatbuffers.VOffsetT(4 + 2*i) }

// fbVector returns the start and length of the vector in field i of t, checked
// against the buffer (elem bytes per element); n is 0 when the field is absent.
func fbVector(t *flatbuffers.Table, i, elem int) (flatbuffers.UOffsetT, int, error) {
	o := flatbuffers.UOffsetT(t.Offset(slot(i)))
	if o == 0 {
		return 0, 0, nil
	}
	start := t.Vector(o)
	n := t.VectorLen(o)
	if uint64(start) > uint64(len(t.Bytes)) || n < 0 || uint64(n) > (uint64(len(t.Bytes))-uint64(start))/uint64(elem) {
		return 0, 0, fmt.Errorf("tf2onnx: tflite vector of %d elements at %d runs past the %d-byte flatbuffer", n, start, len(t.Bytes))
	}
	return start, n, nil
}

func fbTables(t *flatbuffers.Table, i int) ([]*flatbuffers.Table, error) {
	start, n, err := fbVector(t, i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]*flatbuffers.Table, n)
	for k := range out {
		pos := t.Indirect(start + flatbuffers.UOffsetT(4*k))
		if uint64(pos)+4 > uint64(len(t.Bytes)) {
			return nil, fmt.Errorf("tf2onnx: tflite table at %d is past the end of the flatbuffer", pos)
		}
		out[k] = &flatbuffers.Table{Bytes: t.Bytes, Pos: pos}
	}
	return out, nil
}

func fbInt32s(t *flatbuffers.Table, i int) ([]int32, error) {
	start, n, err := fbVector(t, i, 4)
	if err != nil {
		return nil, err
	}
	out := make([]int32, n)
	for k := range out {
		out[k] = t.GetInt32(start + flatbuffers.UOffsetT(4*k))
	}
	return out, nil
}

func fbTable(t *flatbuffers.Table, i int) *flatbuffers.Table {
	o := flatbuffers.UOffsetT(t.Offset(slot(i)))
	if o == 0 {
		return nil
	}
	return &flatbuffers.Table{Bytes: t.Bytes, Pos: t.Indirect(o + t.Pos)}
}

// Option readers by field index (nil options give the default).
func optInt(t *flatbuffers.Table, i int, d int32) int32 {
	if t == nil {
		return d
	}
	return t.GetInt32Slot(slot(i), d)
}

func optByte(t *flatbuffers.Table, i int, d int8) int8 {
	if t == nil {
		return d
	}
	return t.GetInt8Slot(slot(i), d)
}

func optBool(t *flatbuffers.Table, i int) bool {
	if t == nil {
		return false
	}
	return t.GetBoolSlot(slot(i), false)
}

func optFloat(t *flatbuffers.Table, i int, d float32) float32 {
	if t == nil {
		return d
	}
	return t.GetFloat32Slot(slot(i), d)
}

// readOps returns the operators of the first subgraph with its input and output
// tensor indices. Panics of the unchecked flatbuffers runtime on malformed input are
// turned into errors.
func readOps(buf []byte) (ops []fbOp, inputs, outputs []int32, err error) {
	defer func() {
		if p := recover(); p != nil {
			ops, inputs, outputs, err = nil, nil, nil, fmt.Errorf("tf2onnx: malformed tflite flatbuffer: %v", p)
		}
	}()
	if len(buf) < 8 {
		return nil, nil, nil, fmt.Errorf("tf2onnx: %d-byte tflite file", len(buf))
	}
	root := &flatbuffers.Table{Bytes: buf, Pos: flatbuffers.GetUOffsetT(buf)}
	codes, err := fbTables(root, 1)
	if err != nil {
		return nil, nil, nil, err
	}
	codeNames := make([]string, len(codes))
	for i, c := range codes {
		code := max(int32(c.GetInt8Slot(slot(0), 0)), c.GetInt32Slot(slot(3), 0))
		codeNames[i] = builtinName(code)
		if codeNames[i] == "CUSTOM" {
			if o := flatbuffers.UOffsetT(c.Offset(slot(1))); o != 0 {
				codeNames[i] = "CUSTOM:" + c.String(o+c.Pos)
			}
		}
	}
	subgraphs, err := fbTables(root, 2)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(subgraphs) == 0 {
		return nil, nil, nil, fmt.Errorf("tf2onnx: tflite model has no subgraph")
	}
	sg := subgraphs[0]
	if inputs, err = fbInt32s(sg, 1); err != nil {
		return nil, nil, nil, err
	}
	if outputs, err = fbInt32s(sg, 2); err != nil {
		return nil, nil, nil, err
	}
	tables, err := fbTables(sg, 3)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range tables {
		idx := t.GetUint32Slot(slot(0), 0)
		if uint64(idx) >= uint64(len(codeNames)) {
			return nil, nil, nil, fmt.Errorf("tf2onnx: tflite operator code %d of %d", idx, len(codeNames))
		}
		op := fbOp{name: codeNames[idx]}
		if op.inputs, err = fbInt32s(t, 1); err != nil {
			return nil, nil, nil, err
		}
		if op.outputs, err = fbInt32s(t, 2); err != nil {
			return nil, nil, nil, err
		}
		op.opts = fbTable(t, 4)
		ops = append(ops, op)
	}
	return ops, inputs, outputs, nil
}
