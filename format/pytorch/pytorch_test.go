package pytorch

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

type expectedTensor struct {
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Hex   string  `json:"hex"`
}

type expectedFile struct {
	Tensors  map[string]expectedTensor `json:"tensors"`
	Metadata map[string]any            `json:"metadata"`
}

// loadExpected merges testdata/expected*.json: each generator script writes its own.
func loadExpected(t *testing.T) map[string]expectedFile {
	t.Helper()
	files, err := filepath.Glob("testdata/expected*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/expected*.json: %v", err)
	}
	exp := map[string]expectedFile{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var part map[string]expectedFile
		if err := json.Unmarshal(b, &part); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, v := range part {
			exp[k] = v
		}
	}
	return exp
}

func decodeFile(t testing.TB, name string, opts *refit.DecodeOptions) (*refit.Model, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return Decode(bytes.NewReader(b), int64(len(b)), opts)
}

func checkTensors(t *testing.T, m *refit.Model, want map[string]expectedTensor) {
	t.Helper()
	if len(m.Tensors) != len(want) {
		var got []string
		for _, tt := range m.Tensors {
			got = append(got, tt.Name)
		}
		t.Errorf("got %d tensors %v, want %d", len(m.Tensors), got, len(want))
	}
	for name, w := range want {
		tt := m.Tensor(name)
		if tt == nil {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if tt.DType.String() != w.DType || !tt.Shape.Equal(w.Shape) {
			t.Errorf("%s: %v %v, want %s %v", name, tt.DType, tt.Shape, w.DType, w.Shape)
			continue
		}
		b, err := tt.Bytes()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got := hex.EncodeToString(b); got != w.Hex {
			t.Errorf("%s: bytes %s, want %s", name, got, w.Hex)
		}
	}
}

func TestDecodeFixtures(t *testing.T) {
	exp := loadExpected(t)
	for name, want := range exp {
		t.Run(name, func(t *testing.T) {
			opts := &refit.DecodeOptions{}
			if strings.HasPrefix(name, "model") || name == "script.pt" {
				opts.Extract = true
			}
			m, err := decodeFile(t, name, opts)
			if err != nil {
				t.Fatalf("Decode(%q) = %v", name, err)
			}
			checkTensors(t, m, want.Tensors)
			for k, v := range want.Metadata {
				got, ok := m.Metadata.Get(k)
				if !ok {
					t.Errorf("metadata %q missing", k)
					continue
				}
				switch v := v.(type) {
				case float64:
					if f, ok := got.(float64); ok && f == v {
						continue
					}
					if i, ok := got.(int64); ok && float64(i) == v {
						continue
					}
				case string:
					if got == v {
						continue
					}
				}
				t.Errorf("metadata %q = %v (%T), want %v", k, got, got, v)
			}
		})
	}
}
