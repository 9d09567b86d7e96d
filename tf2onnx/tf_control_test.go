package tf2onnx

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
)

// TestTFJSGraphWhile converts the lowered while loops of testdata/while and
// testdata/maplist (written and run with TF.js by testdata/run_while.js) and compares
// Refit's runtime with the expected output (TF.js's; for nested/, the loop written out).
func TestTFJSGraphWhile(t *testing.T) {
	for _, dir := range []string{"while", "nested", "maplist"} {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join("testdata", dir)
			mp, err := TFJSGraph(context.Background(), os.DirFS(path), ".", nil)
			if err != nil {
				t.Fatalf("TFJSGraph: %v", err)
			}
			wellFormed(t, mp)
			if n := countOps(mp)["Loop"]; n != 1 {
				t.Fatalf("%d Loop nodes, want 1: %v", n, countOps(mp))
			}
			x := readNPYValue(t, filepath.Join(path, "x.npy"))
			want := readNPYValue(t, filepath.Join(path, "y.npy"))
			outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): x})
			if len(outs) != 1 {
				t.Fatalf("%d outputs, want 1", len(outs))
			}
			if d := maxAbsDiff(outs[0].Float32s(), want.Float32s()); d > 1e-5 {
				t.Fatalf("max abs diff vs the reference %g (got %v, want %v)", d, outs[0].Float32s(), want.Float32s())
			} else {
				t.Logf("%v: max abs diff vs the reference %.2g", countOps(mp), d)
			}
		})
	}
}

// TestTFJSGraphWhileORT runs the converted loops in ONNX Runtime (onnxruntime-node)
// and compares with TF.js's output.
func TestTFJSGraphWhileORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	for _, dir := range []string{"while", "nested", "maplist"} {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join("testdata", dir)
			mp, err := TFJSGraph(context.Background(), os.DirFS(path), ".", nil)
			if err != nil {
				t.Fatalf("TFJSGraph: %v", err)
			}
			tmp := t.TempDir()
			modelPath := filepath.Join(tmp, "model.onnx")
			if err := onnx.WriteModelFile(modelPath, mp, nil); err != nil {
				t.Fatal(err)
			}
			xPath, err := filepath.Abs(filepath.Join(path, "x.npy"))
			if err != nil {
				t.Fatal(err)
			}
			spec, _ := json.Marshal(map[string]any{"jobs": []map[string]any{{"model": modelPath,
				"inputs": map[string]string{mp.Graph.Input[0].GetName(): xPath}, "outputs": tmp}}})
			specPath := filepath.Join(tmp, "spec.json")
			if err := os.WriteFile(specPath, spec, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
			cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ONNX Runtime: %v\n%s", err, out)
			}
			got := readNPYValue(t, filepath.Join(tmp, "out0.npy"))
			want := readNPYValue(t, filepath.Join(path, "y.npy"))
			if d := maxAbsDiff(got.Float32s(), want.Float32s()); d > 1e-5 {
				t.Fatalf("ONNX Runtime vs the reference: max abs diff %g", d)
			} else {
				t.Logf("ONNX Runtime vs the reference: max abs diff %.2g", d)
			}
		})
	}
}
