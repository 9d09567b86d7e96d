package onnx

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
	"google.golang.org/protobuf/proto"
)

// fixture values, as testdata/gen/onnx_fixtures.py makes them.
func wantW() []float32 {
	w := make([]float32, 32)
	for i := range w {
		w[i] = float32(i) / 8
	}
	return w
}

func floats(t *testing.T, m *refit.Model, name string) []float32 {
	t.Helper()
	tt := m.Tensor(name)
	if tt == nil {
		t.Fatalf("no tensor %q", name)
	}
	v, err := tt.Float32s()
	if err != nil {
		t.Fatalf("Float32s(%q): %v", name, err)
	}
	return v
}

func checkFixture(t *testing.T, m *refit.Model) {
	t.Helper()
	var names []string
	for _, tt := range m.Tensors {
		names = append(names, tt.Name+":"+tt.DType.String()+tt.Shape.String())
	}
	if want := []string{"W:F32[4, 8]", "B:F32[8]", "S:I64[2]", "H:F16[2, 8]"}; !slices.Equal(names, want) {
		t.Fatalf("tensors %v, want %v", names, want)
	}
	if got := floats(t, m, "W"); !slices.Equal(got, wantW()) {
		t.Errorf("W = %v, want %v", got, wantW())
	}
	if got, want := floats(t, m, "B"), []float32{0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5}; !slices.Equal(got, want) {
		t.Errorf("B = %v, want %v", got, want)
	}
	if got := floats(t, m, "S"); !slices.Equal(got, []float32{1, 8}) {
		t.Errorf("S = %v, want [1 8]", got)
	}
	h := floats(t, m, "H")
	if h[0] != -2 || h[15] != 2 || m.Tensor("H").DType != tensor.F16 {
		t.Errorf("H = %v (%v), want -2 ... 2 as F16", h, m.Tensor("H").DType)
	}
	if v, _ := m.Metadata.Get("onnx.ir_version"); v != int64(8) {
		t.Errorf("onnx.ir_version = %v, want 8", v)
	}
	if v, _ := m.Metadata.Get("onnx.opset.ai.onnx"); v != int64(13) {
		t.Errorf("onnx.opset.ai.onnx = %v, want 13", v)
	}
	if got := m.Metadata.String("author"); got != "refit" {
		t.Errorf("metadata author = %q, want refit", got)
	}
}

func TestDecodeFixtures(t *testing.T) {
	for _, name := range []string{"small.onnx", "ext/model.onnx"} {
		t.Run(name, func(t *testing.T) {
			m, err := refit.Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatalf("refit.Open: %v", err)
			}
			defer m.Close()
			if m.Format != "onnx" {
				t.Errorf("Format = %q", m.Format)
			}
			checkFixture(t, m)
			if name == "ext/model.onnx" {
				if _, ok := m.Tensor("W").Data.(*io.SectionReader); !ok {
					t.Errorf("external tensor W data is %T, want a lazy *io.SectionReader", m.Tensor("W").Data)
				}
			} else if _, ok := m.Tensor("W").Data.(*io.SectionReader); !ok {
				t.Errorf("raw_data tensor W data is %T, want a lazy *io.SectionReader", m.Tensor("W").Data)
			}
		})
	}
}

func TestDecodeWithoutFolderRejectsExternal(t *testing.T) {
	b, err := os.ReadFile("testdata/ext/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(bytes.NewReader(b), int64(len(b)), nil)
	if !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Decode(external model without folder) = %v, want ErrUnsupported", err)
	}
}

func TestLoadInlinesExternalData(t *testing.T) {
	mp, err := Load(os.DirFS("testdata"), "ext/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range mp.Graph.Initializer {
		if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.ExternalData) > 0 {
			t.Errorf("initializer %q still external after Load", tp.GetName())
		}
	}
	small, err := Load(os.DirFS("testdata"), "small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	mp.Graph.Name, small.Graph.Name = nil, nil
	if !proto.Equal(mp, small) {
		t.Errorf("Load(ext/model.onnx) differs from small.onnx")
	}
}

func TestSummary(t *testing.T) {
	f, err := OpenFile(os.DirFS("testdata"), "ext/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Summary()
	if s.IRVersion != 8 || s.Producer != "refit-testdata" {
		t.Errorf("IRVersion, Producer = %d, %q", s.IRVersion, s.Producer)
	}
	if len(s.Inputs) != 1 || s.Inputs[0].Type != "tensor(float)" || !slices.Equal(s.Inputs[0].Dims, []string{"batch", "4"}) {
		t.Errorf("Inputs = %+v", s.Inputs)
	}
	if len(s.Outputs) != 1 || s.Outputs[0].Name != "Y" {
		t.Errorf("Outputs = %+v", s.Outputs)
	}
	if !slices.Equal(s.Opsets, []Opset{{"ai.onnx", 13}}) {
		t.Errorf("Opsets = %+v", s.Opsets)
	}
	if len(s.Operators) != 4 || s.Operators[0].Count != 1 {
		t.Errorf("Operators = %+v", s.Operators)
	}
	byName := map[string]Initializer{}
	for _, in := range s.Initializers {
		byName[in.Name] = in
	}
	if w := byName["W"]; w.Bytes != 128 || w.External != "weights.bin" || w.Type != "FLOAT" {
		t.Errorf("W = %+v", w)
	}
	if b := byName["B"]; b.External != "" || b.Bytes != 32 {
		t.Errorf("B = %+v", b)
	}
}

// TestEncodeDeterministic checks that encoding twice gives identical bytes and that
// WithWeights replaces data while keeping the graph.
func TestEncodeDeterministicAndWithWeights(t *testing.T) {
	m, err := refit.Open("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var a, b bytes.Buffer
	if err := Encode(&a, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two encodings differ")
	}
	neg := make([]float32, 32)
	for i := range neg {
		neg[i] = -float32(i)
	}
	nw, _ := tensor.NewF32("W", tensor.Shape{4, 8}, neg)
	m2, err := WithWeights(m, &refit.Model{Tensors: []*tensor.Tensor{nw}})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := Encode(&b, m2, nil); err != nil {
		t.Fatal(err)
	}
	m3, err := Decode(bytes.NewReader(b.Bytes()), int64(b.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := floats(t, m3, "W"); !slices.Equal(got, neg) {
		t.Errorf("W after WithWeights = %v", got)
	}
	if got := floats(t, m3, "B"); got[1] != 0.5 {
		t.Errorf("B changed: %v", got)
	}

	bad, _ := tensor.NewF32("W", tensor.Shape{8, 4}, neg)
	if _, err := WithWeights(m, &refit.Model{Tensors: []*tensor.Tensor{bad}}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("WithWeights(wrong shape) = %v, want ErrUnsupported", err)
	}
	mp, err := Load(os.DirFS("testdata"), "small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if err := ReplaceWeights(mp, &refit.Model{Tensors: []*tensor.Tensor{bad}}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("ReplaceWeights(wrong shape) = %v, want ErrUnsupported", err)
	}
	unknown, _ := tensor.NewF32("nope", tensor.Shape{1}, []float32{1})
	if err := ReplaceWeights(mp, &refit.Model{Tensors: []*tensor.Tensor{unknown}}); err == nil {
		t.Errorf("ReplaceWeights(unknown name) succeeded")
	}
	if err := ReplaceWeights(mp, &refit.Model{Tensors: []*tensor.Tensor{nw}}); err != nil {
		t.Fatal(err)
	}
	got, err := TensorFromProto(mp.Graph.Initializer[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Float32s(); !slices.Equal(v, neg) {
		t.Errorf("ReplaceWeights: W = %v", v)
	}

	// A Model without a graph cannot become ONNX.
	plain := &refit.Model{Format: "safetensors", Tensors: []*tensor.Tensor{nw}}
	if err := Encode(io.Discard, plain, nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Encode(model without graph) = %v, want ErrUnsupported", err)
	}
}

func TestEncodeFileExternalData(t *testing.T) {
	m, err := refit.Open("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	if err := EncodeFile(out, m, &EncodeOptions{ExternalData: true, SizeThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	side, err := os.Stat(out + ".data")
	if err != nil {
		t.Fatalf("side file: %v", err)
	}
	// W (128 B) at 0; H (32 B) at 128; B and S use typed fields and stay inline.
	if side.Size() != 160 {
		t.Errorf("side file is %d bytes, want 160", side.Size())
	}
	if err := EncodeFile(out, m, nil); !errors.Is(err, refit.ErrExists) {
		t.Errorf("EncodeFile over an existing file = %v, want ErrExists", err)
	}
	m2, err := refit.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	checkFixture(t, m2)
	f, err := OpenFile(os.DirFS(dir), "out.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, in := range f.Summary().Initializers {
		if (in.Name == "W" || in.Name == "H") != (in.External == "out.onnx.data") {
			t.Errorf("initializer %s external = %q", in.Name, in.External)
		}
	}
	if err := EncodeFile(filepath.Join(dir, "x.onnx"), m, &EncodeOptions{ExternalData: true, ExternalDataName: "../evil"}); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("ExternalDataName ../evil = %v, want ErrInsecurePath", err)
	}
	if err := Encode(io.Discard, m, &EncodeOptions{ExternalData: true}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Encode to a writer with ExternalData = %v, want ErrUnsupported", err)
	}
}

func TestSniff(t *testing.T) {
	small, err := os.ReadFile("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"small.onnx", small, true},
		{"empty", nil, false},
		{"only ir_version", []byte{0x08, 0x07}, false},
		{"ir_version 0", append([]byte{0x08, 0x00}, small[2:]...), false},
		{"safetensors header", []byte("\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}"), false},
		{"gguf", []byte("GGUF\x03\x00\x00\x00"), false},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), false},
		{"graph longer than file", []byte{0x08, 0x07, 0x3a, 0x7f, 0x00}, false},
		{"unknown field", []byte{0x08, 0x07, 0x48, 0x01, 0x3a, 0x00}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sniff(bytes.NewReader(tc.b), int64(len(tc.b))); got != tc.want {
				t.Errorf("Sniff = %v, want %v", got, tc.want)
			}
		})
	}
}

// modelWith returns a serialized model whose graph holds the given initializer.
func modelWith(t *testing.T, tp *onnxpb.TensorProto) []byte {
	t.Helper()
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: &onnxpb.GraphProto{Name: proto.String("g"), Initializer: []*onnxpb.TensorProto{tp}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func external(loc, offset, length string) []*onnxpb.StringStringEntryProto {
	kv := []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String(loc)}}
	if offset != "" {
		kv = append(kv, &onnxpb.StringStringEntryProto{Key: proto.String("offset"), Value: proto.String(offset)})
	}
	if length != "" {
		kv = append(kv, &onnxpb.StringStringEntryProto{Key: proto.String("length"), Value: proto.String(length)})
	}
	return kv
}

func TestBadInput(t *testing.T) {
	small, err := os.ReadFile("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	f32 := proto.Int32(typeFloat)
	extTensor := func(loc, off, length string) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{4},
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: external(loc, off, length)}
	}
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"garbage", []byte("\xff\xff\xff\xff\xff\xff"), refit.ErrFormat},
		{"truncated", small[:len(small)/2], refit.ErrFormat},
		{"truncated by one", small[:len(small)-1], refit.ErrFormat},
		{"no graph", []byte{0x08, 0x07}, refit.ErrFormat},
		{"escaping path", modelWith(t, extTensor("../x", "", "")), refit.ErrInsecurePath},
		{"escaping inner path", modelWith(t, extTensor("a/../../x", "", "")), refit.ErrInsecurePath},
		{"absolute path", modelWith(t, extTensor("/etc/passwd", "", "")), refit.ErrInsecurePath},
		{"windows drive", modelWith(t, extTensor(`C:\x`, "", "")), refit.ErrInsecurePath},
		{"offset beyond side file", modelWith(t, extTensor("side.bin", "100", "16")), refit.ErrFormat},
		{"length beyond side file", modelWith(t, extTensor("side.bin", "8", "16")), refit.ErrFormat},
		{"length not the tensor size", modelWith(t, extTensor("side.bin", "0", "8")), refit.ErrFormat},
		{"negative offset", modelWith(t, extTensor("side.bin", "-1", "16")), refit.ErrFormat},
		{"missing side file", modelWith(t, extTensor("nope.bin", "", "")), fs.ErrNotExist},
		{"raw data shorter than shape", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{4}, RawData: make([]byte, 12)}), refit.ErrFormat},
		{"float_data shorter than shape", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{1 << 40}, FloatData: []float32{1}}), refit.ErrFormat},
		{"shape overflow", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{1 << 40, 1 << 40}, FloatData: []float32{1}}), refit.ErrFormat},
		{"negative dim", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{-1}}), refit.ErrFormat},
		{"unknown data type", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(99), Dims: []int64{1}}), refit.ErrFormat},
		{"string tensor", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(typeString), Dims: []int64{1}, StringData: [][]byte{[]byte("a")}}), refit.ErrUnsupported},
		{"int4 tensor", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(typeInt4), Dims: []int64{2}, RawData: []byte{0x21}}), refit.ErrUnsupported},
		{"raw and typed data", modelWith(t, &onnxpb.TensorProto{Name: proto.String("w"), DataType: f32, Dims: []int64{1}, RawData: make([]byte, 4), FloatData: []float32{1}}), refit.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m.onnx": {Data: tc.file}, "side.bin": {Data: make([]byte, 16)}}
			m, err := DecodeFS(fsys, "m.onnx", nil)
			if err == nil {
				m.Close()
			}
			t.Log(err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeFS = %v, want %v", err, tc.want)
			}
			if strings.Contains(tc.name, "data") || strings.Contains(tc.name, "path") {
				if !strings.Contains(err.Error(), `"w"`) {
					t.Errorf("error %q does not name the tensor", err)
				}
			}
		})
	}
}

func TestDTypeMapping(t *testing.T) {
	for elem, d := range dtypeTable {
		back, err := ElemType(d)
		if err != nil || back != elem {
			t.Errorf("ElemType(%v) = %d, %v; want %d", d, back, err, elem)
		}
	}
	for _, e := range []int32{typeString, typeFloat8E4M3FNUZ, typeFloat8E5M2FNUZ, typeUint4, typeInt4, typeFloat4E2M1} {
		if _, err := DTypeOf(e); !errors.Is(err, refit.ErrUnsupported) {
			t.Errorf("DTypeOf(%s) = %v, want ErrUnsupported", TypeName(e), err)
		}
	}
	if _, err := ElemType(tensor.Q4_0); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("ElemType(Q4_0) = %v, want ErrUnsupported", err)
	}
}

// TestTypedStorage covers the typed fields: float16 and bool in int32_data,
// uint32 in uint64_data, complex64 in float_data.
func TestTypedStorage(t *testing.T) {
	tests := []struct {
		tp   *onnxpb.TensorProto
		want []byte
	}{
		{&onnxpb.TensorProto{DataType: proto.Int32(typeFloat16), Dims: []int64{2}, Int32Data: []int32{0x3c00, 0xc000}}, []byte{0x00, 0x3c, 0x00, 0xc0}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeBool), Dims: []int64{3}, Int32Data: []int32{1, 0, 1}}, []byte{1, 0, 1}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeUint32), Dims: []int64{1}, Uint64Data: []uint64{0x01020304}}, []byte{4, 3, 2, 1}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeComplex64), Dims: []int64{1}, FloatData: []float32{1, -1}}, []byte{0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeInt8), Dims: []int64{2}, Int32Data: []int32{-1, 5}}, []byte{0xff, 5}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeDouble), Dims: []int64{}, DoubleData: []float64{math.Pi}}, []byte{0x18, 0x2d, 0x44, 0x54, 0xfb, 0x21, 0x09, 0x40}},
		{&onnxpb.TensorProto{DataType: proto.Int32(typeFloat), Dims: []int64{0, 3}}, []byte{}},
	}
	for _, tc := range tests {
		t.Run(TypeName(tc.tp.GetDataType()), func(t *testing.T) {
			tt, err := TensorFromProto(tc.tp, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tensorBytes(t, tt); !bytes.Equal(got, tc.want) {
				t.Errorf("bytes = %x, want %x", got, tc.want)
			}
		})
	}
}

// TestAutoExternalData lowers the one-file limit to check that file outputs switch
// to external data by themselves and writer outputs refuse clearly.
func TestAutoExternalData(t *testing.T) {
	defer func(l int64) { protoLimit = l }(protoLimit)
	protoLimit = 450 // small.onnx is 461 bytes, 412 with W and H external
	m, err := refit.Open("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := Encode(io.Discard, m, nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Encode over the limit = %v, want ErrUnsupported", err)
	}
	mp, err := Load(os.DirFS("testdata"), "small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteModel(io.Discard, mp, nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("WriteModel over the limit = %v, want ErrUnsupported", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "auto.onnx")
	if err := EncodeFile(out, m, &EncodeOptions{SizeThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(out); err != nil || st.Size() > protoLimit {
		t.Fatalf("model file: %v, %v", st, err)
	}
	if _, err := os.Stat(out + ".data"); err != nil {
		t.Fatalf("no side file: %v", err)
	}
	m2, err := refit.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	checkFixture(t, m2)
	if err := WriteModelFile(filepath.Join(dir, "auto2.onnx"), mp, &EncodeOptions{SizeThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	mp2, err := Load(os.DirFS(dir), "auto2.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(mp, mp2) {
		t.Error("WriteModelFile with external data then Load differs from the original")
	}
}

// TestDecodeDoesNotCopyWeights checks the memory claim: decoding a memory-mapped
// model allocates far less than its weights.
func TestDecodeDoesNotCopyWeights(t *testing.T) {
	const n = 32 << 20
	tp := &onnxpb.TensorProto{Name: proto.String("big"), DataType: proto.Int32(typeUint8), Dims: []int64{n}, RawData: make([]byte, n)}
	path := filepath.Join(t.TempDir(), "big.onnx")
	if err := os.WriteFile(path, modelWith(t, tp), 0o644); err != nil {
		t.Fatal(err)
	}
	tp.RawData = nil
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := refit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	defer m.Close()
	if got := after.TotalAlloc - before.TotalAlloc; got > n/8 {
		t.Errorf("decoding a model with %d bytes of weights allocated %d bytes", n, got)
	}
	if got := m.Tensor("big").Size(); got != n {
		t.Errorf("tensor size %d, want %d", got, n)
	}
}
