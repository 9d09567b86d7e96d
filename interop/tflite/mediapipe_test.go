package tflite

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tf2onnx"
)

// TestMediaPipeFaceDetection converts the .tflite models of npm @mediapipe/face_detection
// (Apache-2.0; BlazeFace short range, full range, and full range with sparse float16
// weights) and compares Refit's runtime with ONNX Runtime on the same random image.
func TestMediaPipeFaceDetection(t *testing.T) {
	dir := filepath.Join(testtool.NodeModules(t, "@mediapipe/face_detection"), "@mediapipe", "face_detection")
	for _, name := range []string{"face_detection_short_range.tflite", "face_detection_full_range.tflite", "face_detection_full_range_sparse.tflite"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, name))
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
				t.Fatalf("TFLite: %v", err)
			}
			s, err := runtime.Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			inputs, err := runtime.RandomInputs(s, 7, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := runORT(t, mp, inputs)
			got := runRefit(t, mp, inputs)
			worst := compare(t, mp, got, want)
			if worst > 1e-3 {
				t.Errorf("max abs difference Refit vs ONNX Runtime %g", worst)
			}
			t.Logf("%d nodes; Refit runtime vs ONNX Runtime: max abs diff %.3g", len(mp.Graph.Node), worst)
		})
	}
}
