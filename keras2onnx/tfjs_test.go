package keras2onnx

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/keras"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/runtime"
)

// TestTFJSFixtures converts the models testdata/gen/tfjs_layers.js built with
// @tensorflow/tfjs and compares Refit's runtime on the ONNX graph with the outputs
// TF.js computed (y.npy) on the same inputs (x.npy).
func TestTFJSFixtures(t *testing.T) {
	dirs, err := filepath.Glob("testdata/tfjs/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			mp, got, want := runFixture(t, dir)
			if len(got) != len(want) {
				t.Fatalf("output has %d values, TF.js %d", len(got), len(want))
			}
			worst := 0.0
			for i := range want {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				worst = math.Max(worst, d)
				if d > 1e-4+1e-4*math.Abs(float64(want[i])) {
					t.Fatalf("output[%d] = %g, TF.js %g", i, got[i], want[i])
				}
			}
			t.Logf("%d nodes, %d Transposes, max abs error %.2g", len(mp.Graph.Node), countOps(mp, "Transpose"), worst)
		})
	}
}

// TestKerasFixtures converts the same models written as legacy .h5 and Keras 3 .keras
// files (testdata/gen/tfjs_to_keras.py) through format/keras and compares with TF.js.
func TestKerasFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/keras/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m, err := refit.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mp, err := ConvertModel(m, nil)
			if err != nil {
				t.Fatalf("ConvertModel: %v", err)
			}
			dir := filepath.Join("testdata", "tfjs", strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)))
			got := runWith(t, mp, dir)
			want, _ := readNPY(t, filepath.Join(dir, "y.npy"))
			if len(got) != len(want) {
				t.Fatalf("output has %d values, TF.js %d", len(got), len(want))
			}
			for i := range want {
				if d := math.Abs(float64(got[i]) - float64(want[i])); d > 1e-4+1e-4*math.Abs(float64(want[i])) {
					t.Fatalf("output[%d] = %g, TF.js %g", i, got[i], want[i])
				}
			}
		})
	}
}

// TestTorchRefFixtures converts the .h5 models of layers TF.js lacks
// (testdata/gen/keras_torchref.py) and compares with the reference computed in torch.
func TestTorchRefFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/torchref/*.h5")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			m, err := refit.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mp, err := ConvertModel(m, nil)
			if err != nil {
				t.Fatalf("ConvertModel: %v", err)
			}
			dir := strings.TrimSuffix(file, ".h5")
			got := runWith(t, mp, dir)
			want, _ := readNPY(t, filepath.Join(dir, "y.npy"))
			worst := 0.0
			for i := range want {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				worst = math.Max(worst, d)
				if d > 1e-5+1e-5*math.Abs(float64(want[i])) {
					t.Fatalf("output[%d] = %g, torch %g", i, got[i], want[i])
				}
			}
			t.Logf("max abs error vs torch %.2g", worst)
		})
	}
}

func countOps(mp *onnxpb.ModelProto, op string) int {
	n := 0
	for _, node := range mp.Graph.Node {
		if node.GetOpType() == op {
			n++
		}
	}
	return n
}

func readNPY(t *testing.T, file string) ([]float32, []int64) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	tn, err := numpy.ReadNPY(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	v, err := tn.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v, tn.Shape
}

func runFixture(t *testing.T, dir string) (*onnxpb.ModelProto, []float32, []float32) {
	t.Helper()
	m, err := tfjs.DecodeFS(os.DirFS(dir), "model.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mp, err := ConvertModel(m, nil)
	if err != nil {
		t.Fatalf("ConvertModel: %v", err)
	}
	want, _ := readNPY(t, filepath.Join(dir, "y.npy"))
	return mp, runWith(t, mp, dir), want
}

// runWith runs mp in Refit's runtime on dir/x.npy, checking the output shape against dir/y.npy.
func runWith(t *testing.T, mp *onnxpb.ModelProto, dir string) []float32 {
	t.Helper()
	sess, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	x, xs := readNPY(t, filepath.Join(dir, "x.npy"))
	_, ws := readNPY(t, filepath.Join(dir, "y.npy"))
	in, err := runtime.FromSlice(x, xs...)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := sess.Run(context.Background(), map[string]*runtime.Value{mp.Graph.Input[0].GetName(): in})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	y := outs[mp.Graph.Output[0].GetName()]
	if len(y.Shape) != len(ws) {
		t.Fatalf("output shape %v, TF.js %v", y.Shape, ws)
	}
	for i := range ws {
		if y.Shape[i] != ws[i] {
			t.Fatalf("output shape %v, TF.js %v", y.Shape, ws)
		}
	}
	return y.Float32s()
}
