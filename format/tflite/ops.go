package tflite

import (
	"encoding/binary"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite/internal/schema"
)

// Graph is the computation of one subgraph: which tensors (indices into the subgraph's
// tensors) it takes and gives, and its operators in execution order.
type Graph struct {
	Inputs    []int32
	Outputs   []int32
	Operators []Operator
}

// Operator is one operator of a subgraph.
type Operator struct {
	Op      string  // builtin name as in TFLite's schema ("CONV_2D"), or "CUSTOM:<code>"
	Inputs  []int32 // tensor indices; -1 marks an omitted optional input
	Outputs []int32
	Options Options // builtin options
	Custom  []byte  // custom_options of a custom operator (a copy), nil when absent
}

// Options is an operator's builtin options table. Its fields are read by their index
// in the options table of TensorFlow's schema.fbs (Refit's schema keeps the union
// opaque); an absent table or field gives the default.
type Options struct {
	t  flatbuffers.Table
	ok bool
}

// field returns the position of field i's w-byte value, or false when it is absent
// or (in a malformed table) would run past the end of the flatbuffer.
func (o Options) field(i, w int) (flatbuffers.UOffsetT, bool) {
	if !o.ok {
		return 0, false
	}
	off, err := fieldPos(o.t, slot(i), w)
	return flatbuffers.UOffsetT(off), err == nil && off != 0
}

// Int32 returns field i as an int32.
func (o Options) Int32(i int, def int32) int32 {
	if p, ok := o.field(i, 4); ok {
		return o.t.GetInt32(p)
	}
	return def
}

// Int8 returns field i as an int8 (TFLite's byte-sized enums).
func (o Options) Int8(i int, def int8) int8 {
	if p, ok := o.field(i, 1); ok {
		return o.t.GetInt8(p)
	}
	return def
}

// Bool returns field i as a bool, false by default.
func (o Options) Bool(i int) bool {
	if p, ok := o.field(i, 1); ok {
		return o.t.GetBool(p)
	}
	return false
}

// Float32 returns field i as a float32.
func (o Options) Float32(i int, def float32) float32 {
	if p, ok := o.field(i, 4); ok {
		return o.t.GetFloat32(p)
	}
	return def
}

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

// Vtable slots of the schema's tables (field i is at 4+2i).
func slot(i int) flatbuffers.VOffsetT { return flatbuffers.VOffsetT(4 + 2*i) }

// The flatbuffers runtime indexes the buffer without checks. readGraphs checks every
// table, vtable, field, vector and string it reaches before the generated accessors
// read it, so malformed input is an error and never an out-of-range access.

// checkTable verifies that a table at pos and its vtable lie inside buf.
func checkTable(buf []byte, pos uint64) (flatbuffers.Table, error) {
	n := uint64(len(buf))
	if pos+4 > n {
		return flatbuffers.Table{}, refit.Errorf("tflite", int64(pos), "table past the end of the %d-byte flatbuffer", n)
	}
	vt := int64(pos) - int64(int32(binary.LittleEndian.Uint32(buf[pos:])))
	if vt < 0 || uint64(vt)+4 > n {
		return flatbuffers.Table{}, refit.Errorf("tflite", int64(pos), "vtable at %d is outside the %d-byte flatbuffer", vt, n)
	}
	size := uint64(binary.LittleEndian.Uint16(buf[vt:]))
	if size < 4 || size%2 != 0 || uint64(vt)+size > n {
		return flatbuffers.Table{}, refit.Errorf("tflite", vt, "vtable of %d bytes does not fit the %d-byte flatbuffer", size, n)
	}
	return flatbuffers.Table{Bytes: buf, Pos: flatbuffers.UOffsetT(pos)}, nil
}

// fieldPos returns the position of the w-byte value in slot of the checked table t,
// 0 when the field is absent.
func fieldPos(t flatbuffers.Table, s flatbuffers.VOffsetT, w int) (uint64, error) {
	o := t.Offset(s)
	if o == 0 {
		return 0, nil
	}
	p := uint64(t.Pos) + uint64(o)
	if p+uint64(w) > uint64(len(t.Bytes)) {
		return 0, refit.Errorf("tflite", int64(p), "field runs past the %d-byte flatbuffer", len(t.Bytes))
	}
	return p, nil
}

// vectorLen checks the vector in slot of t (elem bytes per element) and returns its
// length, 0 when absent.
func vectorLen(t flatbuffers.Table, s flatbuffers.VOffsetT, elem int) (int, error) {
	p, err := fieldPos(t, s, 4)
	if err != nil || p == 0 {
		return 0, err
	}
	n := uint64(len(t.Bytes))
	x := p + uint64(binary.LittleEndian.Uint32(t.Bytes[p:]))
	if x+4 > n {
		return 0, refit.Errorf("tflite", int64(p), "vector at %d is past the end of the %d-byte flatbuffer", x, n)
	}
	count := uint64(binary.LittleEndian.Uint32(t.Bytes[x:]))
	if count > (n-x-4)/uint64(elem) {
		return 0, refit.Errorf("tflite", int64(x), "vector of %d elements runs past the %d-byte flatbuffer", count, n)
	}
	return int(count), nil
}

// tableVector checks the vector of tables in slot of t and every table in it, and
// returns its length.
func tableVector(t flatbuffers.Table, s flatbuffers.VOffsetT) (int, error) {
	count, err := vectorLen(t, s, 4)
	if err != nil || count == 0 {
		return 0, err
	}
	start := uint64(t.Vector(flatbuffers.UOffsetT(t.Offset(s))))
	for k := range uint64(count) {
		p := start + 4*k
		if _, err := checkTable(t.Bytes, p+uint64(binary.LittleEndian.Uint32(t.Bytes[p:]))); err != nil {
			return 0, err
		}
	}
	return count, nil
}

// checkString checks the string in slot of t.
func checkString(t flatbuffers.Table, s flatbuffers.VOffsetT) error {
	_, err := vectorLen(t, s, 1)
	return err
}

// readInt32s reads the checked [int] vector in slot of t through get.
func readInt32s(t flatbuffers.Table, s flatbuffers.VOffsetT, get func(int) int32) ([]int32, error) {
	n, err := vectorLen(t, s, 4)
	if err != nil {
		return nil, err
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = get(i)
	}
	return out, nil
}

// readVector checks the vector of elem-byte scalars in slot of t and reads it through
// get; nil when absent or empty.
func readVector[T any](t flatbuffers.Table, s flatbuffers.VOffsetT, elem int, get func(int) T) ([]T, error) {
	n, err := vectorLen(t, s, elem)
	if err != nil || n == 0 {
		return nil, err
	}
	out := make([]T, n)
	for i := range out {
		out[i] = get(i)
	}
	return out, nil
}

// subTable checks the table that slot of t refers to (a table field or union value);
// ok is false when the field is absent.
func subTable(t flatbuffers.Table, s flatbuffers.VOffsetT) (sub flatbuffers.Table, ok bool, err error) {
	p, err := fieldPos(t, s, 4)
	if err != nil || p == 0 {
		return flatbuffers.Table{}, false, err
	}
	sub, err = checkTable(t.Bytes, p+uint64(binary.LittleEndian.Uint32(t.Bytes[p:])))
	return sub, err == nil, err
}

// readGraphs reads the inputs, outputs and operators of every subgraph.
func readGraphs(buf []byte) ([]Graph, error) {
	if len(buf) < 8 {
		return nil, refit.Errorf("tflite", 0, "%d-byte flatbuffer", len(buf))
	}
	rt, err := checkTable(buf, uint64(flatbuffers.GetUOffsetT(buf)))
	if err != nil {
		return nil, err
	}
	var root schema.Model
	root.Init(buf, rt.Pos)
	nCodes, err := tableVector(rt, slot(1))
	if err != nil {
		return nil, err
	}
	names := make([]string, nCodes)
	var oc schema.OperatorCode
	for i := range names {
		root.OperatorCodes(&oc, i)
		if _, err := fieldPos(oc.Table(), slot(0), 1); err != nil {
			return nil, err
		}
		if _, err := fieldPos(oc.Table(), slot(3), 4); err != nil {
			return nil, err
		}
		names[i] = builtinName(max(int32(oc.DeprecatedBuiltinCode()), oc.BuiltinCode()))
		if names[i] == "CUSTOM" {
			if err := checkString(oc.Table(), slot(1)); err != nil {
				return nil, err
			}
			if code := oc.CustomCode(); code != nil {
				names[i] = "CUSTOM:" + string(code)
			}
		}
	}
	nGraphs, err := tableVector(rt, slot(2))
	if err != nil {
		return nil, err
	}
	graphs := make([]Graph, nGraphs)
	var sg schema.SubGraph
	var op schema.Operator
	for gi := range graphs {
		root.Subgraphs(&sg, gi)
		g := &graphs[gi]
		if g.Inputs, err = readInt32s(sg.Table(), slot(1), sg.Inputs); err != nil {
			return nil, err
		}
		if g.Outputs, err = readInt32s(sg.Table(), slot(2), sg.Outputs); err != nil {
			return nil, err
		}
		nOps, err := tableVector(sg.Table(), slot(3))
		if err != nil {
			return nil, err
		}
		g.Operators = make([]Operator, nOps)
		for oi := range g.Operators {
			sg.Operators(&op, oi)
			o := &g.Operators[oi]
			if _, err := fieldPos(op.Table(), slot(0), 4); err != nil {
				return nil, err
			}
			idx := op.OpcodeIndex()
			if uint64(idx) >= uint64(len(names)) {
				return nil, refit.Errorf("tflite", int64(op.Table().Pos), "operator code %d of %d", idx, len(names))
			}
			o.Op = names[idx]
			if o.Inputs, err = readInt32s(op.Table(), slot(1), op.Inputs); err != nil {
				return nil, err
			}
			if o.Outputs, err = readInt32s(op.Table(), slot(2), op.Outputs); err != nil {
				return nil, err
			}
			if o.Custom, err = readVector(op.Table(), slot(5), 1, op.CustomOptions); err != nil {
				return nil, err
			}
			p, err := fieldPos(op.Table(), slot(4), 4)
			if err != nil {
				return nil, err
			}
			if p != 0 {
				var t flatbuffers.Table
				op.BuiltinOptions(&t)
				if o.Options.t, err = checkTable(buf, uint64(t.Pos)); err != nil {
					return nil, err
				}
				o.Options.ok = true
			}
		}
	}
	return graphs, nil
}
