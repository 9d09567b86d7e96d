package tfjs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/keras"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/keras2onnx"
	"github.com/refit-ml/refit/runtime"
)

// kerasRealModel is a pretrained Keras model that a Debian package ships
// (testdata/gen/fetch_keras_models.sh fetches them).
type kerasRealModel struct {
	Name  string
	File  string  // under $REFIT_KERAS_MODELS (default ~/.cache/refit/keras)
	Scale float64 // input intensities are in [0, Scale)
	// CISize, when set, is the spatial size of the input used unless
	// REFIT_KERAS_FULL=1: the fully convolutional model runs on a smaller volume
	// (same weights, same layers) so the test stays short in CI.
	CISize int64
}

var kerasRealModels = []kerasRealModel{
	// A 3D U-Net (Conv3D 5x5x5, MaxPooling3D, Conv3DTranspose, skip Concatenates, a
	// Dense on the voxels) on a 48^3 volume; the output is a sigmoid per voxel.
	{Name: "InVesalius brain_mri_t1 3D U-Net", File: "invesalius/brain_mri_t1.h5", Scale: 1, CISize: 24},
}

func kerasModelsDir() string {
	if d := os.Getenv("REFIT_KERAS_MODELS"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "refit", "keras")
}

// TestKerasRealModels converts real Keras .h5 models to ONNX and to a TF.js layers
// model, runs TF.js (the reference: Keras' own semantics in JS), ONNX Runtime, Refit's
// runtime and the generated PyTorch module on the same seeded input, and bounds each
// one's max error relative to the output's scale.
func TestKerasRealModels(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "@tensorflow/tfjs")
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
	for _, rm := range kerasRealModels {
		t.Run(rm.Name, func(t *testing.T) {
			file := filepath.Join(kerasModelsDir(), rm.File)
			if _, err := os.Stat(file); err != nil {
				msg := fmt.Sprintf("%s: %v (run testdata/gen/fetch_keras_models.sh)", rm.Name, err)
				if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
					t.Fatalf("required (REFIT_REQUIRE_TOOLS=1): %s", msg)
				}
				t.Skip("skipping: " + msg)
			}
			m, err := refit.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if rm.CISize > 0 && os.Getenv("REFIT_KERAS_FULL") != "1" {
				cfg, err := resizeInput(m.Metadata.String("keras.model_config"), rm.CISize)
				if err != nil {
					t.Fatal(err)
				}
				m.Metadata.Set("keras.model_config", cfg)
				t.Logf("input resized to %d per spatial axis (REFIT_KERAS_FULL=1 runs the shipped size)", rm.CISize)
			}
			mp, err := keras2onnx.ConvertModel(m, nil)
			if err != nil {
				t.Fatalf("ConvertModel: %v", err)
			}
			dir := t.TempDir()
			onnxFile := filepath.Join(dir, "model.onnx")
			if err := onnx.WriteModelFile(onnxFile, mp, nil); err != nil {
				t.Fatal(err)
			}
			lm, err := tfjs.Prepare(m, &refit.EncodeOptions{})
			if err != nil {
				t.Fatalf("tfjs.Prepare: %v", err)
			}
			modelDir := filepath.Join(dir, "tfjs")
			if err := os.MkdirAll(modelDir, 0o755); err != nil {
				t.Fatal(err)
			}
			create := func(name string) (io.WriteCloser, error) { return os.Create(filepath.Join(modelDir, name)) }
			if err := tfjs.EncodeFiles(create, lm, nil); err != nil {
				t.Fatalf("tfjs.EncodeFiles: %v", err)
			}

			in := mp.Graph.Input[0]
			var shape []int64
			for _, d := range in.GetType().GetTensorType().GetShape().GetDim() {
				shape = append(shape, max(d.GetDimValue(), 1))
			}
			n := int64(1)
			for _, d := range shape {
				n *= d
			}
			x := seededVolume(shape, rm.Scale)
			inFile := filepath.Join(dir, "x.npy")
			writeNPY(t, inFile, x, shape)

			tfjsOut := filepath.Join(dir, "tfjs.npy")
			node(t, nodeModules, tfjsRun, "run", modelDir, inFile, tfjsOut)
			ref, refShape := readNPY(t, tfjsOut)

			spec := map[string]any{"threads": 1, "jobs": []map[string]any{{"model": onnxFile,
				"inputs": map[string]string{in.GetName(): inFile}, "outputs": filepath.Join(dir, "ort")}}}
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
			outs, err := sess.Run(context.Background(), map[string]*runtime.Value{in.GetName(): xv})
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
			scale := 0.0
			for _, v := range ref {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			tableRow := testtool.TFTableRow{Family: "Keras .h5", Source: "Debian invesalius", Model: rm.Name,
				Reference: "TF.js (CPU), the .h5 rewritten as a layers model", Converts: true, ORTRuns: true,
				Why: fmt.Sprintf("input %v", shape)}
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
				worst := 0.0
				for i := range ref {
					worst = math.Max(worst, math.Abs(float64(ref[i])-float64(c.got[i])))
				}
				rel := testtool.Err(worst / math.Max(scale, 1e-3))
				switch c.target {
				case "ONNX Runtime":
					tableRow.ORTErr = rel
				case "Refit runtime":
					tableRow.RefitErr = rel
				default:
					tableRow.TorchErr = rel
				}
				t.Logf("%s vs TF.js: max abs error %.3g (output scale %.3g)", c.target, worst, scale)
				if worst > 1e-4*math.Max(scale, 1e-3) {
					t.Errorf("%s vs TF.js: max abs error %.3g, want <= 1e-4 of the output scale %.3g", c.target, worst, scale)
				}
			}
		})
	}
}

// seededVolume makes a [1, D, H, W, 1] volume like a skull-stripped-to-be T1 scan
// in intensity range: a bright noisy ellipsoid with a darker core on a dim noisy
// background, so that a segmentation model's output varies over the volume.
func seededVolume(shape []int64, scale float64) []float32 {
	rng := rand.New(rand.NewPCG(seed, uint64(len(shape))))
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, 0, n)
	if len(shape) != 5 {
		for range n {
			x = append(x, float32(rng.Float64()*scale))
		}
		return x
	}
	dd, hh, ww := float64(shape[1]), float64(shape[2]), float64(shape[3])
	for range shape[0] {
		for i := range shape[1] {
			for j := range shape[2] {
				for k := range shape[3] {
					z, y, w := (float64(i)+0.5)/dd-0.5, (float64(j)+0.5)/hh-0.5, (float64(k)+0.5)/ww-0.5
					r := math.Sqrt(z*z/0.16 + y*y/0.12 + w*w/0.14)
					v := 0.05
					switch {
					case r < 0.4:
						v = 0.45
					case r < 1:
						v = 0.8
					}
					for range shape[4] {
						x = append(x, float32(scale*min(max(v+0.1*(rng.Float64()-0.5), 0), 1)))
					}
				}
			}
		}
	}
	return x
}

// resizeInput sets every spatial size of the InputLayers of a Keras 2 Functional
// config to size.
func resizeInput(config string, size int64) (string, error) {
	var top map[string]any
	if err := json.Unmarshal([]byte(config), &top); err != nil {
		return "", err
	}
	c, _ := top["config"].(map[string]any)
	layers, _ := c["layers"].([]any)
	n := 0
	for _, l := range layers {
		l, _ := l.(map[string]any)
		lc, _ := l["config"].(map[string]any)
		shape, _ := lc["batch_input_shape"].([]any)
		if l["class_name"] != "InputLayer" || len(shape) < 3 {
			continue
		}
		for i := 1; i < len(shape)-1; i++ {
			shape[i] = size
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("no InputLayer with a batch_input_shape")
	}
	b, err := json.Marshal(top)
	return string(b), err
}

// TestKerasFixturesORT runs the .h5 and Keras 3 .keras fixtures of keras2onnx
// (testdata/gen/tfjs_to_keras.py, testdata/gen/keras_torchref.py) converted through
// format/keras in ONNX Runtime, against TF.js's or torch's outputs.
func TestKerasFixturesORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	requireNode(t)
	root := filepath.Join(testtool.RepoRoot(), "keras2onnx", "testdata")
	keras, _ := filepath.Glob(filepath.Join(root, "keras", "*"))
	torchref, _ := filepath.Glob(filepath.Join(root, "torchref", "*.h5"))
	if len(keras) == 0 || len(torchref) == 0 {
		t.Fatal("no fixtures")
	}
	type fixture struct{ name, file, refDir string }
	var fs []fixture
	for _, f := range keras {
		base := filepath.Base(f)
		fs = append(fs, fixture{base, f, filepath.Join(root, "tfjs", base[:len(base)-len(filepath.Ext(base))])})
	}
	for _, f := range torchref {
		fs = append(fs, fixture{"torchref_" + filepath.Base(f), f, f[:len(f)-len(".h5")]})
	}
	tmp := t.TempDir()
	var jobs []map[string]any
	for i, f := range fs {
		m, err := refit.Open(f.file)
		if err != nil {
			t.Fatal(err)
		}
		mp, err := keras2onnx.ConvertModel(m, nil)
		m.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		file := filepath.Join(tmp, fmt.Sprint(i)+".onnx")
		if err := onnx.WriteModelFile(file, mp, nil); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, map[string]any{"model": file, "outputs": filepath.Join(tmp, fmt.Sprint(i)),
			"inputs": map[string]string{mp.Graph.Input[0].GetName(): filepath.Join(f.refDir, "x.npy")}})
	}
	b, _ := json.Marshal(map[string]any{"threads": 1, "jobs": jobs})
	spec := filepath.Join(tmp, "spec.json")
	if err := os.WriteFile(spec, b, 0o644); err != nil {
		t.Fatal(err)
	}
	node(t, nodeModules, filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), spec)
	for i, f := range fs {
		t.Run(f.name, func(t *testing.T) {
			want, ws := readNPY(t, filepath.Join(f.refDir, "y.npy"))
			got, gs := readNPY(t, filepath.Join(tmp, fmt.Sprint(i), "out0.npy"))
			if fmt.Sprint(gs) != fmt.Sprint(ws) {
				t.Fatalf("ORT output shape %v, reference %v", gs, ws)
			}
			worst := 0.0
			for k := range want {
				d := math.Abs(float64(got[k]) - float64(want[k]))
				worst = math.Max(worst, d)
				if d > 1e-4+1e-4*math.Abs(float64(want[k])) {
					t.Fatalf("ORT output[%d] = %g, reference %g", k, got[k], want[k])
				}
			}
			t.Logf("max abs error vs reference %.2g", worst)
		})
	}
}
