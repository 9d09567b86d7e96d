package tfjsgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tf2onnx"
)

// TestOpFixtures converts the small graph models ops_gen.js writes (one per operator
// family: NMS V3/V4/V5, resize flags, transposed convolution padding, multi-output
// ops, floor division of negatives, StridedSlice masks ...) and checks every output of
// ONNX Runtime against TF.js to float32 rounding.
func TestOpFixtures(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "@tensorflow/tfjs")
	testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	runNode(t, nodeModules, filepath.Join(here, "ops_gen.js"), tmp)
	b, err := os.ReadFile(filepath.Join(tmp, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name    string            `json:"name"`
		Inputs  map[string]string `json:"inputs"`
		Outputs []string          `json:"outputs"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	type job struct {
		Model   string            `json:"model"`
		Inputs  map[string]string `json:"inputs"`
		Outputs []string          `json:"outputs"`
		Out     string            `json:"out"`
	}
	var jobs []job
	for _, c := range cases {
		dir := filepath.Join(tmp, c.Name)
		j := job{Model: filepath.Join(dir, "model.json"), Inputs: map[string]string{}, Outputs: c.Outputs, Out: filepath.Join(dir, "tfjs")}
		for k, v := range c.Inputs {
			j.Inputs[k] = filepath.Join(dir, v)
		}
		jobs = append(jobs, j)
	}
	spec, _ := json.Marshal(map[string]any{"jobs": jobs})
	specFile := filepath.Join(tmp, "tfjs.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	runNode(t, nodeModules, filepath.Join(here, "graph_run.js"), specFile)

	for _, j := range jobs {
		dir := filepath.Dir(j.Model)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if e, err := os.ReadFile(filepath.Join(j.Out, "error.txt")); err == nil {
				t.Fatalf("TF.js failed: %s", e)
			}
			mp, err := tf2onnx.TFJSGraph(context.Background(), os.DirFS(dir), "model.json", nil)
			if err != nil {
				t.Fatalf("TFJSGraph: %v", err)
			}
			if len(mp.Graph.Output) != len(j.Outputs) {
				t.Fatalf("%d ONNX outputs, want the signature's %d", len(mp.Graph.Output), len(j.Outputs))
			}
			for i, o := range mp.Graph.Output {
				if want := fmt.Sprintf("out_%d", i); o.GetName() != want {
					t.Errorf("output %d is named %q, want the signature's %q", i, o.GetName(), want)
				}
			}
			onnxFile := filepath.Join(dir, "model.onnx")
			if err := onnx.WriteModelFile(onnxFile, mp, nil); err != nil {
				t.Fatal(err)
			}
			ortDir := filepath.Join(dir, "ort")
			ortSpec, _ := json.Marshal(map[string]any{"threads": 1, "jobs": []map[string]any{{"model": onnxFile, "inputs": j.Inputs, "outputs": ortDir}}})
			ortFile := filepath.Join(dir, "ort.json")
			if err := os.WriteFile(ortFile, ortSpec, 0o644); err != nil {
				t.Fatal(err)
			}
			runNode(t, nodeModules, filepath.Join(here, "..", "ort", "ort_run.js"), ortFile)
			for i, name := range j.Outputs {
				ref, refShape := readNPY(t, filepath.Join(j.Out, fmt.Sprintf("out%d.npy", i)))
				got, gotShape := readNPY(t, filepath.Join(ortDir, fmt.Sprintf("out%d.npy", i)))
				if !slices.Equal(refShape, gotShape) {
					t.Errorf("%s: shape %v, TF.js %v", name, gotShape, refShape)
					continue
				}
				worst, scale := 0.0, 1.0
				for k := range ref {
					worst = math.Max(worst, math.Abs(float64(got[k])-float64(ref[k])))
					scale = math.Max(scale, math.Abs(float64(ref[k])))
				}
				if worst > 1e-5*scale {
					t.Errorf("%s: max abs error %.3g vs TF.js (scale %.3g)\n got %v\nwant %v", name, worst, scale, head(got), head(ref))
				}
			}
		})
	}
}

func head(v []float32) []float32 { return v[:min(len(v), 16)] }
