package tflite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

func writeNPY(t *testing.T, path string, v *runtime.Value) {
	t.Helper()
	tn, err := v.Tensor("x")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := numpy.EncodeNPY(&buf, tn); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readNPY(t *testing.T, path string) *runtime.Value {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if tn.DType != tensor.F32 {
		t.Fatalf("%s: %v, want float32", path, tn.DType)
	}
	v, err := runtime.FromTensor(tn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// runORT runs mp in ONNX Runtime on inputs and returns its outputs by name.
func runORT(t *testing.T, mp *onnxpb.ModelProto, inputs map[string]*runtime.Value) map[string]*runtime.Value {
	t.Helper()
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	dir := t.TempDir()
	modelPath := filepath.Join(dir, "model.onnx")
	if err := onnx.WriteModelFile(modelPath, mp, nil); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for i, name := range slices.Sorted(maps.Keys(inputs)) {
		p := filepath.Join(dir, fmt.Sprintf("in%d.npy", i))
		writeNPY(t, p, inputs[name])
		files[name] = p
	}
	spec, err := json.Marshal(map[string]any{"threads": 1, "runs": 1,
		"jobs": []map[string]any{{"model": modelPath, "inputs": files, "outputs": dir}}})
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, stderr.Bytes())
	}
	var results []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != 1 {
		t.Fatalf("ort_run.js printed %q: %v", out, err)
	}
	res := map[string]*runtime.Value{}
	for name, p := range results[0].Outputs {
		res[name] = readNPY(t, p)
	}
	return res
}

func runRefit(t *testing.T, mp *onnxpb.ModelProto, inputs map[string]*runtime.Value) map[string]*runtime.Value {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	outs, err := s.Run(context.Background(), inputs)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return outs
}

// compare returns the largest absolute difference over all outputs of mp.
func compare(t *testing.T, mp *onnxpb.ModelProto, got, want map[string]*runtime.Value) float64 {
	t.Helper()
	worst := 0.0
	for _, o := range mp.Graph.Output {
		g, w := got[o.GetName()], want[o.GetName()]
		if g == nil || w == nil {
			t.Fatalf("output %q missing (%v, %v)", o.GetName(), g != nil, w != nil)
		}
		if !slices.Equal(g.Shape, w.Shape) {
			t.Fatalf("output %q: shape %v vs %v", o.GetName(), g.Shape, w.Shape)
		}
		gf, wf := g.Float32s(), w.Float32s()
		for i := range wf {
			d := math.Abs(float64(gf[i]) - float64(wf[i]))
			if math.IsNaN(d) {
				t.Fatalf("output %q[%d]: %g vs %g", o.GetName(), i, gf[i], wf[i])
			}
			worst = math.Max(worst, d)
		}
	}
	return worst
}
