package tflite

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit/format/tflite/internal/schema"
)

// genOp is one operator of a generated model: a builtin code and version, tensor
// indices, and its builtin options as (options type, field writer) or raw custom
// options for a custom code.
type genOp struct {
	code     int32
	custom   string
	version  int32
	in, out  []int32
	optType  byte
	opts     func(b *flatbuffers.Builder) // adds fields between StartObject and EndObject
	nFields  int
	customOp []byte
}

// genModel is a one-subgraph model built from fixtureTensors-like tensors and ops.
type genModel struct {
	tensors         []fixtureTensor
	ops             []genOp
	inputs, outputs []int32
}

func (g *genModel) build() []byte {
	b := flatbuffers.NewBuilder(4096)
	var bufs [][]byte
	tensors := make([]flatbuffers.UOffsetT, len(g.tensors))
	for i, ft := range g.tensors {
		name := b.CreateString(ft.name)
		shape := int32Vector(b, ft.shape)
		var quant flatbuffers.UOffsetT
		if q := ft.quant; q != nil {
			schema.QuantizationParametersStartScaleVector(b, len(q.Scale))
			for k := len(q.Scale) - 1; k >= 0; k-- {
				b.PrependFloat32(q.Scale[k])
			}
			scale := b.EndVector(len(q.Scale))
			schema.QuantizationParametersStartZeroPointVector(b, len(q.ZeroPoint))
			for k := len(q.ZeroPoint) - 1; k >= 0; k-- {
				b.PrependInt64(q.ZeroPoint[k])
			}
			zp := b.EndVector(len(q.ZeroPoint))
			schema.QuantizationParametersStart(b)
			schema.QuantizationParametersAddScale(b, scale)
			schema.QuantizationParametersAddZeroPoint(b, zp)
			schema.QuantizationParametersAddQuantizedDimension(b, q.Dimension)
			quant = schema.QuantizationParametersEnd(b)
		}
		buffer := uint32(0)
		if ft.data != nil {
			bufs = append(bufs, ft.data)
			buffer = uint32(len(bufs))
		}
		schema.TensorStart(b)
		schema.TensorAddShape(b, shape)
		schema.TensorAddType(b, ft.typ)
		schema.TensorAddBuffer(b, buffer)
		schema.TensorAddName(b, name)
		if quant != 0 {
			schema.TensorAddQuantization(b, quant)
		}
		tensors[i] = schema.TensorEnd(b)
	}
	schema.SubGraphStartTensorsVector(b, len(tensors))
	for i := len(tensors) - 1; i >= 0; i-- {
		b.PrependUOffsetT(tensors[i])
	}
	tv := b.EndVector(len(tensors))
	inputs, outputs := int32Vector(b, g.inputs), int32Vector(b, g.outputs)
	// one operator code per (code, custom, version)
	type codeKey struct {
		code    int32
		custom  string
		version int32
	}
	var codes []codeKey
	codeIndex := map[codeKey]uint32{}
	ops := make([]flatbuffers.UOffsetT, len(g.ops))
	for i, op := range g.ops {
		k := codeKey{op.code, op.custom, op.version}
		if _, ok := codeIndex[k]; !ok {
			codeIndex[k] = uint32(len(codes))
			codes = append(codes, k)
		}
		in, out := int32Vector(b, op.in), int32Vector(b, op.out)
		var opts, custom flatbuffers.UOffsetT
		if op.opts != nil {
			b.StartObject(op.nFields)
			op.opts(b)
			opts = b.EndObject()
		}
		if op.customOp != nil {
			custom = b.CreateByteVector(op.customOp)
		}
		schema.OperatorStart(b)
		schema.OperatorAddOpcodeIndex(b, codeIndex[k])
		schema.OperatorAddInputs(b, in)
		schema.OperatorAddOutputs(b, out)
		if opts != 0 {
			schema.OperatorAddBuiltinOptionsType(b, schema.BuiltinOptions(op.optType))
			schema.OperatorAddBuiltinOptions(b, opts)
		}
		if custom != 0 {
			schema.OperatorAddCustomOptions(b, custom)
		}
		ops[i] = schema.OperatorEnd(b)
	}
	schema.SubGraphStartOperatorsVector(b, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		b.PrependUOffsetT(ops[i])
	}
	ov := b.EndVector(len(ops))
	sgName := b.CreateString("main")
	schema.SubGraphStart(b)
	schema.SubGraphAddTensors(b, tv)
	schema.SubGraphAddInputs(b, inputs)
	schema.SubGraphAddOutputs(b, outputs)
	schema.SubGraphAddOperators(b, ov)
	schema.SubGraphAddName(b, sgName)
	sg := schema.SubGraphEnd(b)
	codeOffs := make([]flatbuffers.UOffsetT, len(codes))
	for i, k := range codes {
		var cc flatbuffers.UOffsetT
		if k.custom != "" {
			cc = b.CreateString(k.custom)
		}
		schema.OperatorCodeStart(b)
		schema.OperatorCodeAddDeprecatedBuiltinCode(b, int8(min(k.code, 127)))
		schema.OperatorCodeAddBuiltinCode(b, k.code)
		schema.OperatorCodeAddVersion(b, k.version)
		if cc != 0 {
			schema.OperatorCodeAddCustomCode(b, cc)
		}
		codeOffs[i] = schema.OperatorCodeEnd(b)
	}
	bufOffs := make([]flatbuffers.UOffsetT, len(bufs)+1)
	schema.BufferStart(b)
	bufOffs[0] = schema.BufferEnd(b)
	for i, data := range bufs {
		d := b.CreateByteVector(data)
		schema.BufferStart(b)
		schema.BufferAddData(b, d)
		bufOffs[i+1] = schema.BufferEnd(b)
	}
	schema.ModelStartBuffersVector(b, len(bufOffs))
	for i := len(bufOffs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(bufOffs[i])
	}
	bv := b.EndVector(len(bufOffs))
	schema.ModelStartSubgraphsVector(b, 1)
	b.PrependUOffsetT(sg)
	sgv := b.EndVector(1)
	schema.ModelStartOperatorCodesVector(b, len(codeOffs))
	for i := len(codeOffs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(codeOffs[i])
	}
	ocv := b.EndVector(len(codeOffs))
	desc := b.CreateString("refit fixture")
	schema.ModelStart(b)
	schema.ModelAddVersion(b, 3)
	schema.ModelAddOperatorCodes(b, ocv)
	schema.ModelAddSubgraphs(b, sgv)
	schema.ModelAddDescription(b, desc)
	schema.ModelAddBuffers(b, bv)
	b.FinishWithFileIdentifier(schema.ModelEnd(b), []byte(Identifier))
	return append([]byte(nil), b.FinishedBytes()...)
}

// Builtin codes, option types and option writers of the generated models
// (field indices as in TensorFlow's schema.fbs).
const (
	codeAdd, codeAvgPool, codeConv, codeDepthwise, codeDequantize = 0, 1, 3, 4, 6
	codeFC, codeMaxPool, codeReshape, codeSoftmax, codeQuantize   = 9, 17, 22, 25, 114
	codeCustom                                                    = 32
	padSame, padValid                                             = 0, 1
	actNone, actRelu                                              = 0, 1
)

func convOpts(pad, stride, act int8) func(*flatbuffers.Builder) {
	return func(b *flatbuffers.Builder) {
		b.PrependInt8Slot(0, pad, 0)
		b.PrependInt32Slot(1, int32(stride), 0)
		b.PrependInt32Slot(2, int32(stride), 0)
		b.PrependInt8Slot(3, act, 0)
		b.PrependInt32Slot(4, 1, 1)
		b.PrependInt32Slot(5, 1, 1)
	}
}

func depthwiseOpts(pad, stride, mult, act int8) func(*flatbuffers.Builder) {
	return func(b *flatbuffers.Builder) {
		b.PrependInt8Slot(0, pad, 0)
		b.PrependInt32Slot(1, int32(stride), 0)
		b.PrependInt32Slot(2, int32(stride), 0)
		b.PrependInt32Slot(3, int32(mult), 0)
		b.PrependInt8Slot(4, act, 0)
		b.PrependInt32Slot(5, 1, 1)
		b.PrependInt32Slot(6, 1, 1)
	}
}

func poolOpts(pad, stride, size int8) func(*flatbuffers.Builder) {
	return func(b *flatbuffers.Builder) {
		b.PrependInt8Slot(0, pad, 0)
		b.PrependInt32Slot(1, int32(stride), 0)
		b.PrependInt32Slot(2, int32(stride), 0)
		b.PrependInt32Slot(3, int32(size), 0)
		b.PrependInt32Slot(4, int32(size), 0)
	}
}

func actOpts(act int8) func(*flatbuffers.Builder) {
	return func(b *flatbuffers.Builder) { b.PrependInt8Slot(0, act, 0) }
}

// quantWeights draws n weights in [-0.5, 0.5) and quantizes them symmetrically to
// int8, per channel along the given axis of shape (channels = shape[axis]) or per
// tensor when axis < 0. It returns the bytes and the scales.
func quantWeights(r *rand.Rand, shape []int32, axis int) ([]byte, []float32) {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	w := make([]float64, n)
	for i := range w {
		w[i] = r.Float64() - 0.5
	}
	channels, inner := 1, 1
	if axis >= 0 {
		channels = int(shape[axis])
		for _, d := range shape[axis+1:] {
			inner *= int(d)
		}
	}
	ch := func(i int) int { return (i / inner) % channels }
	peak := make([]float64, channels)
	for i, v := range w {
		peak[ch(i)] = max(peak[ch(i)], math.Abs(v))
	}
	scales := make([]float32, channels)
	for c := range scales {
		scales[c] = float32(peak[c] / 127)
	}
	out := make([]byte, n)
	for i, v := range w {
		out[i] = byte(int8(math.Round(v / float64(scales[ch(i)]))))
	}
	return out, scales
}

// quantBias draws biases in [-0.2, 0.2) as int32 with scale inScale*wScales[c].
func quantBias(r *rand.Rand, inScale float32, wScales []float32, n int) ([]byte, []float32) {
	scales := make([]float32, n)
	vals := make([]int32, n)
	for c := range n {
		scales[c] = inScale * wScales[min(c, len(wScales)-1)]
		vals[c] = int32(math.Round((r.Float64()*0.4 - 0.2) / float64(scales[c])))
	}
	return i32bytes(vals...), scales
}

func q(scale float32, zp int64) *Quantization {
	return &Quantization{Scale: []float32{scale}, ZeroPoint: []int64{zp}}
}

func qs(scales []float32, dim int32) *Quantization {
	return &Quantization{Scale: scales, ZeroPoint: make([]int64, len(scales)), Dimension: dim}
}

// quantInt8Model is a fully int8 model with float input and outputs, as TFLite's
// post-training quantization writes them: QUANTIZE, CONV_2D and DEPTHWISE_CONV_2D
// with per-channel weights, MAX_POOL_2D, RESHAPE, FULLY_CONNECTED with per-tensor
// weights, ADD, SOFTMAX, DEQUANTIZE.
func quantInt8Model() *genModel {
	r := rand.New(rand.NewPCG(19, 2))
	const s = float32(2.0 / 255)
	convW, convS := quantWeights(r, []int32{4, 3, 3, 3}, 0)
	convB, convBS := quantBias(r, s, convS, 4)
	s4 := float32(4.0 / 255)
	dwW, dwS := quantWeights(r, []int32{1, 3, 3, 4}, 3)
	dwB, dwBS := quantBias(r, s4, dwS, 4)
	s7 := float32(3.0 / 255)
	fcW, fcS := quantWeights(r, []int32{5, 16}, -1)
	fcB, fcBS := quantBias(r, s7, fcS, 5)
	i8, i32, f32 := schema.TensorTypeINT8, schema.TensorTypeINT32, schema.TensorTypeFLOAT32
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 8, 8, 3}},                                   // 0
			{name: "input_q", typ: i8, shape: []int32{1, 8, 8, 3}, quant: q(s, 0)},                  // 1
			{name: "conv/w", typ: i8, shape: []int32{4, 3, 3, 3}, data: convW, quant: qs(convS, 0)}, // 2
			{name: "conv/b", typ: i32, shape: []int32{4}, data: convB, quant: qs(convBS, 0)},        // 3
			{name: "conv", typ: i8, shape: []int32{1, 8, 8, 4}, quant: q(s4, -128)},                 // 4
			{name: "dw/w", typ: i8, shape: []int32{1, 3, 3, 4}, data: dwW, quant: qs(dwS, 3)},       // 5
			{name: "dw/b", typ: i32, shape: []int32{4}, data: dwB, quant: qs(dwBS, 0)},              // 6
			{name: "dw", typ: i8, shape: []int32{1, 4, 4, 4}, quant: q(s7, 3)},                      // 7
			{name: "pool", typ: i8, shape: []int32{1, 2, 2, 4}, quant: q(s7, 3)},                    // 8
			{name: "shape", typ: i32, shape: []int32{2}, data: i32bytes(1, 16)},                     // 9
			{name: "flat", typ: i8, shape: []int32{1, 16}, quant: q(s7, 3)},                         // 10
			{name: "fc/w", typ: i8, shape: []int32{5, 16}, data: fcW, quant: qs(fcS, 0)},            // 11
			{name: "fc/b", typ: i32, shape: []int32{5}, data: fcB, quant: qs(fcBS, 0)},              // 12
			{name: "fc", typ: i8, shape: []int32{1, 5}, quant: q(6.0/255, -10)},                     // 13
			{name: "add", typ: i8, shape: []int32{1, 5}, quant: q(10.0/255, 0)},                     // 14
			{name: "softmax", typ: i8, shape: []int32{1, 5}, quant: q(1.0/256, -128)},               // 15
			{name: "probs", typ: f32, shape: []int32{1, 5}},                                         // 16
			{name: "features", typ: f32, shape: []int32{1, 8, 8, 4}},                                // 17
		},
		ops: []genOp{
			{code: codeQuantize, version: 1, in: []int32{0}, out: []int32{1}},
			{code: codeConv, version: 3, in: []int32{1, 2, 3}, out: []int32{4}, optType: 1, nFields: 6, opts: convOpts(padSame, 1, actRelu)},
			{code: codeDepthwise, version: 3, in: []int32{4, 5, 6}, out: []int32{7}, optType: 2, nFields: 7, opts: depthwiseOpts(padSame, 2, 1, actNone)},
			{code: codeMaxPool, version: 2, in: []int32{7}, out: []int32{8}, optType: 5, nFields: 6, opts: poolOpts(padValid, 2, 2)},
			{code: codeReshape, version: 1, in: []int32{8, 9}, out: []int32{10}},
			{code: codeFC, version: 4, in: []int32{10, 11, 12}, out: []int32{13}, optType: 8, nFields: 4, opts: actOpts(actNone)},
			{code: codeAdd, version: 2, in: []int32{13, 13}, out: []int32{14}, optType: 11, nFields: 1, opts: actOpts(actNone)},
			{code: codeSoftmax, version: 2, in: []int32{14}, out: []int32{15}, optType: 9, nFields: 1, opts: func(b *flatbuffers.Builder) { b.PrependFloat32Slot(0, 1, 0) }},
			{code: codeDequantize, version: 2, in: []int32{15}, out: []int32{16}},
			{code: codeDequantize, version: 2, in: []int32{4}, out: []int32{17}},
		},
		inputs:  []int32{0},
		outputs: []int32{16, 17},
	}
}

// quantUint8Model is an older-style uint8 model (per-tensor asymmetric weights):
// QUANTIZE, CONV_2D, AVERAGE_POOL_2D, DEQUANTIZE.
func quantUint8Model() *genModel {
	r := rand.New(rand.NewPCG(19, 3))
	const s = float32(2.0 / 255)
	w, ws := quantWeights(r, []int32{6, 3, 3, 3}, -1)
	for i := range w { // int8 -> uint8 with zero point 128
		w[i] = byte(int(int8(w[i])) + 128)
	}
	bias, bs := quantBias(r, s, ws, 6)
	u8, i32, f32 := schema.TensorTypeUINT8, schema.TensorTypeINT32, schema.TensorTypeFLOAT32
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 6, 6, 3}},
			{name: "input_q", typ: u8, shape: []int32{1, 6, 6, 3}, quant: q(s, 128)},
			{name: "conv/w", typ: u8, shape: []int32{6, 3, 3, 3}, data: w, quant: q(ws[0], 128)},
			{name: "conv/b", typ: i32, shape: []int32{6}, data: bias, quant: q(bs[0], 0)},
			{name: "conv", typ: u8, shape: []int32{1, 3, 3, 6}, quant: q(5.0/255, 120)},
			{name: "pool", typ: u8, shape: []int32{1, 3, 3, 6}, quant: q(5.0/255, 120)},
			{name: "output", typ: f32, shape: []int32{1, 3, 3, 6}},
		},
		ops: []genOp{
			{code: codeQuantize, version: 1, in: []int32{0}, out: []int32{1}},
			{code: codeConv, version: 1, in: []int32{1, 2, 3}, out: []int32{4}, optType: 1, nFields: 6, opts: convOpts(padSame, 2, actNone)},
			{code: codeAvgPool, version: 1, in: []int32{4}, out: []int32{5}, optType: 5, nFields: 6, opts: poolOpts(padSame, 1, 3)},
			{code: codeDequantize, version: 1, in: []int32{5}, out: []int32{6}},
		},
		inputs:  []int32{0},
		outputs: []int32{6},
	}
}

// TestGenerateQuantFixtures writes (with -update) or checks the generated quantized
// fixtures, which tf2onnx's tests convert and interop/tflite runs in TFLite's
// interpreter. No real int8/uint8 .tflite model ships in the npm or Debian packages
// the tests can use, so these stand in for post-training-quantized models.
func TestGenerateQuantFixtures(t *testing.T) {
	for name, g := range map[string]*genModel{"testdata/quant_int8.tflite": quantInt8Model(), "testdata/quant_uint8.tflite": quantUint8Model(),
		"testdata/transpose_conv_bias.tflite": transposeConvBiasModel(), "testdata/landmark_ops.tflite": landmarkOpsModel(), "testdata/pool_ops.tflite": poolOpsModel(), "testdata/argmax_unpool.tflite": argmaxUnpoolModel(), "testdata/quant_int8_ops.tflite": quantInt8OpsModel()} {
		got := g.build()
		if _, err := Decode(bytes.NewReader(got), int64(len(got)), nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if *update {
			if err := os.WriteFile(name, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: go test ./format/tflite -run TestGenerateQuantFixtures -update", name)
		}
	}
}

// transposeConvBiasModel is one MediaPipe Convolution2DTransposeBias (SAME padding,
// stride 2, 3x3 kernel on a 5x4 input: an odd amount of padding to trim) with its
// options as the 12-byte TfLiteTransposeConvParams {padding, stride_w, stride_h}.
func transposeConvBiasModel() *genModel {
	r := rand.New(rand.NewPCG(19, 4))
	w := make([]float32, 2*3*3*3)
	for i := range w {
		w[i] = float32(r.Float64() - 0.5)
	}
	f32 := schema.TensorTypeFLOAT32
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 5, 4, 3}},
			{name: "w", typ: f32, shape: []int32{2, 3, 3, 3}, data: f32bytes(w...)},
			{name: "b", typ: f32, shape: []int32{2}, data: f32bytes(0.25, -0.5)},
			{name: "output", typ: f32, shape: []int32{1, 9, 8, 2}},
		},
		ops: []genOp{{code: codeCustom, custom: "Convolution2DTransposeBias", version: 1, in: []int32{0, 1, 2}, out: []int32{3},
			customOp: i32bytes(1, 2, 2)}},
		inputs:  []int32{0},
		outputs: []int32{3},
	}
}

// flexEntry is one attribute of a FlexBuffers map written by flexMap: an int32, a
// float32, or a vector of int32.
type flexEntry struct {
	key   string
	i     int32
	f     float32
	ints  []int32
	float bool
}

// flexMapBytes writes a FlexBuffers map with every slot 4 bytes wide: the keys,
// the keys vector, any int vectors, then the map (keys offset, keys width, length,
// values, type bytes) and the root (offset, packed type, width).
func flexMapBytes(entries []flexEntry) []byte {
	slices.SortFunc(entries, func(a, b flexEntry) int { return strings.Compare(a.key, b.key) })
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	align := func() {
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	keyPos := make([]int, len(entries))
	for i, e := range entries {
		keyPos[i] = len(b)
		b = append(append(b, e.key...), 0)
	}
	align()
	u32(uint32(len(entries)))
	keysVec := len(b)
	for i := range entries {
		u32(uint32(len(b) - keyPos[i]))
	}
	vecPos := make([]int, len(entries))
	for i, e := range entries {
		if e.ints != nil {
			u32(uint32(len(e.ints)))
			vecPos[i] = len(b)
			for _, v := range e.ints {
				u32(uint32(v))
			}
		}
	}
	u32(uint32(len(b) - keysVec))
	u32(4)
	u32(uint32(len(entries)))
	values := len(b)
	var types []byte
	for i, e := range entries {
		switch {
		case e.ints != nil:
			u32(uint32(len(b) - vecPos[i]))
			types = append(types, 11<<2|2) // VECTOR_INT of 4-byte ints
		case e.float:
			u32(math.Float32bits(e.f))
			types = append(types, 3<<2|2)
		default:
			u32(uint32(e.i))
			types = append(types, 1<<2|2)
		}
	}
	b = append(b, types...)
	root := len(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(root-values))
	return append(b, 9<<2|2, 4) // a map of 4-byte slots; the root is 4 bytes wide
}

// landmarkOpsModel chains MediaPipe's landmark operators as face_landmark_with_attention
// uses them (version 2): Landmarks2TransformMatrix on landmarks [1, 10, 3], then
// TransformTensorBilinear of a [1, 6, 5, 2] feature map to [1, 4, 3, 2] with that
// matrix, and TransformLandmarks of points [1, 4, 2] with it. The subset has an odd
// number of indices, as in the real model.
func landmarkOpsModel() *genModel {
	f32 := schema.TensorTypeFLOAT32
	return &genModel{
		tensors: []fixtureTensor{
			{name: "landmarks", typ: f32, shape: []int32{1, 10, 3}},
			{name: "features", typ: f32, shape: []int32{1, 6, 5, 2}},
			{name: "matrix", typ: f32, shape: []int32{1, 4, 4}},
			{name: "sampled", typ: f32, shape: []int32{1, 4, 3, 2}},
			{name: "points", typ: f32, shape: []int32{1, 4, 2}},
			{name: "points_t", typ: f32, shape: []int32{1, 4, 2}},
		},
		ops: []genOp{
			{code: codeCustom, custom: "Landmarks2TransformMatrix", version: 2, in: []int32{0}, out: []int32{2}, customOp: flexMapBytes([]flexEntry{
				{key: "left_rotation_idx", i: 1}, {key: "right_rotation_idx", i: 4}, {key: "target_rotation_radians", f: 0.3, float: true},
				{key: "subset_idxs", ints: []int32{0, 2, 5, 7, 9}}, {key: "output_height", i: 4}, {key: "output_width", i: 3},
				{key: "scale_x", f: 1.5, float: true}, {key: "scale_y", f: 1.25, float: true}})},
			{code: codeCustom, custom: "TransformTensorBilinear", version: 2, in: []int32{1, 2}, out: []int32{3},
				customOp: flexMapBytes([]flexEntry{{key: "output_height", i: 4}, {key: "output_width", i: 3}})},
			{code: codeCustom, custom: "TransformLandmarks", version: 2, in: []int32{4, 2}, out: []int32{5}},
		},
		inputs:  []int32{0, 1, 4},
		outputs: []int32{2, 3, 5},
	}
}

// poolOpsModel has MediaPipe's MaxPoolingWithArgmax2D (3x3, stride 2, SAME: padding
// before the first window; and 2x2, stride 2, VALID) and MaxUnpooling2D of the
// second one's values and indices, with TfLitePoolParams {padding, stride_w,
// stride_h, filter_w, filter_h, activation} as custom options.
func poolOpsModel() *genModel {
	f32 := schema.TensorTypeFLOAT32
	params := func(pad, stride, filter int32) []byte { return i32bytes(pad, stride, stride, filter, filter, 0) }
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 5, 6, 2}},
			{name: "same_values", typ: f32, shape: []int32{1, 3, 3, 2}},
			{name: "same_indices", typ: f32, shape: []int32{1, 3, 3, 2}},
			{name: "valid_values", typ: f32, shape: []int32{1, 2, 3, 2}},
			{name: "valid_indices", typ: f32, shape: []int32{1, 2, 3, 2}},
			{name: "unpooled", typ: f32, shape: []int32{1, 4, 6, 2}},
		},
		ops: []genOp{
			{code: codeCustom, custom: "MaxPoolingWithArgmax2D", version: 1, in: []int32{0}, out: []int32{1, 2}, customOp: params(1, 2, 3)},
			{code: codeCustom, custom: "MaxPoolingWithArgmax2D", version: 1, in: []int32{0}, out: []int32{3, 4}, customOp: params(2, 2, 2)},
			{code: codeCustom, custom: "MaxUnpooling2D", version: 1, in: []int32{3, 4}, out: []int32{5}, customOp: params(2, 2, 2)},
		},
		inputs:  []int32{0},
		outputs: []int32{1, 2, 3, 4, 5},
	}
}

// argmaxUnpoolModel is the pair MediaPipe's segmentation models use, 2x2 stride-2
// MaxPoolingWithArgmax2D then MaxUnpooling2D: the form LiteRT's XNNPACK kernels
// accept (window equal to stride), so LiteRT.js can be the reference.
func argmaxUnpoolModel() *genModel {
	f32 := schema.TensorTypeFLOAT32
	params := i32bytes(2, 2, 2, 2, 2, 0)
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 6, 8, 3}},
			{name: "values", typ: f32, shape: []int32{1, 3, 4, 3}},
			{name: "indices", typ: f32, shape: []int32{1, 3, 4, 3}},
			{name: "unpooled", typ: f32, shape: []int32{1, 6, 8, 3}},
		},
		ops: []genOp{
			{code: codeCustom, custom: "MaxPoolingWithArgmax2D", version: 1, in: []int32{0}, out: []int32{1, 2}, customOp: params},
			{code: codeCustom, custom: "MaxUnpooling2D", version: 1, in: []int32{1, 2}, out: []int32{3}, customOp: params},
		},
		inputs:  []int32{0},
		outputs: []int32{1, 2, 3},
	}
}

// quantInt8OpsModel exercises int8 kernels beyond convolutions, each with its own
// output scale and zero point: HARD_SWISH, MUL, RESIZE_BILINEAR (half-pixel),
// LOGISTIC (TFLite's fixed 1/256, -128 output) and MEAN over the spatial axes.
func quantInt8OpsModel() *genModel {
	i8, i32, f32 := schema.TensorTypeINT8, schema.TensorTypeINT32, schema.TensorTypeFLOAT32
	return &genModel{
		tensors: []fixtureTensor{
			{name: "input", typ: f32, shape: []int32{1, 6, 6, 4}},                           // 0
			{name: "input_q", typ: i8, shape: []int32{1, 6, 6, 4}, quant: q(2.0/255, 0)},    // 1
			{name: "hswish", typ: i8, shape: []int32{1, 6, 6, 4}, quant: q(1.5/255, -60)},   // 2
			{name: "mul", typ: i8, shape: []int32{1, 6, 6, 4}, quant: q(1.2/255, 5)},        // 3
			{name: "size", typ: i32, shape: []int32{2}, data: i32bytes(9, 9)},               // 4
			{name: "resize", typ: i8, shape: []int32{1, 9, 9, 4}, quant: q(1.2/255, 5)},     // 5
			{name: "sigmoid", typ: i8, shape: []int32{1, 9, 9, 4}, quant: q(1.0/256, -128)}, // 6
			{name: "axes", typ: i32, shape: []int32{2}, data: i32bytes(1, 2)},               // 7
			{name: "mean", typ: i8, shape: []int32{1, 1, 1, 4}, quant: q(1.0/255, -128)},    // 8
			{name: "pooled", typ: f32, shape: []int32{1, 1, 1, 4}},                          // 9
			{name: "resized", typ: f32, shape: []int32{1, 9, 9, 4}},                         // 10
		},
		ops: []genOp{
			{code: codeQuantize, version: 1, in: []int32{0}, out: []int32{1}},
			{code: 117, version: 1, in: []int32{1}, out: []int32{2}},                                                    // HARD_SWISH
			{code: 18, version: 2, in: []int32{2, 1}, out: []int32{3}, optType: 21, nFields: 1, opts: actOpts(actNone)}, // MUL
			{code: 23, version: 2, in: []int32{3, 4}, out: []int32{5}, optType: 15, nFields: 4, // RESIZE_BILINEAR, half-pixel
				opts: func(b *flatbuffers.Builder) { b.PrependBoolSlot(3, true, false) }},
			{code: 14, version: 2, in: []int32{5}, out: []int32{6}}, // LOGISTIC
			{code: 40, version: 2, in: []int32{6, 7}, out: []int32{8}, optType: 27, nFields: 1, // MEAN, keep_dims
				opts: func(b *flatbuffers.Builder) { b.PrependBoolSlot(0, true, false) }},
			{code: codeDequantize, version: 2, in: []int32{8}, out: []int32{9}},
			{code: codeDequantize, version: 2, in: []int32{5}, out: []int32{10}},
		},
		inputs:  []int32{0},
		outputs: []int32{9, 10},
	}
}
