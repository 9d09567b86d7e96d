package tf2onnx

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
)

// TestTFJSGraphCond converts the lowered tf.cond of testdata/cond_then and
// testdata/cond_else (written and run with TF.js by testdata/run_while.js; one takes
// each branch) and compares Refit's runtime and ONNX Runtime with TF.js's output.
func TestTFJSGraphCond(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	for _, dir := range []string{"cond_then", "cond_else"} {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join("testdata", dir)
			mp, err := TFJSGraph(context.Background(), os.DirFS(path), ".", nil)
			if err != nil {
				t.Fatalf("TFJSGraph: %v", err)
			}
			wellFormed(t, mp)
			ops := countOps(mp)
			if ops["If"] != 1 || ops["Switch"]+ops["Merge"] != 0 {
				t.Fatalf("want one If and no Switch/Merge: %v", ops)
			}
			x := readNPYValue(t, filepath.Join(path, "x.npy"))
			want := readNPYValue(t, filepath.Join(path, "y.npy"))
			outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): x})
			if len(outs) != 1 {
				t.Fatalf("%d outputs, want 1", len(outs))
			}
			if d := maxAbsDiff(outs[0].Float32s(), want.Float32s()); d > 1e-6 {
				t.Fatalf("Refit's runtime: max abs diff %g (got %v, want %v)", d, outs[0].Float32s(), want.Float32s())
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
			if d := maxAbsDiff(got.Float32s(), want.Float32s()); d > 1e-6 {
				t.Fatalf("ONNX Runtime: max abs diff %g", d)
			}
		})
	}
}

// TestExtractCondsErrors: conds the collapse cannot express fail with ErrFormat.
func TestExtractCondsErrors(t *testing.T) {
	sw := &gNode{Name: "sw", Op: "Switch", Input: []string{"x", "p"}}
	base := []*gNode{{Name: "x", Op: "Placeholder"}, {Name: "p", Op: "Placeholder"}, sw}
	cases := map[string][]*gNode{
		// a Merge of three values
		"three-way": append(append([]*gNode(nil), base...), &gNode{Name: "a", Op: "Relu", Input: []string{"sw:1"}},
			&gNode{Name: "m", Op: "Merge", Input: []string{"a", "sw:0", "x"}}),
		// a Merge joining two values of the same branch
		"one-sided": append(append([]*gNode(nil), base...), &gNode{Name: "a", Op: "Relu", Input: []string{"sw:1"}},
			&gNode{Name: "b", Op: "Neg", Input: []string{"sw:1"}}, &gNode{Name: "m", Op: "Merge", Input: []string{"a", "b"}}),
		// a node of the then branch reads the else branch
		"crossed": append(append([]*gNode(nil), base...), &gNode{Name: "a", Op: "Relu", Input: []string{"sw:1"}},
			&gNode{Name: "b", Op: "Add", Input: []string{"a", "sw:0"}}, &gNode{Name: "m", Op: "Merge", Input: []string{"b", "sw:0"}}),
	}
	for name, nodes := range cases {
		if _, err := extractConds(nodes); err == nil {
			t.Errorf("%s: no error", name)
		} else if !errors.Is(err, refit.ErrFormat) {
			t.Errorf("%s: %v does not wrap ErrFormat", name, err)
		}
	}
}
