package gguf

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtures(t testing.TB) []string {
	t.Helper()
	names, err := filepath.Glob("testdata/*.gguf")
	if err != nil || len(names) < 5 {
		t.Fatalf("fixtures: %v %v", names, err)
	}
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return names
}

func parseBytes(b []byte) (*File, error) { return Parse(bytes.NewReader(b), int64(len(b))) }

func encodeModel(t testing.TB, m *refit.Model, opts *EncodeOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m, opts); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// TestFileRoundTrip: every fixture parses and writes back byte for byte.
func TestFileRoundTrip(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			b := readFixture(t, name)
			f, err := parseBytes(b)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", name, err)
			}
			var out bytes.Buffer
			n, err := f.WriteTo(&out)
			if err != nil || n != int64(out.Len()) {
				t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, out.Len())
			}
			if !bytes.Equal(out.Bytes(), b) {
				t.Errorf("WriteTo(Parse(%q)) differs from the file (%d vs %d bytes)", name, out.Len(), len(b))
			}
		})
	}
}

// TestModelRoundTrip: files ggml wrote decode to Models that Encode reproduces exactly,
// since Encode lays out data as ggml does.
func TestModelRoundTrip(t *testing.T) {
	for _, name := range []string{"every_type.gguf", "align64.gguf", "no_tensors.gguf", "empty.gguf"} {
		t.Run(name, func(t *testing.T) {
			b := readFixture(t, name)
			m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("Decode(%q) = %v", name, err)
			}
			if got := encodeModel(t, m, nil); !bytes.Equal(got, b) {
				t.Errorf("Encode(Decode(%q)) differs (%d vs %d bytes)", name, len(got), len(b))
			}
			if n, err := EncodedSize(m, nil); err != nil || n != int64(len(b)) {
				t.Errorf("EncodedSize(Decode(%q)) = %d, %v; want %d", name, n, err, len(b))
			}
		})
	}
}

// TestGGMLManifest checks the ggml-written fixtures against what the script put in them.
func TestGGMLManifest(t *testing.T) {
	var man map[string]manifestFile
	if err := json.Unmarshal(readFixture(t, "ggml_manifest.json"), &man); err != nil {
		t.Fatal(err)
	}
	for name, want := range man {
		t.Run(name, func(t *testing.T) {
			b := readFixture(t, name+".gguf")
			f, err := parseBytes(b)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			checkKVs(t, f.KVs, want.KVs)
			m, err := f.Model()
			if err != nil {
				t.Fatal(err)
			}
			checkTensorsAgainst(t, m, want.Tensors)
		})
	}
}

// checkTensorsAgainst compares a Model's tensors with manifest tensors (ggml order ne, hex data).
func checkTensorsAgainst(t *testing.T, m *refit.Model, want []manifestTensor) {
	t.Helper()
	if len(m.Tensors) != len(want) {
		t.Fatalf("got %d tensors, want %d", len(m.Tensors), len(want))
	}
	for i, w := range want {
		got := m.Tensors[i]
		wantShape := make(tensor.Shape, len(w.Ne))
		for j, d := range w.Ne {
			wantShape[len(w.Ne)-1-j] = d
		}
		if got.Name != w.Name || got.DType != w.Type.DType() || !got.Shape.Equal(wantShape) {
			t.Errorf("tensor %d = %q %v %v, want %q %v %v", i, got.Name, got.DType, got.Shape, w.Name, w.Type.DType(), wantShape)
		}
		data, err := got.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(data) != w.Data {
			t.Errorf("tensor %q data differs", w.Name)
		}
	}
}

func TestNestedFixture(t *testing.T) {
	b := readFixture(t, "nested_v2.gguf")
	f, err := parseBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 2 || f.Alignment != 16 {
		t.Errorf("Version, Alignment = %d, %d; want 2, 16", f.Version, f.Alignment)
	}
	want := []KV{
		{"general.alignment", uint32(16)},
		{"nested", []any{[]uint32{1, 2}, []float32{}, []any{[]string{"x"}}}},
		{"empty_nested", []any{}},
		{"b", true},
	}
	if !reflect.DeepEqual(f.KVs, want) {
		t.Errorf("KVs = %#v\nwant %#v", f.KVs, want)
	}
	m, err := f.Model()
	if err != nil {
		t.Fatal(err)
	}
	shapes := []tensor.Shape{{}, {3, 0}, {4}}
	for i, s := range shapes {
		if !m.Tensors[i].Shape.Equal(s) {
			t.Errorf("tensor %q shape = %v, want %v", m.Tensors[i].Name, m.Tensors[i].Shape, s)
		}
	}
	v, err := m.Tensor("v").Float32s()
	if err != nil || !reflect.DeepEqual(v, []float32{1, -2, 3.5, 0.25}) {
		t.Errorf("v = %v, %v", v, err)
	}
	// Encode keeps the nested metadata and the 0-d tensor; it writes version 3.
	re, err := parseBytes(encodeModel(t, m, nil))
	if err != nil {
		t.Fatal(err)
	}
	if re.Version != 3 || !reflect.DeepEqual(re.KVs, want) || len(re.Tensors[0].Shape) != 0 {
		t.Errorf("re-encoded: version %d, KVs %#v, scalar shape %v", re.Version, re.KVs, re.Tensors[0].Shape)
	}
}

// TestEncodeValues encodes every value representation and checks Decode returns it unchanged.
func TestEncodeValues(t *testing.T) {
	values := []any{
		uint8(200), int8(-3), uint16(60000), int16(-300), uint32(1 << 31), int32(-5),
		float32(math.Inf(-1)), true, false, "", "ünïcode", uint64(math.MaxUint64), int64(math.MinInt64),
		math.Pi, float32(math.Float32frombits(0x7fc00001)),
		[]uint8{}, []int8{-1}, []uint16{1, 2}, []int16{-2}, []uint32{}, []int32{7}, []float32{0.5},
		[]bool{true, false}, []string{"", "a"}, []uint64{1}, []int64{-1}, []float64{},
		[]any{}, []any{[]bool{}, []any{[]int8{1}}},
	}
	var m refit.Model
	for i, v := range values {
		m.Metadata.Set(string(rune('a'+i%26))+string(rune('a'+i/26)), v)
	}
	w, _ := tensor.NewF32("w", tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	m.Tensors = []*tensor.Tensor{w}
	b := encodeModel(t, &m, nil)
	got, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Metadata.Keys(), m.Metadata.Keys()) {
		t.Fatalf("keys = %v, want %v", got.Metadata.Keys(), m.Metadata.Keys())
	}
	for _, k := range m.Metadata.Keys() {
		want, _ := m.Metadata.Get(k)
		v, _ := got.Metadata.Get(k)
		if !reflect.DeepEqual(valueStrings(v), valueStrings(want)) || reflect.TypeOf(v) != reflect.TypeOf(want) {
			t.Errorf("metadata %q = %#v, want %#v", k, v, want)
		}
	}
	if !reflect.DeepEqual(got.Tensors[0].Shape, tensor.Shape{2, 3}) {
		t.Errorf("shape = %v", got.Tensors[0].Shape)
	}
	f, _ := parseBytes(b)
	if !reflect.DeepEqual(f.Tensors[0].Shape, []int64{3, 2}) {
		t.Errorf("ggml shape = %v, want [3 2]", f.Tensors[0].Shape)
	}
}

func TestEncodeAlignment(t *testing.T) {
	a, _ := tensor.NewF32("a", tensor.Shape{3}, []float32{1, 2, 3})
	bt, _ := tensor.NewF32("b", tensor.Shape{1}, []float32{4})
	tests := []struct {
		name     string
		meta     any // general.alignment in metadata, nil for none
		opt      uint32
		want     int64
		wantMeta any
	}{
		{"default", nil, 0, 32, nil},
		{"option", nil, 128, 128, uint32(128)},
		{"metadata", uint32(64), 0, 64, uint32(64)},
		{"option wins", uint32(64), 8, 8, uint32(8)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &refit.Model{Tensors: []*tensor.Tensor{a, bt}}
			m.Metadata.Set("general.name", "x")
			if tc.meta != nil {
				m.Metadata.Set(AlignmentKey, tc.meta)
			}
			b := encodeModel(t, m, &EncodeOptions{Alignment: tc.opt})
			if n, err := EncodedSize(m, &EncodeOptions{Alignment: tc.opt}); err != nil || n != int64(len(b)) {
				t.Errorf("EncodedSize = %d, %v; Encode wrote %d bytes", n, err, len(b))
			}
			f, err := parseBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := f.Get(AlignmentKey)
			if f.Alignment != tc.want || !reflect.DeepEqual(got, tc.wantMeta) {
				t.Errorf("alignment = %d (metadata %v), want %d (%v)", f.Alignment, got, tc.want, tc.wantMeta)
			}
			bOff := alignUp(12, tc.want)
			if f.DataOffset%tc.want != 0 || f.Tensors[1].Offset != uint64(bOff) || int64(len(b)) != f.DataOffset+bOff+alignUp(4, tc.want) {
				t.Errorf("layout: data at %d, b at %d, size %d", f.DataOffset, f.Tensors[1].Offset, len(b))
			}
			if m.Metadata.Len() != map[bool]int{true: 2, false: 1}[tc.meta != nil] {
				t.Error("Encode modified its input's metadata")
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	u8, _ := tensor.FromBytes("u8", tensor.U8, tensor.Shape{2}, []byte{1, 2})
	f32, _ := tensor.NewF32("ok", tensor.Shape{1}, []float32{1})
	five, _ := tensor.FromBytes("five", tensor.F32, tensor.Shape{1, 1, 1, 1, 1}, make([]byte, 4))
	long, _ := tensor.NewF32(string(bytes.Repeat([]byte("n"), 64)), tensor.Shape{1}, []float32{1})
	dup, _ := tensor.NewF32("ok", tensor.Shape{1}, []float32{2})
	tests := []struct {
		name        string
		meta        map[string]any
		tensors     []*tensor.Tensor
		opts        *EncodeOptions
		unsupported bool
	}{
		{"int metadata", map[string]any{"k": 5}, nil, nil, false},
		{"scalar in array of arrays", map[string]any{"k": []any{int32(1)}}, nil, nil, false},
		{"alignment not u32", map[string]any{AlignmentKey: int32(32)}, nil, nil, false},
		{"alignment not power of two", nil, nil, &EncodeOptions{Alignment: 24}, false},
		{"u8 tensor", nil, []*tensor.Tensor{u8}, nil, true},
		{"five dims", nil, []*tensor.Tensor{five}, nil, true},
		{"long name", nil, []*tensor.Tensor{long}, nil, true},
		{"duplicate tensor", nil, []*tensor.Tensor{f32, dup}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &refit.Model{Tensors: tc.tensors}
			for k, v := range tc.meta {
				m.Metadata.Set(k, v)
			}
			err := Encode(io.Discard, m, tc.opts)
			if err == nil {
				t.Fatal("Encode succeeded")
			}
			if errors.Is(err, refit.ErrUnsupported) != tc.unsupported {
				t.Errorf("Encode = %v; ErrUnsupported wanted: %v", err, tc.unsupported)
			}
		})
	}
	deep := any([]uint8{1})
	for range MaxNesting {
		deep = []any{deep}
	}
	m := &refit.Model{}
	m.Metadata.Set("deep", deep)
	if err := Encode(io.Discard, m, nil); err == nil {
		t.Errorf("Encode of arrays nested %d deep succeeded", MaxNesting+1)
	}
}

// TestTypeTable checks that the ggml ids and tensor.DType map one to one.
func TestTypeTable(t *testing.T) {
	for id, info := range ggmlTypes {
		if info.dtype == tensor.Invalid {
			if info.blockSize <= 0 || info.typeSize <= 0 {
				t.Errorf("ggml type %d (%s) without a dtype has no size", id, info.name)
			}
			continue
		}
		if got, ok := TypeFor(info.dtype); !ok || got != id {
			t.Errorf("TypeFor(%v) = %d, %v; want %d", info.dtype, got, ok, id)
		}
	}
	for _, d := range tensor.DTypes() {
		if d.Quantized() {
			if _, ok := TypeFor(d); !ok {
				t.Errorf("block type %v has no ggml id", d)
			}
		}
	}
}

func TestRegistered(t *testing.T) {
	f, err := refit.Lookup(".gguf")
	if err != nil || f.Name != "gguf" {
		t.Fatalf("Lookup(.gguf) = %v, %v", f, err)
	}
	b := readFixture(t, "every_type.gguf")
	if !f.Sniff(bytes.NewReader(b), int64(len(b))) || f.Sniff(bytes.NewReader(b[:3]), 3) {
		t.Error("Sniff wrong")
	}
	m, err := refit.Open(filepath.Join("testdata", "every_type.gguf"))
	if err != nil {
		t.Fatalf("refit.Open = %v", err)
	}
	defer m.Close()
	if m.Format != "gguf" || len(m.Tensors) != 8 {
		t.Errorf("refit.Open: format %q, %d tensors", m.Format, len(m.Tensors))
	}
	if v, err := m.Tensor("f32").Float32s(); err != nil || len(v) != 6 {
		t.Errorf("reading a mapped tensor: %v, %v", v, err)
	}
}

// header builds a GGUF header with the given raw KV and tensor-info bytes.
func header(version uint32, nTensors, nKV uint64, body ...[]byte) []byte {
	b := []byte("GGUF")
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, nTensors)
	b = binary.LittleEndian.AppendUint64(b, nKV)
	for _, x := range body {
		b = append(b, x...)
	}
	return b
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func str(s string) []byte { return append(u64(uint64(len(s))), s...) }
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// tinfo encodes a tensor info.
func tinfo(name string, typ uint32, offset uint64, dims ...uint64) []byte {
	b := cat(str(name), u32(uint32(len(dims))))
	for _, d := range dims {
		b = append(b, u64(d)...)
	}
	return cat(b, u32(typ), u64(offset))
}

func TestBadInput(t *testing.T) {
	pad := make([]byte, 64)
	tests := []struct {
		name        string
		b           []byte
		eof         bool // truncation-like: wraps io.ErrUnexpectedEOF
		unsupported bool
	}{
		{"empty", nil, true, false},
		{"bad magic", []byte("GGUG\x03\x00\x00\x00"), false, false},
		{"version 1", header(1, 0, 0), false, true},
		{"version 4", header(4, 0, 0), false, true},
		{"version 0", header(0, 0, 0), false, false},
		{"big endian", []byte("GGUF\x00\x00\x00\x03" + string(make([]byte, 16))), false, true},
		{"huge tensor count", header(3, 1<<62, 0), true, false},
		{"huge kv count", header(3, 0, math.MaxUint64), true, false},
		{"huge key length", header(3, 0, 1, u64(1<<60)), true, false},
		{"huge string", header(3, 0, 1, str("k"), u32(8), u64(math.MaxUint64)), true, false},
		{"huge array", header(3, 0, 1, str("k"), u32(9), u32(4), u64(1<<61)), true, false},
		{"huge string array", header(3, 0, 1, str("k"), u32(9), u32(8), u64(1<<40)), true, false},
		{"bad value type", header(3, 0, 1, str("k"), u32(13), u32(0)), false, false},
		{"bad array type", header(3, 0, 1, str("k"), u32(9), u32(99), u64(0)), false, false},
		{"bad bool", header(3, 0, 1, str("k"), u32(7), []byte{2}), false, false},
		{"duplicate key", header(3, 0, 2, str("k"), u32(0), []byte{1}, str("k"), u32(0), []byte{1}), false, false},
		{"alignment type", header(3, 0, 1, str(AlignmentKey), u32(5), u32(32)), false, false},
		{"alignment zero", header(3, 0, 1, str(AlignmentKey), u32(4), u32(0)), false, false},
		{"alignment 48", header(3, 0, 1, str(AlignmentKey), u32(4), u32(48)), false, false},
		{"five dims", header(3, 1, 0, tinfo("t", 0, 0, 1, 1, 1, 1, 1), pad), false, false},
		{"negative dim", header(3, 1, 0, tinfo("t", 0, 0, 1<<63), pad), false, false},
		{"overflowing dims", header(3, 1, 0, tinfo("t", 0, 0, 1<<40, 1<<40), pad), false, false},
		{"bad ggml type", header(3, 1, 0, tinfo("t", 4, 0, 4), pad), false, false},
		{"block size", header(3, 1, 0, tinfo("t", 8, 0, 16), pad), false, false},
		{"empty name", header(3, 1, 0, tinfo("", 0, 0, 1), pad), false, false},
		{"duplicate name", header(3, 2, 0, tinfo("t", 0, 0, 1), tinfo("t", 0, 32, 1), pad), false, false},
		{"misaligned", header(3, 1, 0, tinfo("t", 0, 4, 1), pad), false, false},
		{"overlap", header(3, 2, 0, tinfo("a", 0, 0, 16), tinfo("b", 0, 32, 16), pad, pad), false, false},
		{"past end", header(3, 1, 0, tinfo("t", 0, 0, 1024), pad), true, false},
		{"offset past end", header(3, 1, 0, tinfo("t", 0, 1<<62, 1), pad), true, false},
	}
	deep := cat(str("k"), u32(9))
	for range MaxNesting + 1 {
		deep = cat(deep, u32(9), u64(1))
	}
	tests = append(tests, struct {
		name        string
		b           []byte
		eof         bool
		unsupported bool
	}{"nesting", header(3, 0, 1, deep, u32(0), u64(0)), false, false})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(bytes.NewReader(tc.b), int64(len(tc.b)), nil)
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if tc.unsupported {
				if !errors.Is(err, refit.ErrUnsupported) {
					t.Errorf("Decode = %v, want ErrUnsupported", err)
				}
				return
			}
			if !errors.Is(err, refit.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) != tc.eof {
				t.Errorf("Decode = %v; want ErrFormat, ErrUnexpectedEOF %v", err, tc.eof)
			}
		})
	}
}

// TestTruncation cuts each fixture at every length: a cut before the end of the last
// tensor's data is io.ErrUnexpectedEOF; a cut in the final padding is still valid.
func TestTruncation(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			b := readFixture(t, name)
			f, err := parseBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			end := headerEnd(t, f)
			for _, ti := range f.Tensors {
				size, _ := ti.Size()
				end = max(end, f.DataOffset+int64(ti.Offset)+size)
			}
			for n := range len(b) {
				_, err := Decode(bytes.NewReader(b[:n]), int64(n), nil)
				if int64(n) < end {
					if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, refit.ErrFormat) {
						t.Fatalf("Decode(first %d of %d bytes) = %v, want ErrUnexpectedEOF", n, len(b), err)
					}
				} else if err != nil {
					t.Fatalf("Decode(first %d bytes, tensors end at %d) = %v", n, end, err)
				}
			}
		})
	}
}

// headerEnd is the length of f's header before padding.
func headerEnd(t *testing.T, f *File) int64 {
	h, err := appendHeader(nil, f.Version, f.KVs, f.Tensors)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(h))
}

func TestWriteToEdited(t *testing.T) {
	b := readFixture(t, "align64.gguf")
	f, err := parseBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	f.KVs = append(f.KVs, KV{"general.note", "added after the fact, long enough to change the header size past a pad boundary ....................................."})
	var out bytes.Buffer
	if _, err := f.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	m1, _ := Decode(bytes.NewReader(b), int64(len(b)), nil)
	m2, err := Decode(bytes.NewReader(out.Bytes()), int64(out.Len()), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m1.Tensors {
		x, _ := m1.Tensors[i].Bytes()
		y, _ := m2.Tensors[i].Bytes()
		if !bytes.Equal(x, y) {
			t.Errorf("tensor %q changed", m1.Tensors[i].Name)
		}
	}
	if m2.Metadata.String("general.note") == "" {
		t.Error("added KV missing")
	}
	// Changing the alignment so existing offsets no longer fit is refused.
	f.KVs[1].Value = uint32(128)
	if _, err := f.WriteTo(io.Discard); err == nil {
		t.Error("WriteTo with offsets misaligned for the new alignment succeeded")
	}
}

func BenchmarkParse(b *testing.B) {
	// A header like a small LLM's: a 32k-entry vocabulary and 200 tensor infos.
	var m refit.Model
	vocab := make([]string, 32000)
	scores := make([]float32, len(vocab))
	for i := range vocab {
		vocab[i] = "tok" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("tokenizer.ggml.tokens", vocab)
	m.Metadata.Set("tokenizer.ggml.scores", scores)
	for i := range 200 {
		w, _ := tensor.NewF32("blk."+string(rune('a'+i%26))+string(rune('a'+i/26))+".weight", tensor.Shape{4}, make([]float32, 4))
		m.Tensors = append(m.Tensors, w)
	}
	data := encodeModel(b, &m, nil)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := parseBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
