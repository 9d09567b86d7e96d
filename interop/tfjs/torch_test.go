package tfjs

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/keras2onnx"
	"github.com/refit-ml/refit/onnx2torch"
)

// torchRun loads the generated module with its state_dict in Debian's torch, runs it on
// argv[2] and saves the output as DIR/y.npy.
const torchRun = `
import sys, importlib.util, numpy as np, torch
torch.set_num_threads(1)
d = sys.argv[1]
spec = importlib.util.spec_from_file_location("model", d + "/model.py")
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
m = mod.KerasModel(); m.load_state_dict(torch.load(d + "/weights.pt")); m.eval()
with torch.no_grad():
    y = m(torch.from_numpy(np.load(sys.argv[2])))
np.save(d + "/y.npy", y.numpy().astype("<f4"))
`

// TestFixturesTorch generates model.py + weights.pt (onnx2torch) for the TF.js layer
// fixtures, runs them in Debian's torch and compares with TF.js's outputs. Fixtures
// with operators onnx2torch does not translate (RNNs, TF.js bilinear resizing) skip.
func TestFixturesTorch(t *testing.T) {
	testtool.RequirePython(t, "torch", "numpy")
	dirs, err := filepath.Glob(filepath.Join(testtool.RepoRoot(), "keras2onnx", "testdata", "tfjs", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := tfjs.DecodeFS(os.DirFS(dir), "model.json", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mp, err := keras2onnx.ConvertModel(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			writeTorch(t, mp, out)
			testtool.RunPython(t, torchRun, out, filepath.Join(dir, "x.npy"))
			got, gs := readNPY(t, filepath.Join(out, "y.npy"))
			want, ws := readNPY(t, filepath.Join(dir, "y.npy"))
			if len(got) != len(want) || len(gs) != len(ws) {
				t.Fatalf("torch output shape %v, TF.js %v", gs, ws)
			}
			worst := 0.0
			for i := range want {
				d := math.Abs(float64(got[i]) - float64(want[i]))
				worst = math.Max(worst, d)
				if d > 1e-4+1e-4*math.Abs(float64(want[i])) {
					t.Fatalf("torch output[%d] = %g, TF.js %g", i, got[i], want[i])
				}
			}
			t.Logf("torch vs TF.js max abs error %.2g", worst)
		})
	}
}

// writeTorch writes dir/model.py and dir/weights.pt for mp, skipping the test when
// onnx2torch does not translate one of its operators.
func writeTorch(t *testing.T, mp *onnxpb.ModelProto, dir string) {
	t.Helper()
	code, sd, err := onnx2torch.Generate(mp)
	if errors.Is(err, refit.ErrUnsupported) {
		t.Skipf("not generated: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.py"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "weights.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pytorch.Encode(f, sd, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
