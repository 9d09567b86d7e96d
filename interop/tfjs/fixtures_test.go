package tfjs

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/keras2onnx"
)

// TestFixturesORT runs the converted TF.js layer fixtures of keras2onnx/testdata/tfjs
// (made by testdata/gen/tfjs_layers.js) in ONNX Runtime and compares with the outputs
// TF.js computed for them.
func TestFixturesORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	requireNode(t)
	dirs, err := filepath.Glob(filepath.Join(testtool.RepoRoot(), "keras2onnx", "testdata", "tfjs", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	tmp := t.TempDir()
	var jobs []map[string]any
	for _, dir := range dirs {
		m, err := tfjs.DecodeFS(os.DirFS(dir), "model.json", nil)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := keras2onnx.ConvertModel(m, nil)
		m.Close()
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		name := filepath.Base(dir)
		file := filepath.Join(tmp, name+".onnx")
		if err := onnx.WriteModelFile(file, mp, nil); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, map[string]any{"model": file, "outputs": filepath.Join(tmp, name),
			"inputs": map[string]string{mp.Graph.Input[0].GetName(): filepath.Join(dir, "x.npy")}})
	}
	b, _ := json.Marshal(map[string]any{"threads": 1, "jobs": jobs})
	spec := filepath.Join(tmp, "spec.json")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	node(t, nodeModules, filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), spec)
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			want, ws := readNPY(t, filepath.Join(dir, "y.npy"))
			got, gs := readNPY(t, filepath.Join(tmp, name, "out0.npy"))
			if len(gs) != len(ws) || len(got) != len(want) {
				t.Fatalf("ORT output shape %v, TF.js %v", gs, ws)
			}
			worst := 0.0
			for i := range want {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				worst = math.Max(worst, d)
				if d > 1e-4+1e-4*math.Abs(float64(want[i])) {
					t.Fatalf("ORT output[%d] = %g, TF.js %g", i, got[i], want[i])
				}
			}
			t.Logf("max abs error vs TF.js %.2g", worst)
		})
	}
}
