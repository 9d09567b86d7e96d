package quant

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/graph/eval"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
)

// TestPreparedQuantizeWithORT quantizes graphs whose weights other exporters put
// where the quantizer did not look (Constant nodes, Identity-routed biases) after
// the preparation and pre-processing refit quantize runs, and checks that every
// Conv/MatMul/Gemm is quantized, that ONNX Runtime runs the result and agrees with
// Refit's runtime, and that it stays close to the float model.
func TestPreparedQuantizeWithORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	dir := t.TempDir()
	prep := filepath.Join(testtool.RepoRoot(), "testdata", "models", "prep")
	calib, _, err := readNPZ(filepath.Join(prep, "calib.npz"))
	if err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "calib.f32")
	writeF32(t, input, calib.Float32s())
	ctx := context.Background()
	for _, model := range []string{"paddle_const", "torch_identity_bias"} {
		mp, err := onnx.Load(refit.DirFS(prep), model+".onnx")
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, n := range mp.Graph.Node {
			switch n.GetOpType() {
			case "Conv", "MatMul", "Gemm":
				want++
			}
		}
		floatLogits, err := runRefit(mp, calib)
		if err != nil {
			t.Fatal(err)
		}
		prepared, _, err := optimize.Prepare(ctx, mp, &optimize.PrepareOptions{Fold: eval.Node})
		if err != nil {
			t.Fatal(err)
		}
		pre, _, err := optimize.Model(ctx, prepared, &optimize.Options{Fold: eval.Node})
		if err != nil {
			t.Fatal(err)
		}
		// ONNX Runtime runs the prepared float graph, and the model as Decode and
		// Encode rewrite it (Constant nodes lifted), with the same outputs.
		m, err := refit.Open(filepath.Join(prep, model+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		reencoded := filepath.Join(dir, model+"_reencoded.onnx")
		if err := onnx.EncodeFile(reencoded, m, nil); err != nil {
			t.Fatal(err)
		}
		m.Close()
		preparedPath := filepath.Join(dir, model+"_prepared.onnx")
		if err := onnx.WriteModelFile(preparedPath, pre, nil); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{reencoded, preparedPath} {
			ort := runORT(t, nodeModules, path, input, calib.Shape)
			if d := agreement(ort, floatLogits, int(calib.Shape[0])).maxDiff; d > 1e-4 || len(ort) != len(floatLogits) {
				t.Errorf("%s: ONNX Runtime differs from the original float model by %.3g", filepath.Base(path), d)
			}
		}
		for _, c := range []config{
			{"dynamic", onnxq.Options{Method: onnxq.Dynamic, OpTypes: []string{"Conv", "MatMul", "Gemm"}}},
			{"static-qdq", onnxq.Options{Method: onnxq.Static}},
			{"static-qoperator", onnxq.Options{Method: onnxq.Static, Format: onnxq.FormatQOperator}},
		} {
			t.Run(model+"/"+c.name, func(t *testing.T) {
				feed, err := onnxq.Batches(map[string]*runtime.Value{"input": calib}, 32)
				if err != nil {
					t.Fatal(err)
				}
				qm, rep, err := onnxq.Quantize(ctx, pre, &c.opts, feed)
				if err != nil {
					t.Fatalf("Quantize: %v", err)
				}
				quantized := 0
				for _, n := range rep.Nodes {
					if n.Action != "" {
						quantized++
					} else {
						t.Errorf("node %s (%s) left in float: %s", n.Name, n.OpType, n.Skip)
					}
				}
				if quantized != want {
					t.Errorf("quantized %d nodes, the model has %d Conv/MatMul/Gemm", quantized, want)
				}
				path := filepath.Join(dir, model+"_"+c.name+".onnx")
				if err := onnx.WriteModelFile(path, qm, nil); err != nil {
					t.Fatal(err)
				}
				written, err := onnx.Load(refit.DirFS(dir), filepath.Base(path))
				if err != nil {
					t.Fatal(err)
				}
				got, err := runRefitArith(written, calib, runtime.ExactArith)
				if err != nil {
					t.Fatalf("refit runtime: %v", err)
				}
				ort := runORT(t, nodeModules, path, input, calib.Shape)
				if len(ort) != len(got) {
					t.Fatalf("ORT gave %d logits, Refit %d", len(ort), len(got))
				}
				cos := cosine(ort, floatLogits)
				scale := 0.0
				for _, v := range floatLogits {
					scale = math.Max(scale, math.Abs(float64(v)))
				}
				exact := agreement(got, ort, int(calib.Shape[0]))
				sat, err := runRefitArith(written, calib, runtime.SaturatingPairsArith)
				if err != nil {
					t.Fatal(err)
				}
				emulated := agreement(sat, ort, int(calib.Shape[0]))
				t.Logf("ORT vs float cosine %.5f; Refit vs ORT max abs %.3g (saturating pairs %.3g), logit scale %.3g", cos, exact.maxDiff, emulated.maxDiff, scale)
				if cos < 0.99 {
					t.Errorf("ONNX Runtime's output of the quantized model: cosine %.5f to float, want >= 0.99", cos)
				}
				if min(exact.maxDiff, emulated.maxDiff) > 0.05*scale {
					t.Errorf("Refit and ONNX Runtime disagree: max abs diff %.3g (saturating pairs %.3g), scale %.3g", exact.maxDiff, emulated.maxDiff, scale)
				}
			})
		}
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}
