package tfjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func loadExpected(t *testing.T) map[string][]any {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string][]any
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDecodeLayersModel(t *testing.T) {
	m, err := DecodeFS(os.DirFS("testdata/layers"), ".", nil)
	if err != nil {
		t.Fatalf("DecodeFS = %v", err)
	}
	defer m.Close()
	want := loadExpected(t)
	names := []string{"dense/kernel", "dense/bias", "steps", "flags", "q8", "q16", "qint", "half", "embedding/embeddings"}
	if len(m.Tensors) != len(names) {
		t.Fatalf("got %d tensors, want %d (strings skipped)", len(m.Tensors), len(names))
	}
	for i, name := range names {
		x := m.Tensors[i]
		if x.Name != name {
			t.Fatalf("tensor %d = %q, want %q", i, x.Name, name)
		}
		t.Run(name, func(t *testing.T) {
			b, err := x.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			exp := want[name]
			if int64(len(exp)) != x.NumElements() {
				t.Fatalf("%d elements, want %d", x.NumElements(), len(exp))
			}
			for j, e := range exp {
				var got, w float64
				switch x.DType {
				case tensor.F32:
					got = float64(math.Float32frombits(le32(b[4*j:])))
					w = float64(float32(e.(float64)))
				case tensor.I32:
					got, w = float64(int32(le32(b[4*j:]))), e.(float64)
				case tensor.Bool:
					got = float64(b[j])
					if e.(bool) {
						w = 1
					}
				default:
					t.Fatalf("dtype %v", x.DType)
				}
				if got != w && !(math.IsNaN(got) && math.IsNaN(w)) {
					t.Errorf("element %d = %v, want %v", j, got, w)
				}
			}
		})
	}
	if got := m.Tensor("dense/kernel").Shape; !got.Equal(tensor.Shape{3, 4}) {
		t.Errorf("kernel shape = %v", got)
	}
	if got := m.Tensor("qint").DType; got != tensor.I32 {
		t.Errorf("qint dtype = %v, want I32", got)
	}
	if m.Metadata.String("tfjs.format") != "layers-model" || m.Metadata.String("tfjs.quantization.q8") != "uint8" {
		t.Errorf("metadata = %v", m.Metadata.Keys())
	}
	if !json.Valid([]byte(m.Metadata.String("tfjs.model_topology"))) {
		t.Errorf("model topology is not JSON")
	}
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestDecodeGraphModelAndRegistry(t *testing.T) {
	m, err := refit.Open("testdata/graph")
	if err != nil {
		t.Fatalf("refit.Open(graph) = %v", err)
	}
	defer m.Close()
	if m.Format != "tfjs" || len(m.Tensors) != 1 {
		t.Fatalf("format %q, %d tensors", m.Format, len(m.Tensors))
	}
	v, err := m.Tensors[0].Float32s()
	if err != nil || len(v) != 4 || v[0] != 1 || v[3] != 4 {
		t.Fatalf("w = %v, %v", v, err)
	}
	m2, err := refit.Open("testdata/layers/model.json")
	if err != nil {
		t.Fatalf("refit.Open(model.json) = %v", err)
	}
	m2.Close()
	if m2.Format != "tfjs" {
		t.Errorf("format %q", m2.Format)
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"weightsManifest": []}`, true},
		{` {"a": 1, "weightsManifest": []}`, true},
		{`{"a": 1}`, false},
		{`["weightsManifest"]`, false},
		{``, false},
	} {
		if got := Sniff(bytes.NewReader([]byte(tc.in)), int64(len(tc.in))); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDecodeBad(t *testing.T) {
	shard := make([]byte, 16)
	mk := func(manifest string) fstest.MapFS {
		return fstest.MapFS{
			"m/model.json": {Data: []byte(`{"weightsManifest": ` + manifest + `}`)},
			"m/a.bin":      {Data: shard},
			"secret.bin":   {Data: shard},
		}
	}
	for _, tc := range []struct {
		name, manifest string
		want           error
	}{
		{"escape", `[{"paths": ["../secret.bin"], "weights": []}]`, refit.ErrInsecurePath},
		{"absolute", `[{"paths": ["/etc/passwd"], "weights": []}]`, refit.ErrInsecurePath},
		{"backslash", `[{"paths": ["..\\secret.bin"], "weights": []}]`, refit.ErrInsecurePath},
		{"too many elements", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [5], "dtype": "float32"}]}]`, refit.ErrFormat},
		{"second weight overflows", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [3], "dtype": "float32"}, {"name": "v", "shape": [2], "dtype": "float32"}]}]`, refit.ErrFormat},
		{"huge shape", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [4294967296, 4294967296], "dtype": "float32"}]}]`, refit.ErrFormat},
		{"negative dim", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [-1], "dtype": "float32"}]}]`, refit.ErrFormat},
		{"duplicate", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [1], "dtype": "float32"}, {"name": "w", "shape": [1], "dtype": "float32"}]}]`, refit.ErrFormat},
		{"quant without scale", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [1], "dtype": "float32", "quantization": {"dtype": "uint8"}}]}]`, refit.ErrFormat},
		{"unknown dtype", `[{"paths": ["a.bin"], "weights": [{"name": "w", "shape": [1], "dtype": "complex64"}]}]`, refit.ErrUnsupported},
		{"string length beyond shard", `[{"paths": ["a.bin"], "weights": [{"name": "s", "shape": [1], "dtype": "string"}]}]`, nil},
		{"missing shard", `[{"paths": ["b.bin"], "weights": []}]`, os.ErrNotExist},
		{"not json", `[{`, refit.ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := mk(tc.manifest)
			if tc.name == "string length beyond shard" {
				fsys["m/a.bin"] = &fstest.MapFile{Data: []byte{0xff, 0xff, 0, 0, 1}}
				tc.want = refit.ErrFormat
			}
			m, err := DecodeFS(fsys, "m/model.json", nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DecodeFS = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatalf("model returned with error")
			}
		})
	}
	if _, err := Decode(bytes.NewReader([]byte(`{"a":1}`)), 7, nil); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("Decode without manifest = %v, want ErrFormat", err)
	}
	b, _ := os.ReadFile("testdata/layers/model.json")
	if _, err := Decode(bytes.NewReader(b), int64(len(b)), nil); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Decode with shards = %v, want ErrUnsupported", err)
	}
}
