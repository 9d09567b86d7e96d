package tflite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tf2onnx"
)

// A reference TFLite runtime: the npm package and the script that drives it.
type reference struct{ pkg, script string }

var (
	tfjsTFLite = reference{"@tensorflow/tfjs-tflite", "tflite_run.js"}
	// LiteRT.js's XNNPACK kernels cover some of MediaPipe's custom operators
	// (Convolution2DTransposeBias; MaxPoolingWithArgmax2D and MaxUnpooling2D with the
	// window equal to the stride), which tfjs-tflite's interpreter reports as unresolved.
	liteRTJS = reference{"@litertjs/core", "litert_run.mjs"}
)

// runReference runs the .tflite file at modelPath in the reference TFLite runtime ref
// (WebAssembly, in node) on inputs, fed in the order of mp's graph inputs, and returns
// its outputs under the names of mp's graph outputs. Outputs are matched by position: the converter keeps TFLite's output order, but may suffix
// a name ("Identity" becomes "Identity_2") to keep ONNX value names unique.
func runReference(t *testing.T, ref reference, modelPath string, mp *onnxpb.ModelProto, inputs map[string]*runtime.Value) map[string]*runtime.Value {
	t.Helper()
	nodeModules := testtool.NodeModules(t, ref.pkg)
	dir := t.TempDir()
	args := []string{filepath.Join(testtool.RepoRoot(), "interop", "tflite", ref.script), modelPath, dir}
	var inputNames []string
	for i, in := range mp.Graph.Input {
		v := inputs[in.GetName()]
		if v == nil {
			t.Fatalf("no input value for %q", in.GetName())
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d.npy", i))
		writeNPY(t, p, v)
		args = append(args, p)
		inputNames = append(inputNames, in.GetName())
	}
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("TFLite (%s): %v\n%s", ref.pkg, err, stderr.Bytes())
	}
	var res struct {
		Inputs  []string `json:"inputs"`
		Outputs []struct {
			Name string `json:"name"`
			Path string `json:"path"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("tflite_run.js printed %q: %v", out, err)
	}
	if !slices.Equal(res.Inputs, inputNames) {
		t.Fatalf("TFLite inputs %q, converted ONNX inputs %q", res.Inputs, inputNames)
	}
	if len(res.Outputs) != len(mp.Graph.Output) {
		t.Fatalf("TFLite has %d outputs, converted ONNX %d", len(res.Outputs), len(mp.Graph.Output))
	}
	got := map[string]*runtime.Value{}
	for i, o := range res.Outputs {
		name := mp.Graph.Output[i].GetName()
		base := strings.NewReplacer(":", "_", " ", "_").Replace(o.Name)
		if name != base && !strings.HasPrefix(name, base+"_") {
			t.Fatalf("output %d: TFLite %q, converted ONNX %q", i, o.Name, name)
		}
		got[name] = readNPY(t, o.Path)
	}
	return got
}

// mediapipeModel is a .tflite file of a MediaPipe npm package (Apache-2.0). Files not
// shipped loose are read from the package's packed assets (see mediapipeModel).
type mediapipeFile struct {
	pkg, name string
	// custom names MediaPipe custom operators the model uses that tfjs-tflite's
	// interpreter cannot resolve ("Encountered unresolved custom op"). Such models run
	// in LiteRT.js when litert is set; LiteRT.js lacks the landmark operators too, so
	// those models are compared between Refit's runtime and ONNX Runtime only (tf2onnx's
	// tests check the operators' graphs against their definitions).
	custom string
	litert bool
}

var mediapipeModels = []mediapipeFile{
	{pkg: "@mediapipe/face_detection", name: "face_detection_short_range.tflite"},
	{pkg: "@mediapipe/face_detection", name: "face_detection_full_range.tflite"},
	{pkg: "@mediapipe/face_detection", name: "face_detection_full_range_sparse.tflite"},
	{pkg: "@mediapipe/hands", name: "hand_landmark_lite.tflite"},
	{pkg: "@mediapipe/hands", name: "hand_landmark_full.tflite"},
	{pkg: "@mediapipe/hands", name: "palm_detection_lite.tflite"},
	{pkg: "@mediapipe/hands", name: "palm_detection_full.tflite"},
	{pkg: "@mediapipe/holistic", name: "pose_detection.tflite"},
	{pkg: "@mediapipe/holistic", name: "pose_landmark_lite.tflite"},
	{pkg: "@mediapipe/holistic", name: "pose_landmark_full.tflite"},
	{pkg: "@mediapipe/holistic", name: "pose_landmark_heavy.tflite"},
	{pkg: "@mediapipe/holistic", name: "face_landmark.tflite"},
	{pkg: "@mediapipe/holistic", name: "face_landmark_with_attention.tflite", custom: "Landmarks2TransformMatrix, TransformTensorBilinear, TransformLandmarks"},
	{pkg: "@mediapipe/holistic", name: "hand_recrop.tflite"},
	{pkg: "@mediapipe/objectron", name: "object_detection_3d_camera.tflite"},
	{pkg: "@mediapipe/objectron", name: "object_detection_3d_chair.tflite"},
	{pkg: "@mediapipe/objectron", name: "object_detection_3d_cup.tflite"},
	{pkg: "@mediapipe/objectron", name: "object_detection_3d_sneakers.tflite"},
	{pkg: "@mediapipe/objectron", name: "object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"},
	{pkg: "@mediapipe/selfie_segmentation", name: "selfie_segmentation.tflite", custom: "Convolution2DTransposeBias", litert: true},
	{pkg: "@mediapipe/selfie_segmentation", name: "selfie_segmentation_landscape.tflite", custom: "Convolution2DTransposeBias", litert: true},
}

// TestMediaPipeVsTFLite compares the ONNX converted from each MediaPipe .tflite, run
// in Refit's runtime and in ONNX Runtime, with the original .tflite run in TFLite's
// own interpreter on the same seeded random image. TFLite runs the float kernels
// through XNNPACK (and float16 weights dequantized), so differences of order 1e-4 on
// the box regressors (values up to ~140) are expected; the tolerance is 1e-3 of the
// largest output magnitude (at least 1e-3).
func TestMediaPipeVsTFLite(t *testing.T) {
	for _, pm := range mediapipeModels {
		t.Run(pm.name, func(t *testing.T) {
			modelPath := mediapipeModel(t, pm.pkg, pm.name)
			// The README's table row ($REFIT_TF_TABLE), filled in as the test goes.
			row := testtool.TFTableRow{Family: "TFLite", Source: testtool.NPMSource(testtool.NodeModules(t, pm.pkg), pm.pkg), Model: pm.name}
			defer func() {
				if row.Why == "" && t.Failed() {
					row.Why = "test failed"
				}
				testtool.AppendTFTableRow(t, row)
			}()
			f, err := os.Open(modelPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			mp, err := tf2onnx.TFLite(context.Background(), f, st.Size(), nil)
			if err != nil {
				row.Why = err.Error()
				t.Fatalf("TFLite: %v", err)
			}
			row.Converts = true
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := runtime.RandomInputs(s, 11, nil)
			if err != nil {
				t.Fatal(err)
			}
			if pm.custom != "" && !pm.litert {
				d := compare(t, mp, runRefit(t, mp, inputs), runORT(t, mp, inputs))
				row.ORTRuns = true
				row.Why = "custom operators " + pm.custom + ": no reference TFLite runtime has them; Refit runtime vs ONNX Runtime " + fmt.Sprintf("%.2g", d)
				if d > 1e-3 {
					t.Errorf("max abs difference Refit runtime vs ONNX Runtime %g", d)
				}
				t.Logf("custom operators %s: no reference runtime has them; Refit runtime vs ONNX Runtime max abs diff %.3g", pm.custom, d)
				return
			}
			ref := tfjsTFLite
			if pm.litert {
				ref = liteRTJS
			}
			row.Reference = testtool.NPMSource(testtool.NodeModules(t, ref.pkg), ref.pkg) + " (TFLite interpreter, wasm)"
			want := runReference(t, ref, modelPath, mp, inputs)
			peak := 0.0 // a constant or all-zero output would make the comparison vacuous
			for _, v := range want {
				for _, x := range v.Float32s() {
					peak = max(peak, math.Abs(float64(x)))
				}
			}
			if peak < 0.1 {
				t.Fatalf("TFLite outputs peak at %g: the random image gives no signal to compare", peak)
			}
			// Each output is held to 1e-3 of its own scale (its largest magnitude, at least 1).
			worst := map[string]float64{} // relative to the output's scale, by runtime
			for name, got := range map[string]map[string]*runtime.Value{"Refit runtime": runRefit(t, mp, inputs), "ONNX Runtime": runORT(t, mp, inputs)} {
				for _, o := range mp.Graph.Output {
					one := &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{Output: []*onnxpb.ValueInfoProto{o}}}
					scale := 1.0
					for _, x := range want[o.GetName()].Float32s() {
						scale = max(scale, math.Abs(float64(x)))
					}
					d := compare(t, one, got, want)
					if d > 1e-3*scale {
						t.Errorf("output %q (scale %.3g): max abs difference %s vs TFLite %g > %g", o.GetName(), scale, name, d, 1e-3*scale)
					}
					worst[name] = max(worst[name], d/scale)
				}
			}
			row.ORTRuns = true
			row.ORTErr, row.RefitErr = testtool.Err(worst["ONNX Runtime"]), testtool.Err(worst["Refit runtime"])
			t.Logf("vs TFLite (%s wasm; %d outputs up to %.3g): max abs diff / output scale: Refit runtime %.2g, ONNX Runtime %.2g",
				ref.pkg, len(mp.Graph.Output), peak, worst["Refit runtime"], worst["ONNX Runtime"])
		})
	}
}

// mediapipeModel returns the path of model file name from npm package pkg: the file
// itself when the package ships it loose, otherwise a copy cut out of the package's
// *_packed_assets.data at the offsets its *_packed_assets_loader.js lists.
func mediapipeModel(t *testing.T, pkg, name string) string {
	t.Helper()
	dir := filepath.Join(testtool.NodeModules(t, pkg), pkg)
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	loaders, err := filepath.Glob(filepath.Join(dir, "*_packed_assets_loader.js"))
	if err != nil || len(loaders) != 1 {
		t.Fatalf("%s: no %s and %d packed-asset loaders (%v)", pkg, name, len(loaders), err)
	}
	js, err := os.ReadFile(loaders[0])
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`"filename": "[^"]*/` + regexp.QuoteMeta(name) + `", "start": (\d+), "end": (\d+)`).FindSubmatch(js)
	if m == nil {
		t.Fatalf("%s lists no %s", loaders[0], name)
	}
	start, _ := strconv.ParseInt(string(m[1]), 10, 64)
	end, _ := strconv.ParseInt(string(m[2]), 10, 64)
	data, err := os.ReadFile(strings.TrimSuffix(loaders[0], "_loader.js") + ".data")
	if err != nil {
		t.Fatal(err)
	}
	if start < 0 || end < start || end > int64(len(data)) {
		t.Fatalf("%s: %s at [%d, %d) of %d bytes", pkg, name, start, end, len(data))
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, data[start:end], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
