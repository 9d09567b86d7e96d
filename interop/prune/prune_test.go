package prune

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
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/distill"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/prune"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

// Float32 tolerances, as in interop/ort: |refit - ort| <= atol + rtol*|ort|.
const (
	atol    = 1e-4
	rtol    = 1e-3
	nImages = 64
)

var (
	mnistDir   = filepath.Join(testtool.RepoRoot(), "testdata", "models", "mnist")
	distillDir = filepath.Join(testtool.RepoRoot(), "testdata", "models", "distill")
)

// requireORT skips (or fails under REFIT_REQUIRE_TOOLS=1) without node and
// onnxruntime-node; it returns NODE_PATH.
func requireORT(t *testing.T) string {
	t.Helper()
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	return nodeModules
}

// mnistTest returns the first n test images [n,1,28,28] and their labels.
func mnistTest(t *testing.T, n int) (*runtime.Value, []int64) {
	t.Helper()
	m, err := numpy.DecodeFS(os.DirFS(mnistDir), "test.npz", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	x, lab := m.Tensor("input"), m.Tensor("label")
	if x == nil || lab == nil {
		t.Fatal("test.npz lacks input or label")
	}
	f, err := x.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if len(f) < n*28*28 || len(l) < n {
		t.Fatalf("test.npz has %d floats and %d labels, want %d images", len(f), len(l), n)
	}
	v, err := runtime.FromSlice(slices.Clone(f[:n*28*28]), int64(n), 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	labels := make([]int64, n)
	for i := range labels {
		labels[i] = int64(l[i])
	}
	return v, labels
}

// runORT runs model on the "input" feed through interop/ort/ort_run.js and returns
// its first output.
func runORT(t *testing.T, nodeModules, model string, in *runtime.Value) *runtime.Value {
	t.Helper()
	dir := t.TempDir()
	tn, err := in.Tensor("input")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := numpy.EncodeNPY(&buf, tn); err != nil {
		t.Fatal(err)
	}
	inPath := filepath.Join(dir, "input.npy")
	if err := os.WriteFile(inPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]any{"threads": 1, "runs": 1, "jobs": []any{
		map[string]any{"model": model, "inputs": map[string]string{"input": inPath}, "outputs": dir}}})
	specPath := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if _, err := cmd.Output(); err != nil {
		t.Fatalf("ONNX Runtime on %s: %v\n%s", model, err, stderr.Bytes())
	}
	b, err := os.ReadFile(filepath.Join(dir, "out0.npy"))
	if err != nil {
		t.Fatal(err)
	}
	ot, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := runtime.FromTensor(ot)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// runRefit loads the ONNX file at path in Refit's runtime and runs it on in.
func runRefit(t *testing.T, path string, in *runtime.Value) *runtime.Value {
	t.Helper()
	mp, err := onnx.Load(refit.DirFS(filepath.Dir(path)), filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.Load(mp, refit.DirFS(filepath.Dir(path)), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*runtime.Value{s.Inputs()[0].Name: in})
	if err != nil {
		t.Fatal(err)
	}
	return out[s.Outputs()[0].Name]
}

// agree compares Refit's and ORT's logits element by element and returns the
// accuracy of each on labels and the largest absolute difference.
func agree(t *testing.T, label string, got, want *runtime.Value, labels []int64) (accRefit, accORT, maxAbs float64) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) || len(want.Shape) != 2 {
		t.Fatalf("%s: refit %v, ort %v", label, got, want)
	}
	g, w := got.AsFloat64s(), want.AsFloat64s()
	bad := 0
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = max(maxAbs, d)
		if d > atol+rtol*math.Abs(w[i]) {
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d outputs differ beyond atol %g + rtol %g (max abs %.3g)", label, bad, len(w), atol, rtol, maxAbs)
	}
	cols := int(want.Shape[1])
	var okR, okO int
	for r := range labels {
		if compare.Argmax(g[r*cols:(r+1)*cols]) == int(labels[r]) {
			okR++
		}
		if compare.Argmax(w[r*cols:(r+1)*cols]) == int(labels[r]) {
			okO++
		}
	}
	return float64(okR) / float64(len(labels)), float64(okO) / float64(len(labels)), maxAbs
}

func writeProto(t *testing.T, path string, mp *onnxpb.ModelProto) {
	t.Helper()
	if err := onnx.WriteModelFile(path, mp, nil); err != nil {
		t.Fatal(err)
	}
}

func initializerCount(mp *onnxpb.ModelProto) int64 {
	var n int64
	for _, in := range mp.GetGraph().GetInitializer() {
		c := int64(1)
		for _, d := range in.GetDims() {
			c *= d
		}
		n += c
	}
	return n
}

// TestPrunedONNXInORT prunes the MNIST CNNs every way, writes them, and checks that
// ONNX Runtime loads them and gives Refit's runtime outputs on the test digits.
func TestPrunedONNXInORT(t *testing.T) {
	nodeModules := requireORT(t)
	in, labels := mnistTest(t, nImages)
	ctx := context.Background()
	for _, src := range []string{"mnist_cnn.onnx", "mnist_cnn_bn.onnx"} {
		orig := runORT(t, nodeModules, filepath.Join(mnistDir, src), in)
		_, origAcc, _ := agree(t, src+" original", runRefit(t, filepath.Join(mnistDir, src), in), orig, labels)
		t.Logf("%s: original accuracy %.3f on %d test digits", src, origAcc, nImages)
		for _, method := range []string{"structured", "magnitude", "global", "nm"} {
			t.Run(strings.TrimSuffix(src, ".onnx")+"/"+method, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "pruned.onnx")
				mp, err := onnx.Load(refit.DirFS(mnistDir), src)
				if err != nil {
					t.Fatal(err)
				}
				var detail string
				if method == "structured" {
					pm, rep, err := prune.Structured(ctx, mp, refit.DirFS(mnistDir), &prune.StructuredOptions{Sparsity: 0.5})
					if err != nil {
						t.Fatal(err)
					}
					writeProto(t, out, pm)
					before, after := initializerCount(mp), initializerCount(pm)
					if after >= before || rep.ParamsAfter != after {
						t.Errorf("parameters %d -> %d (report %d): want fewer, matching the report", before, after, rep.ParamsAfter)
					}
					for _, l := range rep.Layers {
						if l.NewShape == nil || l.NewShape[0] != (l.Shape[0]+1)/2 && l.NewShape[0] != l.Shape[0]/2 {
							t.Errorf("%s: %v -> %v, want half the output channels", l.Name, l.Shape, l.NewShape)
						}
					}
					detail = fmt.Sprintf("parameters %d -> %d, %d layers cut", before, after, len(rep.Layers))
				} else {
					m, err := onnx.DecodeFS(refit.DirFS(mnistDir), src, nil)
					if err != nil {
						t.Fatal(err)
					}
					defer m.Close()
					meth, _ := prune.ParseMethod(method)
					o := &prune.Options{Method: meth, Sparsity: 0.5}
					if meth == prune.NM {
						// The first conv has one input channel: 4 does not divide it.
						o.N, o.M, o.Exclude = 2, 4, regexp.MustCompile(`^onnx::Conv_32$|conv1`)
					}
					pm, rep, err := prune.Weights(m, o)
					if err != nil {
						t.Fatal(err)
					}
					if err := onnx.EncodeFile(out, pm, nil); err != nil {
						t.Fatal(err)
					}
					// The written file holds the zeros the report claims.
					back, err := onnx.DecodeFS(refit.DirFS(filepath.Dir(out)), filepath.Base(out), nil)
					if err != nil {
						t.Fatal(err)
					}
					defer back.Close()
					var zeros, n int64
					for _, l := range rep.Layers {
						f, err := back.Tensor(l.Name).Float32s()
						if err != nil {
							t.Fatal(err)
						}
						z := int64(0)
						for _, v := range f {
							if v == 0 {
								z++
							}
						}
						if z != l.ZerosAfter {
							t.Errorf("%s: %d zeros in the file, report says %d", l.Name, z, l.ZerosAfter)
						}
						zeros += z
						n += int64(len(f))
					}
					if s := float64(zeros) / float64(n); math.Abs(s-0.5) > 0.01 {
						t.Errorf("sparsity of the pruned tensors %.4f, want 0.5", s)
					}
					detail = fmt.Sprintf("%d layers, sparsity %.4f", len(rep.Layers), float64(zeros)/float64(n))
				}
				want := runORT(t, nodeModules, out, in)
				got := runRefit(t, out, in)
				accR, accO, maxAbs := agree(t, method, got, want, labels)
				st, _ := os.Stat(out)
				t.Logf("%s %s: %s; %d bytes; accuracy refit %.3f ort %.3f (original %.3f); max |refit-ort| %.3g",
					src, method, detail, st.Size(), accR, accO, origAcc, maxAbs)
				if accR != accO {
					t.Errorf("accuracy refit %.3f, ort %.3f", accR, accO)
				}
			})
		}
	}
}

// TestDistilledStudentInORT trains the committed student CNN for one short epoch
// against the MNIST teacher and checks that ORT runs the result like Refit does.
func TestDistilledStudentInORT(t *testing.T) {
	nodeModules := requireORT(t)
	ctx := context.Background()
	tm, err := onnx.Load(refit.DirFS(mnistDir), "mnist_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	teacher, err := runtime.Load(tm, refit.DirFS(mnistDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	student, err := onnx.Load(refit.DirFS(distillDir), "student_cnn.onnx")
	if err != nil {
		t.Fatal(err)
	}
	dm, err := refit.Open(filepath.Join(distillDir, "transfer.npz"))
	if err != nil {
		t.Fatal(err)
	}
	defer dm.Close()
	data, err := distill.FromModel(dm, "input")
	if err != nil {
		t.Fatal(err)
	}
	// 256 examples, one epoch.
	e := int(tensor.Shape(data.Shape[1:]).Elements())
	small := &distill.Data{X: data.X[:256*e], Shape: append([]int64{256}, data.Shape[1:]...)}
	if data.Labels != nil {
		small.Labels = data.Labels[:256]
	}
	trained, res, err := distill.Train(ctx, teacher, student, refit.DirFS(distillDir), small, nil,
		&distill.Options{Alpha: 0.9, Epochs: 1, BatchSize: 32, LR: 3e-3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "student.onnx")
	writeProto(t, out, trained)
	in, labels := mnistTest(t, nImages)
	before := runRefit(t, filepath.Join(distillDir, "student_cnn.onnx"), in)
	got := runRefit(t, out, in)
	want := runORT(t, nodeModules, out, in)
	accR, accO, maxAbs := agree(t, "distilled student", got, want, labels)
	changed := 0
	for i, v := range got.Float32s() {
		if v != before.Float32s()[i] {
			changed++
		}
	}
	if changed == 0 {
		t.Error("training left the student's outputs unchanged")
	}
	t.Logf("distilled student (1 epoch, 256 examples, loss %.4f): accuracy refit %.3f ort %.3f; max |refit-ort| %.3g",
		res.Epochs[0].Loss, accR, accO, maxAbs)
}

// TestPrunedPyTorchInTorch writes pruned PyTorch checkpoints and loads them in
// Debian's torch with weights_only=True: same keys, shapes and dtypes as the
// original, exactly the reported zeros, and the original values wherever kept.
func TestPrunedPyTorchInTorch(t *testing.T) {
	testtool.RequirePython(t, "torch")
	srcPath := filepath.Join(mnistDir, "mnist_cnn.pt")
	for _, tc := range []struct {
		name string
		opts prune.Options
		want float64 // sparsity of the selected tensors
	}{
		{"global50", prune.Options{Method: prune.Global, Sparsity: 0.5}, 0.5},
		{"magnitude70", prune.Options{Method: prune.Magnitude, Sparsity: 0.7}, 0.7},
		{"nm24", prune.Options{Method: prune.NM, N: 2, M: 4, Exclude: regexp.MustCompile(`conv1`)}, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := refit.Open(srcPath)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			pm, rep, err := prune.Weights(src, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "pruned.pt")
			var buf bytes.Buffer
			if err := pytorch.Encode(&buf, pm, nil); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			res := testtool.RunPython(t, torchCheck, srcPath, out)
			var got struct {
				Keys    int              `json:"keys"`
				Zeros   map[string]int64 `json:"zeros"`
				Numel   map[string]int64 `json:"numel"`
				Changed map[string]int64 `json:"changed"`
				Same    bool             `json:"same_keys_shapes_dtypes"`
			}
			if err := json.Unmarshal(res, &got); err != nil {
				t.Fatalf("python printed %q: %v", res, err)
			}
			if !got.Same || got.Keys != len(src.Tensors) {
				t.Errorf("torch sees %d keys (same keys/shapes/dtypes %v), want %d", got.Keys, got.Same, len(src.Tensors))
			}
			var zeros, n int64
			for _, l := range rep.Layers {
				if got.Zeros[l.Name] != l.ZerosAfter {
					t.Errorf("%s: torch counts %d zeros, report %d", l.Name, got.Zeros[l.Name], l.ZerosAfter)
				}
				zeros += got.Zeros[l.Name]
				n += got.Numel[l.Name]
			}
			for name, c := range got.Changed {
				if c != 0 {
					t.Errorf("%s: %d kept values differ from the original", name, c)
				}
			}
			s := float64(zeros) / float64(n)
			if math.Abs(s-tc.want) > 0.005 {
				t.Errorf("sparsity in torch %.4f, want %.2f", s, tc.want)
			}
			t.Logf("%s: torch.load(weights_only=True) ok, %d tensors, sparsity of %d pruned tensors %.4f (%d of %d zero)",
				tc.name, got.Keys, len(rep.Layers), s, zeros, n)
		})
	}
}

// torchCheck loads the original and the pruned checkpoint with weights_only=True and
// prints, per tensor, its zeros and the kept values that differ from the original.
const torchCheck = `
import json, sys, torch
torch.set_num_threads(1)
a = torch.load(sys.argv[1], weights_only=True)
b = torch.load(sys.argv[2], weights_only=True)
same = list(a.keys()) == list(b.keys()) and all(
    a[k].shape == b[k].shape and a[k].dtype == b[k].dtype for k in a)
zeros, numel, changed = {}, {}, {}
for k, v in b.items():
    zeros[k] = int((v == 0).sum())
    numel[k] = v.numel()
    kept = v != 0
    changed[k] = int((v[kept] != a[k][kept]).sum())
print(json.dumps({"keys": len(b), "zeros": zeros, "numel": numel, "changed": changed,
                  "same_keys_shapes_dtypes": same}))
`
