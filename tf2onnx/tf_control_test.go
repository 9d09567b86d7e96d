package tf2onnx

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
	"google.golang.org/protobuf/proto"
)

// TestTFJSGraphWhile converts the lowered while loops of testdata/while and
// testdata/maplist (written and run with TF.js by testdata/run_while.js) and compares
// Refit's runtime with the expected output (TF.js's; for nested/, the loop written out).
func TestTFJSGraphWhile(t *testing.T) {
	for _, dir := range []string{"while", "nested", "maparray", "functional", "maplist"} {
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
	for _, dir := range []string{"while", "nested", "maparray", "functional", "maplist"} {
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

// TestTFJSGraphIfBranches runs testdata/functional on x and -x so that both branches
// of its If are taken, against the graph written out in float32 arithmetic.
func TestTFJSGraphIfBranches(t *testing.T) {
	mp, err := TFJSGraph(context.Background(), os.DirFS("testdata/functional"), ".", nil)
	if err != nil {
		t.Fatalf("TFJSGraph: %v", err)
	}
	w, err := os.ReadFile("testdata/functional/weights.bin")
	if err != nil || len(w) < 12 {
		t.Fatalf("weights: %v", err)
	}
	var s [3]float32
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
	}
	x := readNPYValue(t, "testdata/functional/x.npy")
	for _, sign := range []float32{1, -1} {
		xs := x.Float32s()
		sum := float32(0)
		for i := range xs {
			xs[i] *= sign
			sum += xs[i]
		}
		want := make([]float32, len(xs))
		for k, xv := range xs {
			a := xv * s[k%3]
			for range 3 {
				a = a*0.5 + 1
			}
			if sum > 0 {
				a = max(a, 0)
			} else {
				a = -a
			}
			want[k] = float32(math.Tanh(float64(a)))
		}
		in, err := runtime.FromSlice(xs, x.Shape...)
		if err != nil {
			t.Fatal(err)
		}
		outs := runRefit(t, mp, map[string]*runtime.Value{mp.Graph.Input[0].GetName(): in})
		if d := maxAbsDiff(outs[0].Float32s(), want); d > 1e-6 {
			t.Fatalf("sum(x) = %g: max abs diff %g (got %v, want %v)", sum, d, outs[0].Float32s(), want)
		}
	}
}

// TestTFJSGraphWhileDeterministic converts each loop fixture several times: the
// ONNX bytes must not change (frames are collected in maps).
func TestTFJSGraphWhileDeterministic(t *testing.T) {
	for _, dir := range []string{"while", "nested", "maparray", "functional", "maplist", "cond_then", "cond_else"} {
		var first []byte
		for range 5 {
			mp, err := TFJSGraph(context.Background(), os.DirFS(filepath.Join("testdata", dir)), ".", nil)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if !bytes.Equal(first, b) {
				t.Fatalf("%s: two conversions differ", dir)
			}
		}
	}
}
