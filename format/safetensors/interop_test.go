package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// runReference runs testdata/gen/safetensors.py (json + struct + numpy, written from the
// spec) with the given arguments.
func runReference(t *testing.T, args ...string) []byte {
	t.Helper()
	testtool.RequirePython(t, "numpy")
	script := filepath.Join(testtool.RepoRoot(), "testdata", "gen", "safetensors.py")
	run := `import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")`
	return testtool.RunPython(t, run, append([]string{script}, args...)...)
}

func dumpWithReference(t *testing.T, path string) manifestFile {
	t.Helper()
	var mf manifestFile
	if err := json.Unmarshal(runReference(t, "dump", path), &mf); err != nil {
		t.Fatal(err)
	}
	return mf
}

// interopModel has every dtype, with float values that need rounding in the narrow types.
func interopModel(t *testing.T) *refit.Model {
	vals := []float32{0, 1, -2.5, 0.1, 1.0 / 3, -100.75, 65504, 1e-5, 3.14159, -0.0078125, 448, 57344}
	m := &refit.Model{}
	m.Metadata.Set("format", "pt")
	m.Metadata.Set("unicode", "héllo\n\"wörld\"")
	m.Metadata.Set("layers", int64(12))
	for i, e := range dtypeTable {
		var raw []byte
		shape := tensor.Shape{3, 4}
		switch e.d {
		case tensor.C64:
			raw = tensor.EncodeFloat32(nil, vals[:8])
			shape = tensor.Shape{2, 2}
		default:
			raw = make([]byte, len(vals)*e.d.TypeSize())
			if err := tensor.FromFloat32(raw, vals, e.d); err != nil {
				t.Fatal(err)
			}
		}
		x, err := tensor.FromBytes(fmt.Sprintf("layer.%d.%s", i, e.name), e.d, shape, raw)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	big := make([]float32, 1000)
	for i := range big {
		big[i] = float32(math.Sin(float64(i)))
	}
	m.Tensors = append(m.Tensors, mustF32(t, "big", tensor.Shape{10, 100}, big...))
	return m
}

// TestInteropRefitToReference writes every dtype with Refit and checks that the
// independent Python reader (numpy decoding) sees the same values, bytes and metadata.
func TestInteropRefitToReference(t *testing.T) {
	m := interopModel(t)
	path := filepath.Join(t.TempDir(), "refit.safetensors")
	if err := os.WriteFile(path, encodeBytes(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
	got := dumpWithReference(t, path)
	if len(got.Tensors) != len(m.Tensors) {
		t.Fatalf("reference read %d tensors, want %d", len(got.Tensors), len(m.Tensors))
	}
	for _, x := range m.Tensors {
		w, ok := got.Tensors[x.Name]
		if !ok {
			t.Errorf("reference did not find %q", x.Name)
			continue
		}
		raw, _ := x.Bytes()
		if w.DType != x.DType.String() || !x.Shape.Equal(w.Shape) || w.SHA256 != sum(raw) {
			t.Errorf("%q: reference read %s %v %s, want %v %v %s", x.Name, w.DType, w.Shape, w.SHA256, x.DType, x.Shape, sum(raw))
		}
		if err := checkValues(x, w.Values); err != nil {
			t.Errorf("%q: %v", x.Name, err)
		}
	}
	want := map[string]string{"format": "pt", "unicode": "héllo\n\"wörld\"", "layers": "12"}
	for k, v := range want {
		if got.Metadata[k] != v {
			t.Errorf("reference metadata %q = %q, want %q", k, got.Metadata[k], v)
		}
	}
}

// TestInteropReferenceToRefit reads pseudo-random files the reference writer made
// (every dtype, random shapes incl. empty and scalar), compares values with numpy's,
// and re-encodes them byte for byte.
func TestInteropReferenceToRefit(t *testing.T) {
	for seed := range 5 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ref.safetensors")
			runReference(t, "write", path, fmt.Sprint(seed))
			want := dumpWithReference(t, path)
			m, err := refit.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			checkAgainst(t, m, want)
			b, _ := os.ReadFile(path)
			if out := encodeBytes(t, m); !bytes.Equal(out, b) {
				t.Errorf("Encode(Decode(reference)) differs:\n got %q\nwant %q", out, b)
			}
		})
	}
}
