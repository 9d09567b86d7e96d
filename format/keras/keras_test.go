package keras

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

type expect struct {
	Shape  []int64   `json:"shape"`
	DType  string    `json:"dtype"`
	Values []float64 `json:"values"`
}

func loadExpected(t *testing.T) map[string]map[string]expect {
	t.Helper()
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]map[string]expect
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func decodeFile(t *testing.T, name string) *refit.Model {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatalf("Decode(%q) = %v", name, err)
	}
	return m
}

func elem(t *testing.T, x *tensor.Tensor, b []byte, i int) float64 {
	switch x.DType {
	case tensor.F32:
		return float64(math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24))
	case tensor.F64:
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[8*i+k])
		}
		return math.Float64frombits(v)
	case tensor.I32:
		return float64(int32(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24))
	}
	t.Fatalf("dtype %v", x.DType)
	return 0
}

var wantDType = map[string]tensor.DType{"<f4": tensor.F32, "<f8": tensor.F64, "<i4": tensor.I32, "<i8": tensor.I64}

func TestDecode(t *testing.T) {
	all := loadExpected(t)
	for file, want := range all {
		t.Run(file, func(t *testing.T) {
			m := decodeFile(t, "testdata/"+file)
			defer m.Close()
			if len(m.Tensors) != len(want) {
				var names []string
				for _, x := range m.Tensors {
					names = append(names, x.Name)
				}
				t.Fatalf("tensors %v, want %d", names, len(want))
			}
			for name, e := range want {
				x := m.Tensor(name)
				if x == nil {
					t.Fatalf("no tensor %q", name)
				}
				if !x.Shape.Equal(e.Shape) || x.DType != wantDType[e.DType] {
					t.Errorf("%s: %v %v, want %s %v", name, x.DType, x.Shape, e.DType, e.Shape)
				}
				b, err := x.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range e.Values {
					if got := elem(t, x, b, i); got != v {
						t.Errorf("%s[%d] = %v, want %v", name, i, got, v)
					}
				}
			}
		})
	}
}

func TestOrderAndMetadata(t *testing.T) {
	m := decodeFile(t, "testdata/legacy.h5")
	defer m.Close()
	var names []string
	for _, x := range m.Tensors {
		names = append(names, x.Name)
	}
	want := []string{"dense/kernel:0", "dense/bias:0", "batch_normalization/gamma:0", "batch_normalization/beta:0",
		"batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0", "embedding/embeddings:0", "counter/count:0"}
	if !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
	if m.Metadata.String("keras.keras_version") != "2.15.0" || !json.Valid([]byte(m.Metadata.String("keras.model_config"))) {
		t.Errorf("metadata %v", m.Metadata.Keys())
	}
	k := decodeFile(t, "testdata/model.keras")
	defer k.Close()
	if k.Tensors[0].Name != "batch_normalization/vars/0" || !json.Valid([]byte(k.Metadata.String("keras.config"))) {
		t.Errorf("keras3 first tensor %q, metadata %v", k.Tensors[0].Name, k.Metadata.Keys())
	}
}

func TestOpen(t *testing.T) {
	for _, name := range []string{"testdata/legacy.h5", "testdata/model.keras"} {
		m, err := refit.Open(name)
		if err != nil {
			t.Fatalf("refit.Open(%q) = %v", name, err)
		}
		if m.Format != "keras" {
			t.Errorf("format %q", m.Format)
		}
		m.Close()
	}
}

func zipOf(t *testing.T, members map[string][]byte) []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for n, b := range members {
		w, err := z.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	z.Close()
	return buf.Bytes()
}

func TestDecodeBad(t *testing.T) {
	legacy, _ := os.ReadFile("testdata/legacy.h5")
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, refit.ErrFormat},
		{"not hdf5", []byte("hello world, not a model"), refit.ErrFormat},
		{"truncated hdf5", legacy[:600], refit.ErrFormat},
		{"zip without weights", zipOf(t, map[string][]byte{"config.json": []byte("{}")}), refit.ErrFormat},
		{"zip with bad weights", zipOf(t, map[string][]byte{"model.weights.h5": []byte("\x89HDF\r\n\x1a\nnope")}), refit.ErrFormat},
		{"zip escaping member", zipOf(t, map[string][]byte{"../config.json": []byte("{}"), "model.weights.h5": legacy}), refit.ErrInsecurePath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(bytes.NewReader(tc.in), int64(len(tc.in)), nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, want %v", err, tc.want)
			}
			if m != nil {
				t.Fatal("model returned with an error")
			}
		})
	}
}
