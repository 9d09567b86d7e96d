package tflite

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tf2onnx"
)

// TestQuantizedVsTFLite converts format/tflite's generated int8 (per-channel) and
// uint8 (per-tensor, asymmetric) models to ONNX QDQ graphs and compares ONNX Runtime
// and Refit's runtime with TFLite's own integer kernels (tfjs-tflite) on the same
// seeded random input, and with LiteRT.js's (a second build of those kernels). Each
// output is the DEQUANTIZE of a quantized tensor, so the bound is one quantization
// step of that tensor: TFLite's fixed-point requantization and the float arithmetic
// of QDQ may round a value to neighbouring steps.
func TestQuantizedVsTFLite(t *testing.T) {
	testtool.NodeModules(t, "@tensorflow/tfjs-tflite")
	for _, tc := range []struct {
		file  string
		steps []float64 // quantization step of each output
	}{
		{"quant_int8.tflite", []float64{1.0 / 256, 4.0 / 255}},
		{"quant_uint8.tflite", []float64{5.0 / 255}},
		{"quant_int8_ops.tflite", []float64{1.0 / 255, 1.2 / 255}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			modelPath, err := filepath.Abs(filepath.Join("..", "..", "format", "tflite", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(modelPath)
			if err != nil {
				t.Fatal(err)
			}
			mp, err := tf2onnx.TFLite(context.Background(), bytesReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("TFLite: %v", err)
			}
			ops := map[string]int{}
			for _, n := range mp.Graph.Node {
				ops[n.GetOpType()]++
			}
			if ops["QuantizeLinear"] == 0 || ops["DequantizeLinear"] == 0 {
				t.Fatalf("no QDQ in the converted graph: %v", ops)
			}
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(mp.Graph.Output) != len(tc.steps) {
				t.Fatalf("%d outputs, want %d", len(mp.Graph.Output), len(tc.steps))
			}
			for seed := uint64(1); seed <= 3; seed++ {
				inputs, err := runtime.RandomInputs(s, seed, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, ref := range []reference{tfjsTFLite, liteRTJS} {
					want := runReference(t, ref, modelPath, mp, inputs)
					for name, got := range map[string]map[string]*runtime.Value{"Refit runtime": runRefit(t, mp, inputs), "ONNX Runtime": runORT(t, mp, inputs)} {
						for k, o := range mp.Graph.Output {
							g, w := got[o.GetName()], want[o.GetName()]
							if g == nil || w == nil || !slices.Equal(g.Shape, w.Shape) {
								t.Fatalf("%s: output %q missing or of another shape", name, o.GetName())
							}
							worst, off := 0.0, 0
							gf, wf := g.Float32s(), w.Float32s()
							for i := range wf {
								d := math.Abs(float64(gf[i]) - float64(wf[i]))
								worst = max(worst, d)
								if d > tc.steps[k]*0.5 {
									off++
								}
							}
							if worst > tc.steps[k]*1.01 {
								t.Errorf("seed %d, %s vs %s, output %q: max abs diff %g > one step %g", seed, name, ref.pkg, o.GetName(), worst, tc.steps[k])
							}
							if seed == 1 {
								t.Logf("%s vs %s, output %q: max abs diff %.3g (%.2f steps), %d of %d values a step apart", name, ref.pkg, o.GetName(), worst, worst/tc.steps[k], off, len(wf))
							}
						}
					}
				}
			}
		})
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// TestCustomOpFixtures runs the ONNX graphs of MediaPipe's custom operators
// (format/tflite's generated fixtures; tf2onnx's tests check them against the
// operators' definitions in Refit's runtime) in ONNX Runtime, which must agree, and
// compares the two with LiteRT.js where it has kernels for the operators. LiteRT's
// XNNPACK kernel for MaxPoolingWithArgmax2D stores the indices as uint32 bits in the
// float tensor rather than MediaPipe's index + 0.1, so the indices output (only
// MaxUnpooling2D reads it) is left out of that comparison; the unpooled result is not.
func TestCustomOpFixtures(t *testing.T) {
	testtool.NodeModules(t, "onnxruntime-node")
	for _, tc := range []struct {
		file   string
		litert bool
	}{
		{"transpose_conv_bias.tflite", true},
		{"argmax_unpool.tflite", true},
		{"landmark_ops.tflite", false}, // LiteRT.js: "unresolved custom op: Landmarks2TransformMatrix"
		{"pool_ops.tflite", false},     // LiteRT.js: "filter width 3 does not match stride width 2"
	} {
		t.Run(tc.file, func(t *testing.T) {
			path, err := filepath.Abs(filepath.Join("..", "..", "format", "tflite", "testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mp, err := tf2onnx.TFLite(context.Background(), bytesReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("TFLite: %v", err)
			}
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := runtime.RandomInputs(s, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := runRefit(t, mp, inputs)
			d := compare(t, mp, got, runORT(t, mp, inputs))
			if d > 1e-5 {
				t.Errorf("Refit runtime vs ONNX Runtime: max abs diff %g", d)
			}
			if !tc.litert {
				t.Logf("Refit runtime vs ONNX Runtime: max abs diff %.3g", d)
				return
			}
			want := runReference(t, liteRTJS, path, mp, inputs)
			checked := &onnxpb.GraphProto{}
			for _, o := range mp.Graph.Output {
				if o.GetName() != "indices" {
					checked.Output = append(checked.Output, o)
				}
			}
			l := compare(t, &onnxpb.ModelProto{Graph: checked}, got, want)
			if l > 1e-5 {
				t.Errorf("Refit runtime vs LiteRT.js: max abs diff %g", l)
			}
			t.Logf("Refit runtime vs ONNX Runtime: max abs diff %.3g; vs LiteRT.js (%d outputs) %.3g", d, len(checked.Output), l)
		})
	}
}

// TestCustomOpFixturesORT runs the ONNX graphs of MediaPipe's custom operators
// (format/tflite's generated fixtures; tf2onnx's tests check them against the
// operators' definitions in Refit's runtime) in ONNX Runtime, which must agree.
func TestCustomOpFixturesORT(t *testing.T) {
	testtool.NodeModules(t, "onnxruntime-node")
	for _, file := range []string{"transpose_conv_bias.tflite", "landmark_ops.tflite", "pool_ops.tflite"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "format", "tflite", "testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			mp, err := tf2onnx.TFLite(context.Background(), bytesReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatalf("TFLite: %v", err)
			}
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := runtime.RandomInputs(s, 3, nil)
			if err != nil {
				t.Fatal(err)
			}
			d := compare(t, mp, runRefit(t, mp, inputs), runORT(t, mp, inputs))
			if d > 1e-5 {
				t.Errorf("Refit runtime vs ONNX Runtime: max abs diff %g", d)
			}
			t.Logf("Refit runtime vs ONNX Runtime: max abs diff %.3g", d)
		})
	}
}
