package tflite

import (
	"flag"
	"math"
	"os"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit/format/tflite/internal/schema"
	"github.com/refit-ml/refit/tensor"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.tflite fixtures")

// fixtureTensor is one tensor of a generated fixture; data nil means no buffer.
type fixtureTensor struct {
	name  string
	typ   schema.TensorType
	shape []int32
	data  []byte
	quant *Quantization

	sparse *Sparsity // data holds the stored values; dense the expected tensor
	dense  []byte
}

func f32bytes(v ...float32) []byte { return tensor.EncodeFloat32(nil, v) }

func f16bytes(v ...float32) []byte {
	b := make([]byte, 2*len(v))
	tensor.ConvertF32ToF16(b, v)
	return b
}

func i32bytes(v ...int32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

func i64bytes(v ...int64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		for k := 0; k < 8; k++ {
			b = append(b, byte(x>>(8*k)))
		}
	}
	return b
}

// fixtureTensors is the content of both fixtures.
var fixtureTensors = []fixtureTensor{
	{name: "input", typ: schema.TensorTypeFLOAT32, shape: []int32{1, 2}},
	{name: "dense/kernel", typ: schema.TensorTypeFLOAT32, shape: []int32{3, 2}, data: f32bytes(1, -2, 3.5, 0.25, -1e-3, 1e30)},
	{name: "dense/bias", typ: schema.TensorTypeFLOAT16, shape: []int32{3}, data: f16bytes(0.5, -1.5, 2)},
	{name: "conv/filter", typ: schema.TensorTypeINT8, shape: []int32{3, 2}, data: []byte{0x80, 0x7f, 1, 2, 0xff, 0},
		quant: &Quantization{Scale: []float32{0.5, 0.25, 0.125}, ZeroPoint: []int64{0, 1, -1}, Dimension: 0}},
	{name: "act/q", typ: schema.TensorTypeUINT8, shape: []int32{4}, data: []byte{0, 128, 255, 3},
		quant: &Quantization{Scale: []float32{0.1}, ZeroPoint: []int64{128}}},
	{name: "conv/bias", typ: schema.TensorTypeINT32, shape: []int32{3}, data: i32bytes(-7, 0, 1<<30)},
	{name: "shape", typ: schema.TensorTypeINT64, shape: []int32{2}, data: i64bytes(-1, math.MaxInt64)},
	{name: "labels", typ: schema.TensorTypeSTRING, shape: []int32{1}, data: []byte{1, 0, 0, 0, 12, 0, 0, 0, 13, 0, 0, 0, 'x'}},
	// [[0 1.5 0 -2] [0 0 0 0] [7 0 0 0]]: dense rows, CSR columns.
	{name: "sparse/csr", typ: schema.TensorTypeFLOAT32, shape: []int32{3, 4}, data: f32bytes(1.5, -2, 7),
		sparse: &Sparsity{TraversalOrder: []int{0, 1}, Dims: []SparseDim{
			{Dense: true, Size: 3}, {Segments: []int{0, 2, 2, 3}, Indices: []int{1, 3, 0}}}},
		dense: f32bytes(0, 1.5, 0, -2, 0, 0, 0, 0, 7, 0, 0, 0)},
	// [[0 0 1 2] [3 4 0 0]] in 1x2 blocks along columns.
	{name: "sparse/block", typ: schema.TensorTypeINT8, shape: []int32{2, 4}, data: []byte{1, 2, 3, 4},
		sparse: &Sparsity{TraversalOrder: []int{0, 1, 2}, BlockMap: []int{1}, Dims: []SparseDim{
			{Dense: true, Size: 2}, {Segments: []int{0, 1, 2}, Indices: []int{1, 0}}, {Dense: true, Size: 2}}},
		dense: []byte{0, 0, 1, 2, 3, 4, 0, 0}},
	{name: "output", typ: schema.TensorTypeFLOAT32, shape: []int32{1, 3}},
}

// sparseIndexVector builds an Int32Vector (int32s) or Uint8Vector (small) union value.
func sparseIndexVector(b *flatbuffers.Builder, v []int, small bool) (schema.SparseIndexVector, flatbuffers.UOffsetT) {
	if small {
		bs := make([]byte, len(v))
		for i, x := range v {
			bs[i] = byte(x)
		}
		vec := b.CreateByteVector(bs)
		schema.Uint8VectorStart(b)
		schema.Uint8VectorAddValues(b, vec)
		return schema.SparseIndexVectorUint8Vector, schema.Uint8VectorEnd(b)
	}
	is := make([]int32, len(v))
	for i, x := range v {
		is[i] = int32(x)
	}
	vec := int32Vector(b, is)
	schema.Int32VectorStart(b)
	schema.Int32VectorAddValues(b, vec)
	return schema.SparseIndexVectorInt32Vector, schema.Int32VectorEnd(b)
}

func buildSparsity(b *flatbuffers.Builder, s *Sparsity) flatbuffers.UOffsetT {
	dims := make([]flatbuffers.UOffsetT, len(s.Dims))
	for i, d := range s.Dims {
		var segT, idxT schema.SparseIndexVector
		var seg, idx flatbuffers.UOffsetT
		if !d.Dense {
			segT, seg = sparseIndexVector(b, d.Segments, false)
			idxT, idx = sparseIndexVector(b, d.Indices, true)
		}
		schema.DimensionMetadataStart(b)
		if d.Dense {
			schema.DimensionMetadataAddFormat(b, schema.DimensionTypeDENSE)
			schema.DimensionMetadataAddDenseSize(b, int32(d.Size))
		} else {
			schema.DimensionMetadataAddFormat(b, schema.DimensionTypeSPARSE_CSR)
			schema.DimensionMetadataAddArraySegmentsType(b, segT)
			schema.DimensionMetadataAddArraySegments(b, seg)
			schema.DimensionMetadataAddArrayIndicesType(b, idxT)
			schema.DimensionMetadataAddArrayIndices(b, idx)
		}
		dims[i] = schema.DimensionMetadataEnd(b)
	}
	ints := func(v []int) flatbuffers.UOffsetT {
		is := make([]int32, len(v))
		for i, x := range v {
			is[i] = int32(x)
		}
		return int32Vector(b, is)
	}
	order, blocks := ints(s.TraversalOrder), ints(s.BlockMap)
	schema.SparsityParametersStartDimMetadataVector(b, len(dims))
	for i := len(dims) - 1; i >= 0; i-- {
		b.PrependUOffsetT(dims[i])
	}
	dv := b.EndVector(len(dims))
	schema.SparsityParametersStart(b)
	schema.SparsityParametersAddTraversalOrder(b, order)
	schema.SparsityParametersAddBlockMap(b, blocks)
	schema.SparsityParametersAddDimMetadata(b, dv)
	return schema.SparsityParametersEnd(b)
}

func int32Vector(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

// buildFixture writes a one-subgraph model holding fixtureTensors. With external,
// buffers use offset/size and their bytes follow the flatbuffer, as the converter
// writes models over 2 GiB.
func buildFixture(external bool) []byte {
	b := flatbuffers.NewBuilder(1024)
	type bufRef struct{ data []byte }
	var bufs []bufRef
	tensors := make([]flatbuffers.UOffsetT, len(fixtureTensors))
	for i, ft := range fixtureTensors {
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
		var sparsity flatbuffers.UOffsetT
		if ft.sparse != nil {
			sparsity = buildSparsity(b, ft.sparse)
		}
		buffer := uint32(0)
		if ft.data != nil {
			bufs = append(bufs, bufRef{ft.data})
			buffer = uint32(len(bufs)) // buffer 0 is the empty sentinel
		}
		schema.TensorStart(b)
		schema.TensorAddShape(b, shape)
		schema.TensorAddType(b, ft.typ)
		schema.TensorAddBuffer(b, buffer)
		schema.TensorAddName(b, name)
		if quant != 0 {
			schema.TensorAddQuantization(b, quant)
		}
		if sparsity != 0 {
			schema.TensorAddSparsity(b, sparsity)
		}
		tensors[i] = schema.TensorEnd(b)
	}
	schema.SubGraphStartTensorsVector(b, len(tensors))
	for i := len(tensors) - 1; i >= 0; i-- {
		b.PrependUOffsetT(tensors[i])
	}
	tv := b.EndVector(len(tensors))
	inputs := int32Vector(b, []int32{0})
	outputs := int32Vector(b, []int32{int32(len(fixtureTensors) - 1)})
	opIn := int32Vector(b, []int32{0, 1, 2})
	opOut := int32Vector(b, []int32{int32(len(fixtureTensors) - 1)})
	schema.OperatorStart(b)
	schema.OperatorAddOpcodeIndex(b, 0)
	schema.OperatorAddInputs(b, opIn)
	schema.OperatorAddOutputs(b, opOut)
	op := schema.OperatorEnd(b)
	schema.SubGraphStartOperatorsVector(b, 1)
	b.PrependUOffsetT(op)
	ops := b.EndVector(1)
	sgName := b.CreateString("main")
	schema.SubGraphStart(b)
	schema.SubGraphAddTensors(b, tv)
	schema.SubGraphAddInputs(b, inputs)
	schema.SubGraphAddOutputs(b, outputs)
	schema.SubGraphAddOperators(b, ops)
	schema.SubGraphAddName(b, sgName)
	sg := schema.SubGraphEnd(b)

	schema.OperatorCodeStart(b)
	schema.OperatorCodeAddDeprecatedBuiltinCode(b, 9) // FULLY_CONNECTED
	schema.OperatorCodeAddVersion(b, 1)
	schema.OperatorCodeAddBuiltinCode(b, 9)
	opc := schema.OperatorCodeEnd(b)

	bufOffs := make([]flatbuffers.UOffsetT, len(bufs)+1)
	schema.BufferStart(b)
	bufOffs[0] = schema.BufferEnd(b)
	for i, br := range bufs {
		if external {
			schema.BufferStart(b)
			schema.BufferAddOffset(b, 2) // patched below
			schema.BufferAddSize(b, uint64(len(br.data)))
			bufOffs[i+1] = schema.BufferEnd(b)
			continue
		}
		data := b.CreateByteVector(br.data)
		schema.BufferStart(b)
		schema.BufferAddData(b, data)
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
	schema.ModelStartOperatorCodesVector(b, 1)
	b.PrependUOffsetT(opc)
	ocv := b.EndVector(1)
	desc := b.CreateString("refit fixture")
	schema.ModelStart(b)
	schema.ModelAddVersion(b, 3)
	schema.ModelAddOperatorCodes(b, ocv)
	schema.ModelAddSubgraphs(b, sgv)
	schema.ModelAddDescription(b, desc)
	schema.ModelAddBuffers(b, bv)
	b.FinishWithFileIdentifier(schema.ModelEnd(b), []byte(Identifier))
	out := append([]byte(nil), b.FinishedBytes()...)
	if !external {
		return out
	}
	root := schema.GetRootAsModel(out, 0)
	var sb schema.Buffer
	end := len(out)
	for i, br := range bufs {
		end = (end + 15) &^ 15
		root.Buffers(&sb, i+1)
		sb.MutateOffset(uint64(end))
		end += len(br.data)
	}
	for _, br := range bufs {
		for len(out)%16 != 0 {
			out = append(out, 0)
		}
		out = append(out, br.data...)
	}
	return out
}

func TestGenerateFixtures(t *testing.T) {
	for name, external := range map[string]bool{"testdata/model.tflite": false, "testdata/external.tflite": true} {
		got := buildFixture(external)
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
			t.Errorf("%s is stale: go test ./format/tflite -run TestGenerateFixtures -update", name)
		}
	}
}
