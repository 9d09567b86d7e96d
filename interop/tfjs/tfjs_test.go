package tfjs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/keras2onnx"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// realModel is a pretrained TF.js layers model shipped in an npm package.
type realModel struct {
	Name    string // row label
	Package string // npm package holding it
	Dir     string // folder inside the package (model.min.js + shard modules)
	Size    int64  // input height and width
	Batch   int64
}

var realModels = []realModel{
	{Name: "nsfwjs MobileNetV2", Package: "nsfwjs", Dir: "dist/models/mobilenet_v2", Size: 224, Batch: 16},
	{Name: "nsfwjs InceptionV3", Package: "nsfwjs", Dir: "dist/models/inception_v3", Size: 299, Batch: 6},
}

// Tolerances on logits: TF.js and the converted graph sum in different orders, so they
// agree to float32 rounding relative to the logits' magnitude.
const (
	maxRelErr = 1e-4 // max abs error / max |logit|
	seed      = 7
	tieMargin = 1e-4 // top-1 flips count only when the reference's best two differ by more
)

type row struct {
	model, target  string
	maxErr, relErr float64
	agree, n, ties int
	classes        int // distinct top-1 classes of the reference over the batch
	ranked         int // rows whose whole class ranking equals the reference's
}

// TestRealModels converts pretrained TF.js layers models from npm to ONNX and runs the
// original in @tensorflow/tfjs and the conversion in ONNX Runtime and in Refit's runtime
// on the same seeded inputs, asserting max error and top-1 agreement. Run with -v to
// see the agreement table (also written to $REFIT_TFJS_TABLE when set).
func TestRealModels(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "@tensorflow/tfjs")
	testtool.NodeModules(t, "nsfwjs")
	testtool.NodeModules(t, "onnxruntime-node")
	requireNode(t)
	if testing.Short() {
		t.Skip("skipping real-model conversion in -short mode")
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	ortRun := filepath.Join(here, "..", "ort", "ort_run.js")
	tfjsRun := filepath.Join(here, "tfjs_run.js")
	var rows []row
	for _, rm := range realModels {
		t.Run(strings.ReplaceAll(rm.Name, " ", "_"), func(t *testing.T) {
			dir := t.TempDir()
			modelDir := filepath.Join(dir, "model")
			node(t, nodeModules, tfjsRun, "extract", filepath.Join(nodeModules, rm.Package, rm.Dir), modelDir)
			// Compare logits, not saturated probabilities: drop the output layer's softmax
			// in the model both sides run.
			if err := linearOutput(filepath.Join(modelDir, "model.json")); err != nil {
				t.Fatal(err)
			}

			m, err := tfjs.DecodeFS(os.DirFS(modelDir), "model.json", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mp, err := keras2onnx.ConvertModel(m, nil)
			if err != nil {
				t.Fatalf("ConvertModel: %v", err)
			}
			onnxFile := filepath.Join(dir, "model.onnx")
			if err := onnx.WriteModelFile(onnxFile, mp, nil); err != nil {
				t.Fatal(err)
			}
			transposes := 0
			for _, n := range mp.Graph.Node {
				if n.GetOpType() == "Transpose" {
					transposes++
				}
			}
			t.Logf("%s: %d ONNX nodes, %d Transposes", rm.Name, len(mp.Graph.Node), transposes)

			shape := []int64{rm.Batch, rm.Size, rm.Size, 3}
			x := seededImages(rm.Batch, rm.Size)
			inFile := filepath.Join(dir, "x.npy")
			writeNPY(t, inFile, x, shape)

			tfjsOut := filepath.Join(dir, "tfjs.npy")
			node(t, nodeModules, tfjsRun, "run", modelDir, inFile, tfjsOut)
			ref, refShape := readNPY(t, tfjsOut)

			inName := mp.Graph.Input[0].GetName()
			spec := map[string]any{"threads": 1, "jobs": []map[string]any{{"model": onnxFile,
				"inputs": map[string]string{inName: inFile}, "outputs": filepath.Join(dir, "ort")}}}
			specFile := filepath.Join(dir, "ort.json")
			b, _ := json.Marshal(spec)
			if err := os.WriteFile(specFile, b, 0o644); err != nil {
				t.Fatal(err)
			}
			node(t, nodeModules, ortRun, specFile)
			ortOut, ortShape := readNPY(t, filepath.Join(dir, "ort", "out0.npy"))

			sess, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			xv, err := runtime.FromSlice(x, shape...)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := sess.Run(context.Background(), map[string]*runtime.Value{inName: xv})
			if err != nil {
				t.Fatal(err)
			}
			rv := outs[mp.Graph.Output[0].GetName()]
			type result struct {
				target string
				got    []float32
				shape  []int64
			}
			results := []result{{"ONNX Runtime", ortOut, ortShape}, {"Refit runtime", rv.Float32s(), rv.Shape}}
			t.Run("torch", func(t *testing.T) {
				testtool.RequirePython(t, "torch", "numpy")
				torchDir := filepath.Join(dir, "torch")
				writeTorch(t, mp, torchDir)
				testtool.RunPython(t, torchRun, torchDir, inFile)
				got, shape := readNPY(t, filepath.Join(torchDir, "y.npy"))
				results = append(results, result{"PyTorch (generated model.py)", got, shape})
			})
			tableRow := testtool.TFTableRow{Family: "TF.js layers", Source: testtool.NPMSource(nodeModules, rm.Package), Model: rm.Name + " (" + rm.Dir + ")",
				Reference: "TF.js (CPU)", Converts: true, ORTRuns: true, Why: "logits (softmax dropped)"}
			defer func() {
				if t.Failed() {
					tableRow.Why = "test failed"
				}
				testtool.AppendTFTableRow(t, tableRow)
			}()
			for _, c := range results {
				if fmt.Sprint(c.shape) != fmt.Sprint(refShape) {
					t.Fatalf("%s output shape %v, TF.js %v", c.target, c.shape, refShape)
				}
				r := compare(rm.Name, c.target, ref, c.got, refShape)
				rows = append(rows, r)
				switch c.target {
				case "ONNX Runtime":
					tableRow.ORTErr = testtool.Err(r.relErr)
				case "Refit runtime":
					tableRow.RefitErr = testtool.Err(r.relErr)
				default:
					tableRow.TorchErr = testtool.Err(r.relErr)
				}
				if r.relErr > maxRelErr {
					t.Errorf("%s vs TF.js: max abs error %.3g is %.3g of the logits' scale, want <= %g", c.target, r.maxErr, r.relErr, maxRelErr)
				}
				if r.agree+r.ties < r.n {
					t.Errorf("%s vs TF.js: top-1 agrees on %d of %d (%d near ties)", c.target, r.agree, r.n, r.ties)
				}
			}
		})
	}
	table := formatTable(rows)
	t.Log("\n" + table)
	if f := os.Getenv("REFIT_TFJS_TABLE"); f != "" {
		if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// linearOutput rewrites a TF.js layers model.json so that its output layer has a
// linear activation (the logits), leaving everything else as it was.
func linearOutput(file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var mj map[string]any
	if err := json.Unmarshal(b, &mj); err != nil {
		return err
	}
	topo, _ := mj["modelTopology"].(map[string]any)
	mc, _ := topo["model_config"].(map[string]any)
	cfg, _ := mc["config"].(map[string]any)
	layers, _ := cfg["layers"].([]any)
	outs, _ := cfg["output_layers"].([]any)
	if len(outs) != 1 || len(layers) == 0 {
		return fmt.Errorf("%s: want a Functional model with one output", file)
	}
	out, _ := outs[0].([]any)
	for _, l := range layers {
		lm, _ := l.(map[string]any)
		if c, ok := lm["config"].(map[string]any); ok && len(out) > 0 && lm["name"] == out[0] {
			if c["activation"] != "softmax" {
				return fmt.Errorf("%s: output layer activation %v, want softmax", file, c["activation"])
			}
			c["activation"] = "linear"
			b, err := json.Marshal(mj)
			if err != nil {
				return err
			}
			return os.WriteFile(file, b, 0o644)
		}
	}
	return fmt.Errorf("%s: output layer %v not found", file, out)
}

// seededImages makes n size x size RGB images in [0, 1] (the range nsfwjs feeds after
// dividing by 255): per image, random stripes of random frequency, phase, brightness
// and contrast plus pixel noise, so that the models' predictions vary across the batch.
func seededImages(n, size int64) []float32 {
	rng := rand.New(rand.NewPCG(seed, uint64(size)))
	x := make([]float32, 0, n*size*size*3)
	for range n {
		var fy, fx, phase [3]float64
		for c := range 3 {
			fy[c], fx[c], phase[c] = rng.Float64()*0.3, rng.Float64()*0.3, rng.Float64()*2*math.Pi
		}
		base, amp, noise := 0.2+0.6*rng.Float64(), 0.5*rng.Float64(), 0.3*rng.Float64()
		for i := range size {
			for j := range size {
				for c := range 3 {
					v := base + amp*math.Sin(fy[c]*float64(i)+fx[c]*float64(j)+phase[c]) + noise*(rng.Float64()-0.5)
					x = append(x, float32(min(max(v, 0), 1)))
				}
			}
		}
	}
	return x
}

func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
}

func node(t *testing.T, nodeModules string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func writeNPY(t *testing.T, file string, v []float32, shape []int64) {
	t.Helper()
	tn, err := tensor.NewF32("x", shape, v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := numpy.EncodeNPY(&buf, tn); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readNPY(t *testing.T, file string) ([]float32, []int64) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	v, err := tn.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v, tn.Shape
}

// compare reports max abs error, error relative to the reference's max magnitude and
// top-1 agreement over rows of the last axis.
func compare(model, target string, ref, got []float32, shape []int64) row {
	r := row{model: model, target: target}
	scale := 0.0
	for i := range ref {
		r.maxErr = math.Max(r.maxErr, math.Abs(float64(ref[i])-float64(got[i])))
		scale = math.Max(scale, math.Abs(float64(ref[i])))
	}
	if scale > 0 {
		r.relErr = r.maxErr / scale
	}
	classes := int(shape[len(shape)-1])
	seen := map[int]bool{}
	for off := 0; off+classes <= len(ref); off += classes {
		a, b := ref[off:off+classes], got[off:off+classes]
		r.n++
		best, second := argmax2(a)
		seen[best] = true
		r.classes = len(seen)
		if slices.Equal(ranking(a), ranking(b)) {
			r.ranked++
		}
		if gb, _ := argmax2(b); gb == best {
			r.agree++
		} else if float64(a[best]-a[second]) <= tieMargin {
			r.ties++
		}
	}
	return r
}

// ranking returns the class indices ordered by decreasing value.
func ranking(v []float32) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(v[b], v[a]) })
	return idx
}

func argmax2(v []float32) (int, int) {
	best, second := 0, -1
	for i := 1; i < len(v); i++ {
		switch {
		case v[i] > v[best]:
			best, second = i, best
		case second < 0 || v[i] > v[second]:
			second = i
		}
	}
	if second < 0 {
		second = best
	}
	return best, second
}

func formatTable(rows []row) string {
	var sb strings.Builder
	sb.WriteString("| model | source format | target | max abs error (logits) | max error / max abs logit | top-1 agreement | full ranking agreement | distinct top-1 classes |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | TF.js layers (uint8-quantized) | %s | %.2e | %.2e | %d/%d | %d/%d | %d |\n",
			r.model, r.target, r.maxErr, r.relErr, r.agree, r.n, r.ranked, r.n, r.classes)
	}
	return sb.String()
}
