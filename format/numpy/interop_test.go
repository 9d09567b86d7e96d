package numpy

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// loadScript prints, for every .npy and .npz file named, what numpy.load sees:
// dtype (canonical little-endian string), shape, and the data as little-endian
// C-ordered hex. It also checks array_equal against a second load with mmap.
const loadScript = `
import json, sys
import numpy as np
out = {}
def desc(a):
    le = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
    return {"dtype": a.dtype.str, "shape": list(a.shape), "hex": le.tobytes().hex()}
for path in sys.argv[1:]:
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            out[path] = {k: desc(z[k]) for k in z.files}
    else:
        a = np.load(path, allow_pickle=False)
        m = np.load(path, mmap_mode="r", allow_pickle=False)
        assert np.array_equal(a, m, equal_nan=a.dtype.kind in "fc"), path
        out[path] = {"": desc(a)}
json.dump(out, sys.stdout)
`

// TestNumpyLoadsRefitOutput writes every fixture tensor with EncodeNPY and all of them
// with WriteNPZ (stored and deflated), then has numpy.load read them back.
func TestNumpyLoadsRefitOutput(t *testing.T) {
	testtool.RequirePython(t, "numpy")
	dir := t.TempDir()
	var tensors []*tensor.Tensor
	var paths []string
	for _, fx := range loadFixtures(t) {
		if fx.Error != "" || !strings.HasSuffix(fx.File, ".npy") {
			continue
		}
		m, err := DecodeFS(refit.DirFS("testdata"), fx.File, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		x := m.Tensors[0]
		tensors = append(tensors, x)
		p := filepath.Join(dir, fx.File)
		writeFile(t, p, func(f *os.File) error { return EncodeNPY(f, x) })
		paths = append(paths, p)
	}
	// A computed tensor: the zip writer streams it with a data descriptor, where
	// file-backed ones get their CRC first and a local header that carries it.
	v, err := tensor.NewF32("computed", tensor.Shape{3, 5}, []float32{1, -2, 3.5, 1e-8, 70000, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, -0.9})
	if err != nil {
		t.Fatal(err)
	}
	computed, err := tensor.Cast(v, tensor.F16)
	if err != nil {
		t.Fatal(err)
	}
	npyCount := len(tensors)
	tensors = append(tensors, computed)
	for _, compress := range []bool{false, true} {
		p := filepath.Join(dir, map[bool]string{false: "stored.npz", true: "deflated.npz"}[compress])
		writeFile(t, p, func(f *os.File) error { return WriteNPZ(f, tensors, compress) })
		paths = append(paths, p)
	}

	var got map[string]map[string]struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
		Hex   string  `json:"hex"`
	}
	if err := json.Unmarshal(testtool.RunPython(t, loadScript, paths...), &got); err != nil {
		t.Fatal(err)
	}
	check := func(file, key string, x *tensor.Tensor) {
		t.Helper()
		g, ok := got[file][key]
		if !ok {
			t.Errorf("numpy.load(%s) has no %q", filepath.Base(file), key)
			return
		}
		descr, _ := descrFor(x.DType)
		b, err := x.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if g.DType != descr || !tensor.Shape(g.Shape).Equal(x.Shape) || g.Hex != hex.EncodeToString(b) {
			t.Errorf("numpy.load(%s)[%q] = %s %v %s, want %s %v %x", filepath.Base(file), key, g.DType, g.Shape, g.Hex, descr, x.Shape, b)
		}
	}
	for i, x := range tensors[:npyCount] {
		check(paths[i], "", x)
	}
	for _, p := range paths[npyCount:] {
		if len(got[p]) != len(tensors) {
			t.Errorf("numpy.load(%s) has %d arrays, want %d", filepath.Base(p), len(got[p]), len(tensors))
		}
		for _, x := range tensors {
			check(p, x.Name, x)
		}
	}
}

func writeFile(t *testing.T, path string, write func(*os.File) error) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
