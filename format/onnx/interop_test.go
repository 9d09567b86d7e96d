package onnx

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// TestInteropCheckerAcceptsRefitOutput re-encodes every libonnx-testdata model with
// Encode and has python onnx's checker judge each output that it accepts as input.
func TestInteropCheckerAcceptsRefitOutput(t *testing.T) {
	testtool.RequirePython(t, "onnx")
	models := testdataModels(t)
	dir := t.TempDir()
	var list []string
	for i, path := range models {
		m, err := refit.Open(path)
		if err != nil {
			t.Fatalf("Open(%s): %v", path, err)
		}
		out := filepath.Join(dir, fmt.Sprintf("%04d.onnx", i))
		if err := EncodeFile(out, m, nil); err != nil {
			t.Fatalf("EncodeFile(%s): %v", path, err)
		}
		m.Close()
		list = append(list, path+"\t"+out)
	}
	listFile := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listFile, []byte(strings.Join(list, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	out := testtool.RunPython(t, `
import sys, onnx
ok = skipped = 0
for line in open(sys.argv[1]).read().splitlines():
    orig, ours = line.split("\t")
    try:
        onnx.checker.check_model(onnx.load(orig))
    except Exception:
        skipped += 1  # the reference checker rejects the original too (newer opsets)
        continue
    try:
        onnx.checker.check_model(onnx.load(ours))
    except Exception as e:
        print("FAIL", orig, str(e).splitlines()[0])
        continue
    ok += 1
print("checked", ok, "skipped", skipped)
`, listFile)
	t.Logf("python onnx checker: %s", bytes.TrimSpace(out))
	if bytes.Contains(out, []byte("FAIL")) {
		t.Errorf("checker rejected Refit output:\n%s", out)
	}
	var ok, skipped int
	fmt.Sscanf(string(out[bytes.LastIndex(out, []byte("checked")):]), "checked %d skipped %d", &ok, &skipped)
	if ok < len(models)/2 {
		t.Errorf("only %d models checked (%d skipped)", ok, skipped)
	}
}

// TestInteropExternalData writes a model with new weights and external data, which
// python onnx must load (following the side file), check and read back exactly;
// then python writes a model with external data that Refit must read exactly.
func TestInteropExternalData(t *testing.T) {
	testtool.RequirePython(t, "onnx", "numpy")
	m, err := refit.Open("testdata/small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	w := make([]float32, 32)
	for i := range w {
		w[i] = float32(i)*0.25 - 3
	}
	nw, _ := tensor.NewF32("W", tensor.Shape{4, 8}, w)
	m2, err := WithWeights(m, &refit.Model{Tensors: []*tensor.Tensor{nw}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "refit.onnx")
	if err := EncodeFile(path, m2, &EncodeOptions{ExternalData: true, ExternalDataName: "weights.bin", SizeThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	out := testtool.RunPython(t, `
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m)
onnx.checker.check_model(sys.argv[1])
for t in m.graph.initializer:
    a = numpy_helper.to_array(t).astype("float64").ravel()
    print(t.name, " ".join(repr(float(x)) for x in a))
`, path)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, vals, _ := strings.Cut(line, " ")
		got[name] = vals
	}
	fields := strings.Fields(got["W"])
	if len(fields) != len(w) {
		t.Fatalf("python read %d values of W, want %d", len(fields), len(w))
	}
	for i, f := range fields {
		if v, err := strconv.ParseFloat(f, 64); err != nil || v != float64(w[i]) {
			t.Errorf("python read W[%d] = %s, want %v", i, f, w[i])
		}
	}
	if !strings.HasPrefix(got["H"], "-2.0 ") || got["S"] != "1.0 8.0" {
		t.Errorf("python read H = %q, S = %q", got["H"], got["S"])
	}

	// Python writes external data (two side files, one per tensor), Refit reads it.
	pyDir := filepath.Join(dir, "py")
	testtool.RunPython(t, `
import sys, os, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
os.makedirs(sys.argv[1])
a = numpy_helper.from_array((np.arange(600, dtype=np.float32) * 0.5).reshape(20, 30), "A")
b = numpy_helper.from_array(np.arange(-50, 50, dtype=np.int64), "B")
g = helper.make_graph([helper.make_node("Identity", ["A"], ["Y"])], "g", [], [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [20, 30])], initializer=[a, b])
model = helper.make_model(g)
onnx.save_model(model, os.path.join(sys.argv[1], "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
`, pyDir)
	pm, err := refit.Open(filepath.Join(pyDir, "m.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Close()
	a := floats(t, pm, "A")
	b := floats(t, pm, "B")
	if len(a) != 600 || a[599] != 299.5 || pm.Tensor("A").DType != tensor.F32 {
		t.Errorf("A = %d values, last %v", len(a), a[len(a)-1])
	}
	if len(b) != 100 || b[0] != -50 || b[99] != 49 || pm.Tensor("B").DType != tensor.I64 {
		t.Errorf("B = %v", b)
	}
	entries, _ := os.ReadDir(pyDir)
	if len(entries) < 3 {
		t.Errorf("python wrote %d files, expected separate external files", len(entries))
	}
}
