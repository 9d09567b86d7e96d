package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// manifestFile is what testdata/gen/safetensors.py records about each fixture.
type manifestFile struct {
	Metadata map[string]string `json:"metadata"`
	SHA256   string            `json:"sha256"`
	Tensors  map[string]struct {
		DType  string   `json:"dtype"`
		Shape  []int64  `json:"shape"`
		SHA256 string   `json:"sha256"`
		Values []string `json:"values"`
	} `json:"tensors"`
}

func readManifest(t *testing.T) (map[string]manifestFile, []string, int64) {
	t.Helper()
	b, err := os.ReadFile("testdata/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var sharded struct {
		Order []string `json:"order"`
		Max   int64    `json:"max_shard_bytes"`
	}
	out := map[string]manifestFile{}
	for k, v := range raw {
		if k == "sharded" {
			if err := json.Unmarshal(v, &sharded); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var mf manifestFile
		if err := json.Unmarshal(v, &mf); err != nil {
			t.Fatal(err)
		}
		out[k] = mf
	}
	return out, sharded.Order, sharded.Max
}

func decodeBytes(t testing.TB, b []byte) *refit.Model {
	t.Helper()
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func encodeBytes(t testing.TB, m *refit.Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// checkValues compares a tensor's values, decoded by Refit, with values printed by numpy.
func checkValues(t *tensor.Tensor, want []string) error {
	raw, err := t.Bytes()
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	var got []float64 // for float types
	var gotInts []string
	switch t.DType {
	case tensor.Bool, tensor.U8:
		for _, b := range raw {
			gotInts = append(gotInts, strconv.Itoa(int(b)))
		}
	case tensor.I8:
		for _, b := range raw {
			gotInts = append(gotInts, strconv.Itoa(int(int8(b))))
		}
	case tensor.I16:
		for i := 0; i < len(raw); i += 2 {
			gotInts = append(gotInts, strconv.Itoa(int(int16(le.Uint16(raw[i:])))))
		}
	case tensor.U16:
		for i := 0; i < len(raw); i += 2 {
			gotInts = append(gotInts, strconv.Itoa(int(le.Uint16(raw[i:]))))
		}
	case tensor.I32:
		for i := 0; i < len(raw); i += 4 {
			gotInts = append(gotInts, strconv.Itoa(int(int32(le.Uint32(raw[i:])))))
		}
	case tensor.U32:
		for i := 0; i < len(raw); i += 4 {
			gotInts = append(gotInts, strconv.FormatUint(uint64(le.Uint32(raw[i:])), 10))
		}
	case tensor.I64:
		for i := 0; i < len(raw); i += 8 {
			gotInts = append(gotInts, strconv.FormatInt(int64(le.Uint64(raw[i:])), 10))
		}
	case tensor.U64:
		for i := 0; i < len(raw); i += 8 {
			gotInts = append(gotInts, strconv.FormatUint(le.Uint64(raw[i:]), 10))
		}
	case tensor.F64:
		for i := 0; i < len(raw); i += 8 {
			got = append(got, math.Float64frombits(le.Uint64(raw[i:])))
		}
	case tensor.C64:
		for i := 0; i < len(raw); i += 4 {
			got = append(got, float64(math.Float32frombits(le.Uint32(raw[i:]))))
		}
	default:
		f, err := t.Float32s()
		if err != nil {
			return err
		}
		for _, v := range f {
			got = append(got, float64(v))
		}
	}
	if gotInts != nil || got == nil {
		if !slices.Equal(gotInts, want) && !(len(gotInts) == 0 && len(want) == 0) {
			return fmt.Errorf("values %v, want %v", gotInts, want)
		}
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i, g := range got {
		w, err := strconv.ParseFloat(want[i], 64)
		if err != nil {
			return err
		}
		if !(g == w || math.IsNaN(g) && math.IsNaN(w)) || math.Signbit(g) != math.Signbit(w) && !math.IsNaN(g) {
			return fmt.Errorf("value %d = %v, want %v", i, g, w)
		}
	}
	return nil
}

func checkAgainst(t *testing.T, m *refit.Model, mf manifestFile) {
	t.Helper()
	if len(m.Tensors) != len(mf.Tensors) {
		t.Errorf("%d tensors, want %d", len(m.Tensors), len(mf.Tensors))
	}
	for _, tt := range m.Tensors {
		w, ok := mf.Tensors[tt.Name]
		if !ok {
			t.Errorf("unexpected tensor %q", tt.Name)
			continue
		}
		if tt.DType.String() != w.DType || !tt.Shape.Equal(w.Shape) {
			t.Errorf("%q: %v %v, want %s %v", tt.Name, tt.DType, tt.Shape, w.DType, w.Shape)
		}
		raw, err := tt.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if sum(raw) != w.SHA256 {
			t.Errorf("%q: sha256 %s, want %s", tt.Name, sum(raw), w.SHA256)
		}
		if err := checkValues(tt, w.Values); err != nil {
			t.Errorf("%q: %v", tt.Name, err)
		}
	}
	for k, v := range mf.Metadata {
		if got := m.Metadata.String(k); got != v {
			t.Errorf("metadata %q = %q, want %q", k, got, v)
		}
	}
	if m.Metadata.Len() != len(mf.Metadata) {
		t.Errorf("metadata has %d keys, want %d", m.Metadata.Len(), len(mf.Metadata))
	}
	if !slices.IsSorted(m.Metadata.Keys()) {
		t.Errorf("metadata keys %v not sorted", m.Metadata.Keys())
	}
}

// TestFixtures reads every file the reference writer made, checks each tensor against
// numpy's values, and re-encodes it byte for byte.
func TestFixtures(t *testing.T) {
	manifest, _, _ := readManifest(t)
	for name, mf := range manifest {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			if sum(b) != mf.SHA256 {
				t.Fatalf("fixture changed: sha256 %s, manifest %s (rerun testdata/gen/safetensors.py)", sum(b), mf.SHA256)
			}
			m := decodeBytes(t, b)
			checkAgainst(t, m, mf)
			if out := encodeBytes(t, m); !bytes.Equal(out, b) {
				t.Errorf("Encode(Decode(%s)) differs from the reference writer:\n got %q\nwant %q", name, out, b)
			}
		})
	}
}

func mustF32(t testing.TB, name string, s tensor.Shape, v ...float32) *tensor.Tensor {
	t.Helper()
	tt, err := tensor.NewF32(name, s, v)
	if err != nil {
		t.Fatal(err)
	}
	return tt
}

// TestReferenceVectors checks Encode against the byte arrays in the Rust crate's tests.
func TestReferenceVectors(t *testing.T) {
	var withMeta refit.Model
	withMeta.Metadata.Set("framework", "pt")
	tests := []struct {
		name string
		m    *refit.Model
		want []byte
	}{
		{"attn.0", &refit.Model{Tensors: []*tensor.Tensor{mustF32(t, "attn.0", tensor.Shape{1, 2, 3}, 0, 1, 2, 3, 4, 5)}},
			[]byte{64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
				116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
				58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
				101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
				0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}},
		{"empty", &refit.Model{}, []byte{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}},
		{"empty with metadata", &withMeta, []byte{40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
			95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
			116, 34, 125, 125, 32, 32, 32, 32, 32}},
		{"forced alignment", &refit.Model{Tensors: []*tensor.Tensor{mustF32(t, "attn0", tensor.Shape{1, 1, 2, 3}, 0, 1, 2, 3, 4, 5)}},
			[]byte{72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
				121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
				91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
				115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
				32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
				160, 64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeBytes(t, tt.m)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Encode = %q, want %q", got, tt.want)
			}
			n, err := EncodedSize(tt.m, nil)
			if err != nil || n != int64(len(tt.want)) {
				t.Errorf("EncodedSize = %d, %v; want %d", n, err, len(tt.want))
			}
		})
	}
}

// patterned returns n bytes of a fixed pseudo-random pattern.
func patterned(n int64, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func TestRoundTripEveryDType(t *testing.T) {
	shapes := []tensor.Shape{{}, {0}, {3}, {2, 3}, {2, 0, 4}, {1, 2, 3, 1}}
	for _, e := range dtypeTable {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%s%v", e.name, s), func(t *testing.T) {
				size, err := tensor.ByteSize(e.d, s)
				if err != nil {
					t.Fatal(err)
				}
				raw := patterned(size, byte(e.rank))
				if e.d == tensor.Bool {
					for i := range raw {
						raw[i] &= 1
					}
				}
				x, err := tensor.FromBytes("x", e.d, s, raw)
				if err != nil {
					t.Fatal(err)
				}
				other := mustF32(t, "a.other", tensor.Shape{1}, 1)
				m := &refit.Model{Tensors: []*tensor.Tensor{x, other}}
				m.Metadata.Set("dtype", e.name)
				b := encodeBytes(t, m)
				got := decodeBytes(t, b)
				gx := got.Tensor("x")
				if gx == nil || gx.DType != e.d || !gx.Shape.Equal(s) {
					t.Fatalf("Decode(Encode) tensor x = %+v, want %v %v", gx, e.d, s)
				}
				gb, err := gx.Bytes()
				if err != nil || !bytes.Equal(gb, raw) {
					t.Fatalf("Decode(Encode) bytes = %x, %v; want %x", gb, err, raw)
				}
				if got.Metadata.String("dtype") != e.name {
					t.Errorf("metadata = %v", got.Metadata.Keys())
				}
				// The output order puts wider types first so every tensor is aligned.
				h, err := ReadHeader(bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Fatal(err)
				}
				for _, ti := range h.Tensors {
					if (h.DataOffset+ti.Begin)%int64(ti.DType.TypeSize()) != 0 && ti.DType != tensor.C64 {
						t.Errorf("tensor %q at %d is not aligned to %d", ti.Name, h.DataOffset+ti.Begin, ti.DType.TypeSize())
					}
				}
			})
		}
	}
}

func TestEncodeOrderAndMetadata(t *testing.T) {
	b16, _ := tensor.FromBytes("b", tensor.F16, tensor.Shape{1}, []byte{0, 0x3c})
	u8, _ := tensor.FromBytes("a", tensor.U8, tensor.Shape{1}, []byte{9})
	i64, _ := tensor.FromBytes("z", tensor.I64, tensor.Shape{1}, make([]byte, 8))
	m := &refit.Model{Tensors: []*tensor.Tensor{u8, b16, mustF32(t, "c", tensor.Shape{1}, 2), i64}}
	m.Metadata.Set("z.int", int64(-3))
	m.Metadata.Set("a.float", float32(0.1))
	m.Metadata.Set("m.list", []string{"x"})
	m.Metadata.Set("b.bool", true)
	m.Metadata.Set("c.str", "q\"\x01")
	b := encodeBytes(t, m)
	want := `{"__metadata__":{"a.float":"0.1","b.bool":"true","c.str":"q\"\u0001","z.int":"-3"},` +
		`"z":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},` +
		`"b":{"dtype":"F16","shape":[1],"data_offsets":[12,14]},"a":{"dtype":"U8","shape":[1],"data_offsets":[14,15]}}`
	n := binary.LittleEndian.Uint64(b)
	if got := strings.TrimRight(string(b[8:8+n]), " "); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, m, &EncodeOptions{StringMetadataOnly: true}); err != nil {
		t.Fatal(err)
	}
	got := decodeBytes(t, buf.Bytes())
	if keys := got.Metadata.Keys(); !slices.Equal(keys, []string{"c.str"}) {
		t.Errorf("StringMetadataOnly kept %v", keys)
	}
}

func TestEncodeErrors(t *testing.T) {
	q, err := tensor.FromBytes("q", tensor.Q8_0, tensor.Shape{32}, make([]byte, 34))
	if err != nil {
		t.Fatal(err)
	}
	c128, _ := tensor.FromBytes("c", tensor.C128, tensor.Shape{1}, make([]byte, 16))
	ok := mustF32(t, "ok", tensor.Shape{1}, 1)
	short := &tensor.Tensor{Name: "short", DType: tensor.F32, Shape: tensor.Shape{2}, Data: bytes.NewReader(make([]byte, 4))}
	tests := []struct {
		name        string
		tensors     []*tensor.Tensor
		unsupported bool
	}{
		{"quantized", []*tensor.Tensor{ok, q}, true},
		{"complex128", []*tensor.Tensor{c128}, true},
		{"duplicate name", []*tensor.Tensor{ok, ok}, false},
		{"reserved name", []*tensor.Tensor{mustF32(t, metadataKey, tensor.Shape{1}, 1)}, false},
		{"empty name", []*tensor.Tensor{mustF32(t, "", tensor.Shape{1}, 1)}, false},
		{"invalid UTF-8 name", []*tensor.Tensor{mustF32(t, "a\xff", tensor.Shape{1}, 1)}, false},
		{"size mismatch", []*tensor.Tensor{short}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Encode(&buf, &refit.Model{Tensors: tt.tensors}, nil)
			if err == nil {
				t.Fatal("Encode succeeded")
			}
			if errors.Is(err, refit.ErrUnsupported) != tt.unsupported {
				t.Errorf("Encode = %v; errors.Is(ErrUnsupported) want %v", err, tt.unsupported)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
			if tt.name == "quantized" && !strings.Contains(err.Error(), `"q"`) {
				t.Errorf("error %v does not name the tensor", err)
			}
		})
	}
}

// file assembles a safetensors file from a header and a buffer.
func file(header string, buf []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), buf...)
}

// hugeFile claims a size far beyond what it holds; reading the claimed region fails.
type hugeFile struct{ head []byte }

func (h hugeFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(h.head)) {
		return 0, io.EOF
	}
	n := copy(p, h.head[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestDecodeErrors(t *testing.T) {
	f32 := func(name string, b, e int) string {
		return fmt.Sprintf(`"%s":{"dtype":"F32","shape":[%d],"data_offsets":[%d,%d]}`, name, (e-b)/4, b, e)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty file", nil},
		{"short file", []byte{1, 2, 3}},
		{"header length beyond file", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...)},
		{"header length overflows", binary.LittleEndian.AppendUint64(nil, math.MaxUint64)},
		{"header over cap", append(binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), "{}"...)},
		{"bad JSON", file(`{"a":`, nil)},
		{"not an object", file(`[]`, nil)},
		{"trailing data", file(`{} {}`, nil)},
		{"trailing garbage", file(`{}x`, nil)},
		{"invalid UTF-8", file("{\"\xff\":{}}", nil)},
		{"duplicate tensor", file("{"+f32("a", 0, 4)+","+f32("a", 4, 8)+"}", make([]byte, 8))},
		{"duplicate field", file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"duplicate metadata", file(`{"__metadata__":{"k":"1","k":"2"}}`, nil)},
		{"duplicate __metadata__", file(`{"__metadata__":{},"__metadata__":{}}`, nil)},
		{"metadata not string", file(`{"__metadata__":{"k":1}}`, nil)},
		{"metadata not object", file(`{"__metadata__":"x"}`, nil)},
		{"unknown dtype", file(`{"a":{"dtype":"X99","shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"dtype not string", file(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"unknown field", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4))},
		{"missing field", file(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4))},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"exponent dim", file(`{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"overflowing shape", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"overflowing bytes", file(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, make([]byte, 8))},
		{"dim beyond int64", file(`{"a":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,1]}}`, make([]byte, 1))},
		{"rank over cap", file(`{"a":{"dtype":"U8","shape":[`+strings.Repeat("1,", tensor.MaxDims)+`1],"data_offsets":[0,1]}}`, make([]byte, 1))},
		{"three offsets", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 4))},
		{"one offset", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, make([]byte, 4))},
		{"offsets reversed", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, make([]byte, 4))},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4))},
		{"offsets gap", file("{"+f32("a", 0, 4)+","+f32("b", 8, 12)+"}", make([]byte, 12))},
		{"offsets overlap", file("{"+f32("a", 0, 8)+","+f32("b", 4, 12)+"}", make([]byte, 12))},
		{"offsets not from zero", file("{"+f32("a", 4, 8)+"}", make([]byte, 8))},
		{"buffer longer than tensors", file("{"+f32("a", 0, 4)+"}", make([]byte, 5))},
		{"buffer shorter than tensors", file("{"+f32("a", 0, 8)+"}", make([]byte, 4))},
		{"empty name", file(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1))},
		{"deep nesting", file(`{"a":{"dtype":[[[[]]]]}}`, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(bytes.NewReader(tt.data), int64(len(tt.data)), nil)
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("Decode = %v, %v; want an error wrapping refit.ErrFormat", m, err)
			}
		})
	}
	t.Run("huge claimed size", func(t *testing.T) {
		// A 100 GB "file" whose header claims 100 MB + 1: rejected before allocating.
		h := hugeFile{binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)}
		if _, err := Decode(h, 100<<30, nil); !errors.Is(err, refit.ErrFormat) {
			t.Fatalf("Decode = %v, want ErrFormat", err)
		}
		h = hugeFile{append(binary.LittleEndian.AppendUint64(nil, 16), "{}"...)}
		if _, err := Decode(h, 100<<30, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Decode(truncated) = %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("newer dtype unsupported", func(t *testing.T) {
		b := file(`{"a":{"dtype":"F8_E8M0","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1))
		if _, err := Decode(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, refit.ErrUnsupported) {
			t.Fatalf("Decode = %v, want ErrUnsupported", err)
		}
	})
}

// TestDecodeAccepts covers valid variants other writers produce.
func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		names []string
	}{
		{"entries in any order", file(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"data_offsets":[0,1],"shape":[1],"dtype":"U8"}}`, []byte{1, 2}), []string{"a", "b"}},
		{"null metadata", file(`{"__metadata__":null}`, nil), nil},
		{"whitespace padding", file(" \n{ } \t  ", nil), nil},
		{"zero-size tensors share an offset", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), []string{"a", "b"}},
		{"metadata after tensors", file(`{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"__metadata__":{"k":"v"}}`, []byte{7}), []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := decodeBytes(t, tt.data)
			var names []string
			for _, x := range m.Tensors {
				names = append(names, x.Name)
			}
			if !slices.Equal(names, tt.names) {
				t.Errorf("tensors %v, want %v", names, tt.names)
			}
		})
	}
}

func TestSniff(t *testing.T) {
	attn, _ := os.ReadFile("testdata/attn.safetensors")
	index, _ := os.ReadFile("testdata/sharded/model.safetensors.index.json")
	tests := []struct {
		name string
		data []byte
		want bool
	}{
		{"file", attn, true},
		{"index", index, true},
		{"empty", nil, false},
		{"json", []byte(`{"weights": []}`), false},
		{"zip", []byte("PK\x03\x04 some more bytes"), false},
		{"huge length", append(binary.LittleEndian.AppendUint64(nil, 1<<40), "{}"...), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sniff(bytes.NewReader(tt.data), int64(len(tt.data))); got != tt.want {
				t.Errorf("Sniff = %v, want %v", got, tt.want)
			}
		})
	}
}

func namesOf(m *refit.Model) []string {
	var out []string
	for _, t := range m.Tensors {
		out = append(out, t.Name)
	}
	return out
}

func TestDecodeFSSharded(t *testing.T) {
	manifest, order, _ := readManifest(t)
	fsys := refit.DirFS("testdata/sharded")
	for _, name := range []string{".", DefaultIndex} {
		t.Run(name, func(t *testing.T) {
			m, err := DecodeFS(fsys, name, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			got := namesOf(m)
			want := slices.Clone(order)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("tensors %v, want %v", got, want)
			}
			for file, mf := range manifest {
				shard, ok := strings.CutPrefix(file, "sharded/")
				if !ok {
					continue
				}
				for tn, w := range mf.Tensors {
					tt := m.Tensor(tn)
					raw, err := tt.Bytes()
					if err != nil || sum(raw) != w.SHA256 {
						t.Errorf("%s (from %s): sha256 %s, %v; want %s", tn, shard, sum(raw), err, w.SHA256)
					}
				}
			}
			if m.Metadata.String("format") != "pt" {
				t.Errorf("metadata %v", m.Metadata.Keys())
			}
		})
	}
}

func TestOpen(t *testing.T) {
	for _, name := range []string{"testdata/attn.safetensors", "testdata/sharded/" + DefaultIndex, "testdata/sharded"} {
		t.Run(name, func(t *testing.T) {
			m, err := refit.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if m.Format != "safetensors" || len(m.Tensors) == 0 {
				t.Errorf("Open(%q) = format %q, %d tensors", name, m.Format, len(m.Tensors))
			}
		})
	}
}

func TestDecodeFSErrors(t *testing.T) {
	shard := file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1})
	index := func(wm string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(`{"metadata":{"total_size":1},"weight_map":{` + wm + `}}`)}
	}
	tests := []struct {
		name     string
		fsys     fstest.MapFS
		open     string
		insecure bool
	}{
		{"parent shard path", fstest.MapFS{"m/" + DefaultIndex: index(`"a":"../s.safetensors"`), "s.safetensors": {Data: shard}}, "m/" + DefaultIndex, true},
		{"absolute shard path", fstest.MapFS{DefaultIndex: index(`"a":"/etc/s.safetensors"`)}, ".", true},
		{"backslash shard path", fstest.MapFS{DefaultIndex: index(`"a":"..\\s.safetensors"`)}, ".", true},
		{"empty shard path", fstest.MapFS{DefaultIndex: index(`"a":""`)}, ".", true},
		{"missing shard", fstest.MapFS{DefaultIndex: index(`"a":"s.safetensors"`)}, ".", false},
		{"tensor missing from shard", fstest.MapFS{DefaultIndex: index(`"a":"s.safetensors","b":"s.safetensors"`), "s.safetensors": {Data: shard}}, ".", false},
		{"duplicate weight_map entry", fstest.MapFS{DefaultIndex: index(`"a":"s.safetensors","a":"s.safetensors"`), "s.safetensors": {Data: shard}}, ".", false},
		{"no weight_map", fstest.MapFS{DefaultIndex: {Data: []byte(`{"metadata":{}}`)}}, DefaultIndex, false},
		{"bad index JSON", fstest.MapFS{DefaultIndex: {Data: []byte(`{"weight_map":`)}}, DefaultIndex, false},
		{"bad shard", fstest.MapFS{DefaultIndex: index(`"a":"s.safetensors"`), "s.safetensors": {Data: []byte("junk")}}, ".", false},
		{"several indexes", fstest.MapFS{"a" + IndexSuffix: index(``), "b" + IndexSuffix: index(``)}, ".", false},
		{"empty folder", fstest.MapFS{"x.txt": {}}, ".", false},
		{"tensor in two shards", fstest.MapFS{"1.safetensors": {Data: shard}, "2.safetensors": {Data: shard}}, ".", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := DecodeFS(tt.fsys, tt.open, nil)
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("DecodeFS = %v, %v; want ErrFormat", m, err)
			}
			if errors.Is(err, refit.ErrInsecurePath) != tt.insecure {
				t.Errorf("DecodeFS = %v; errors.Is(ErrInsecurePath) want %v", err, tt.insecure)
			}
		})
	}
	t.Run("insecure name", func(t *testing.T) {
		if _, err := DecodeFS(fstest.MapFS{}, "../x.safetensors", nil); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("DecodeFS = %v, want ErrInsecurePath", err)
		}
	})
	t.Run("unlisted shard tensors skipped", func(t *testing.T) {
		two := file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2})
		m, err := DecodeFS(fstest.MapFS{DefaultIndex: index(`"b":"s.safetensors"`), "s.safetensors": {Data: two}}, ".", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := namesOf(m); !slices.Equal(got, []string{"b"}) {
			t.Errorf("tensors %v, want [b]", got)
		}
	})
}

func TestWriteShards(t *testing.T) {
	manifest, order, max := readManifest(t)
	_ = manifest
	src, err := DecodeFS(refit.DirFS("testdata/sharded"), ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m := src.Derive(nil)
	for _, n := range order {
		m.Tensors = append(m.Tensors, src.Tensor(n))
	}
	dir := t.TempDir()
	paths, err := WriteShards(dir, "model", m, max, false)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Glob("testdata/sharded/*")
	if len(paths) != len(want) {
		t.Fatalf("wrote %v, want %d files", paths, len(want))
	}
	for _, w := range want {
		wb, _ := os.ReadFile(w)
		gb, err := os.ReadFile(filepath.Join(dir, filepath.Base(w)))
		if err != nil || !bytes.Equal(gb, wb) {
			t.Errorf("%s differs from the reference writer's (%v):\n got %q\nwant %q", filepath.Base(w), err, gb, wb)
		}
	}
	if !strings.HasSuffix(paths[len(paths)-1], DefaultIndex) {
		t.Errorf("index not last: %v", paths)
	}

	t.Run("exists", func(t *testing.T) {
		if _, err := WriteShards(dir, "model", m, max, false); !errors.Is(err, refit.ErrExists) {
			t.Errorf("WriteShards = %v, want ErrExists", err)
		}
		if _, err := WriteShards(dir, "model", m, max, true); err != nil {
			t.Errorf("WriteShards(overwrite) = %v", err)
		}
	})
	t.Run("single shard", func(t *testing.T) {
		d := t.TempDir()
		paths, err := WriteShards(d, "model", m, 0, false)
		if err != nil || len(paths) != 1 || filepath.Base(paths[0]) != "model.safetensors" {
			t.Fatalf("WriteShards = %v, %v", paths, err)
		}
	})
	t.Run("oversized tensor alone", func(t *testing.T) {
		d := t.TempDir()
		paths, err := WriteShards(d, "m", m, 1, false)
		if err != nil || len(paths) != len(order)+1 {
			t.Fatalf("WriteShards = %v, %v; want one shard per tensor", paths, err)
		}
		back, err := DecodeFS(refit.DirFS(d), "m"+IndexSuffix, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer back.Close()
		for _, x := range m.Tensors {
			a, _ := x.Bytes()
			b, err := back.Tensor(x.Name).Bytes()
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: read back %x, %v; want %x", x.Name, b, err, a)
			}
		}
	})
	t.Run("failure leaves nothing", func(t *testing.T) {
		d := t.TempDir()
		bad := &tensor.Tensor{Name: "zz.bad", DType: tensor.F32, Shape: tensor.Shape{4},
			Data: tensor.NewLazy(16, func() ([]byte, error) { return nil, errors.New("boom") })}
		mm := m.Derive(append(slices.Clone(m.Tensors), bad))
		if _, err := WriteShards(d, "model", mm, max, false); err == nil {
			t.Fatal("WriteShards succeeded")
		}
		if left, _ := os.ReadDir(d); len(left) != 0 {
			t.Errorf("left files behind: %v", left)
		}
	})
	t.Run("bad base", func(t *testing.T) {
		if _, err := WriteShards(t.TempDir(), "../x", m, max, false); err == nil {
			t.Error("WriteShards accepted ../x")
		}
	})
}

func TestIndexJSONEscapes(t *testing.T) {
	got := string(indexJSON(3, map[string]string{"é\"\x7f😀": "s"}))
	want := "{\n  \"metadata\": {\n    \"total_size\": 3\n  },\n  \"weight_map\": {\n    \"\\u00e9\\\"\\u007f\\ud83d\\ude00\": \"s\"\n  }\n}\n"
	if got != want {
		t.Errorf("indexJSON = %q, want %q", got, want)
	}
	if got := string(indexJSON(0, nil)); got != "{\n  \"metadata\": {\n    \"total_size\": 0\n  },\n  \"weight_map\": {}\n}\n" {
		t.Errorf("empty indexJSON = %q", got)
	}
}

var _ fs.FS = fstest.MapFS{}
