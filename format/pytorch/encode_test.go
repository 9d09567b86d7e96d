package pytorch

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

func encodeBytes(t *testing.T, m *refit.Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, m, nil); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// fixtureModels decodes the fixtures the encoder is tested on, views included.
func fixtureModels(t *testing.T) map[string]*refit.Model {
	out := map[string]*refit.Model{}
	for _, name := range []string{"dtypes.pt", "views.pt", "checkpoint.pt", "bigendian.pt", "script.pt"} {
		m, err := decodeFile(t, name, &refit.DecodeOptions{Extract: true})
		if err != nil {
			t.Fatalf("Decode(%q) = %v", name, err)
		}
		out[name] = m
	}
	return out
}

func TestEncodeRoundTrip(t *testing.T) {
	exp := loadExpected(t)
	for name, m := range fixtureModels(t) {
		t.Run(name, func(t *testing.T) {
			b := encodeBytes(t, m)
			if again := encodeBytes(t, m); !bytes.Equal(b, again) {
				t.Errorf("Encode is not deterministic")
			}
			back, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("Decode(Encode) = %v", err)
			}
			checkTensors(t, back, exp[name].Tensors)
			zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				off, err := f.DataOffset()
				if err != nil {
					t.Fatal(err)
				}
				if off%dataAlignment != 0 || f.Method != zip.Store {
					t.Errorf("%s: data at %d (method %d), want stored and %d-aligned", f.Name, off, f.Method, dataAlignment)
				}
			}
		})
	}
}

func TestEncodeUnsupportedDType(t *testing.T) {
	q, err := tensor.FromBytes("q", tensor.Q8_0, tensor.Shape{32}, make([]byte, 34))
	if err != nil {
		t.Fatal(err)
	}
	err = Encode(&bytes.Buffer{}, &refit.Model{Tensors: []*tensor.Tensor{q}}, nil)
	if !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Encode(Q8_0) = %v, want ErrUnsupported", err)
	}
}

// TestInteropTorchLoad checks that torch.load(weights_only=True) reads every file Encode
// writes, with the same bytes.
func TestInteropTorchLoad(t *testing.T) {
	testtool.RequirePython(t, "torch")
	exp := loadExpected(t)
	dir := t.TempDir()
	models := fixtureModels(t)
	var paths []string
	for name, m := range models {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, encodeBytes(t, m), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	const script = `
import json, sys, torch
torch.set_num_threads(1)
out = {}
for p in sys.argv[1:]:
    sd = torch.load(p, weights_only=True)
    ts = {}
    for k, t in sd.items():
        t = t.contiguous().reshape(-1)
        if t.is_complex():
            t = torch.view_as_real(t).contiguous().reshape(-1)
        ts[k] = {"dtype": str(t.dtype), "hex": t.view(torch.uint8).numpy().tobytes().hex() if t.numel() else ""}
    out[p.rsplit("/", 1)[1]] = ts
print(json.dumps(out))
`
	var got map[string]map[string]struct{ DType, Hex string }
	if err := json.Unmarshal(testtool.RunPython(t, script, paths...), &got); err != nil {
		t.Fatal(err)
	}
	for name := range models {
		want := exp[name].Tensors
		if len(got[name]) != len(want) {
			t.Errorf("%s: torch read %d tensors, want %d", name, len(got[name]), len(want))
		}
		for k, w := range want {
			g, ok := got[name][k]
			if !ok {
				t.Errorf("%s: torch did not read %q", name, k)
				continue
			}
			if g.Hex != w.Hex {
				t.Errorf("%s: %q: torch read %s, want %s", name, k, g.Hex, w.Hex)
			}
		}
	}
}
