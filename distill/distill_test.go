package distill

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/runtime"
)

func loadData(t *testing.T, path string) *Data {
	t.Helper()
	m, err := refit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := FromModel(m, "input")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFewLabelsDistillationBeatsLabelsOnly(t *testing.T) {
	dir := filepath.Join("..", "testdata", "models")
	train := loadData(t, filepath.Join(dir, "distill", "transfer.npz")).KeepLabels(100)
	val := loadData(t, filepath.Join(dir, "mnist", "test.npz"))
	tmp, err := onnx.Load(refit.DirFS(filepath.Join(dir, "mnist")), "mnist_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := runtime.Load(tmp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	student, err := onnx.Load(refit.DirFS(filepath.Join(dir, "distill")), "student_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Labels only: 100 examples, 40 epochs (80 steps); distilled: 2000 examples (100
	// labeled), 4 epochs (128 steps). Both see the same held-out digits.
	run := func(alpha float64) float64 {
		epochs := 4
		if alpha == 0 {
			epochs = 40
		}
		_, res, err := Train(ctx, teacher, student, nil, train, val, &Options{Alpha: alpha, Epochs: epochs, LR: 3e-3, Seed: 1,
			Progress: func(s EpochStats) {
				if s.Epoch%4 == 0 {
					t.Logf("alpha %g: %+v", alpha, s)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Accuracy
	}
	base := run(0)
	dist := run(0.5)
	t.Logf("labels only %.3f, distilled %.3f", base, dist)
	if dist < base+0.03 {
		t.Errorf("distilled accuracy %.3f does not beat labels-only %.3f by 3 points", dist, base)
	}
}
