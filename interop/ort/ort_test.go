package ort

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph/eval"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/runtime"
)

// Float32 tolerances: |refit - ort| <= atol + rtol*|ort| for every element.
const (
	atol = 1e-4
	rtol = 1e-3
	// A top-1 disagreement counts only where ORT's best two logits are further apart
	// than this: a near tie may flip under any reordering of a sum.
	tieMargin = 1e-3
	seed      = 1
)

// model is one entry of the generator's models.json (plus the committed MNIST CNN).
type model struct {
	Name       string           `json:"name"`
	File       string           `json:"file"`
	Classifier bool             `json:"classifier"`
	Dims       map[string]int64 `json:"dims"`
	dir        string
	mnist      bool
}

func (m model) path() string { return filepath.Join(m.dir, m.File) }

var (
	genOnce   sync.Once
	genDir    string
	genModels []model
	genErr    error
)

// requireTools skips (or fails under REFIT_REQUIRE_TOOLS=1) without node,
// onnxruntime-node and Debian's python3 with torch and onnx; it returns NODE_PATH.
func requireTools(t *testing.T) string {
	t.Helper()
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	testtool.RequirePython(t, "torch", "onnx", "numpy")
	return nodeModules
}

// models returns every test model, exporting the generated ones once per cache folder
// ($TMPDIR/refit-ort-models-<generator hash>, shared by test runs and the benchmark).
func models(t *testing.T) []model {
	t.Helper()
	genOnce.Do(func() { genDir, genModels, genErr = generate() })
	if genErr != nil {
		t.Fatalf("generating models: %v", genErr)
	}
	ms := slices.Clone(genModels)
	mnistDir := filepath.Join(testtool.RepoRoot(), "testdata", "models", "mnist")
	return append(ms, model{Name: "mnist_cnn", File: "mnist_cnn.onnx", Classifier: true, dir: mnistDir, mnist: true})
}

func generate() (string, []model, error) {
	script := filepath.Join(testtool.RepoRoot(), "testdata", "gen", "ort_models.py")
	src, err := os.ReadFile(script)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(src)
	dir := filepath.Join(os.TempDir(), "refit-ort-models-"+hex.EncodeToString(sum[:6]))
	index := filepath.Join(dir, "models.json")
	if _, err := os.Stat(index); err != nil {
		// Export into a private folder and rename it into place: concurrent test
		// binaries never see a half-written cache.
		tmp, err := os.MkdirTemp(os.TempDir(), "refit-ort-models-tmp")
		if err != nil {
			return "", nil, err
		}
		defer os.RemoveAll(tmp)
		cmd := exec.Command(testtool.Python, script, tmp)
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("%s: %v\n%s", script, err, out)
		}
		if err := os.Rename(tmp, dir); err != nil {
			if _, statErr := os.Stat(index); statErr != nil {
				return "", nil, err
			}
		}
	}
	b, err := os.ReadFile(index)
	if err != nil {
		return "", nil, err
	}
	var ms []model
	if err := json.Unmarshal(b, &ms); err != nil {
		return "", nil, fmt.Errorf("%s: %w", index, err)
	}
	for i := range ms {
		ms[i].dir = dir
	}
	return dir, ms, nil
}

// inputs returns the seeded inputs of m: MNIST's first 32 test images, or, for the
// generated models, floats uniform in [-1, 1) and int64 ids in [0, 10) of the declared
// shapes (symbolic dimensions from m.Dims, else 1).
func inputs(t *testing.T, m model, mp *onnxpb.ModelProto) map[string]*runtime.Value {
	t.Helper()
	if m.mnist {
		return map[string]*runtime.Value{"input": mnistImages(t, m.dir, 32)}
	}
	inits := map[string]bool{}
	for _, in := range mp.GetGraph().GetInitializer() {
		inits[in.GetName()] = true
	}
	r := rand.New(rand.NewPCG(seed, 0x0e7))
	out := map[string]*runtime.Value{}
	for _, vi := range mp.GetGraph().GetInput() {
		if inits[vi.GetName()] {
			continue
		}
		tt := vi.GetType().GetTensorType()
		var shape []int64
		n := 1
		for _, d := range tt.GetShape().GetDim() {
			size := d.GetDimValue()
			if d.GetDimParam() != "" || size <= 0 {
				size = max(m.Dims[d.GetDimParam()], 1)
			}
			shape = append(shape, size)
			n *= int(size)
		}
		var data any
		switch tt.GetElemType() {
		case int32(onnxpb.TensorProto_FLOAT):
			f := make([]float32, n)
			for i := range f {
				f[i] = float32(r.Float64()*2 - 1)
			}
			data = f
		case int32(onnxpb.TensorProto_INT64):
			ids := make([]int64, n)
			for i := range ids {
				ids[i] = int64(r.IntN(10))
			}
			data = ids
		default:
			t.Fatalf("input %q: element type %s has no random generator", vi.GetName(), onnx.TypeName(tt.GetElemType()))
		}
		v, err := runtime.FromSlice(data, shape...)
		if err != nil {
			t.Fatal(err)
		}
		out[vi.GetName()] = v
	}
	return out
}

func mnistImages(t *testing.T, dir string, n int) *runtime.Value {
	t.Helper()
	m, err := numpy.DecodeFS(os.DirFS(dir), "test.npz", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tn := range m.Tensors {
		if tn.Name != "input" {
			continue
		}
		f, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(f) < n*28*28 {
			t.Fatalf("test.npz input has %d floats, want at least %d", len(f), n*28*28)
		}
		v, err := runtime.FromSlice(f[:n*28*28], int64(n), 1, 28, 28)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Fatal("test.npz has no array named input")
	return nil
}

// ortJob is one model run of ort_run.js.
type ortJob struct {
	Model   string            `json:"model"`
	Inputs  map[string]string `json:"inputs"`
	Outputs string            `json:"outputs,omitempty"`
}

type ortResult struct {
	Model    string            `json:"model"`
	Outputs  map[string]string `json:"outputs"`
	LoadMs   float64           `json:"load_ms"`
	MedianMs float64           `json:"median_ms"`
}

// writeInputs saves values as .npy files in dir and returns name -> path.
func writeInputs(t *testing.T, dir string, in map[string]*runtime.Value) map[string]string {
	t.Helper()
	files := map[string]string{}
	i := 0
	for _, name := range sortedKeys(in) {
		tn, err := in[name].Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := numpy.EncodeNPY(&buf, tn); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("in%d.npy", i))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = p
		i++
	}
	return files
}

// runORT runs jobs in one node process (one thread) and reads back every output.
func runORT(t *testing.T, nodeModules string, jobs []ortJob) []map[string]*runtime.Value {
	t.Helper()
	spec, err := json.Marshal(map[string]any{"threads": 1, "runs": 1, "jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v\n%s", err, stderr.Bytes())
	}
	var results []ortResult
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(jobs) {
		t.Fatalf("ort_run.js printed %q: %v", out, err)
	}
	all := make([]map[string]*runtime.Value, len(results))
	for i, r := range results {
		all[i] = map[string]*runtime.Value{}
		for name, p := range r.Outputs {
			all[i][name] = readNPY(t, p)
		}
	}
	return all
}

func readNPY(t *testing.T, p string) *runtime.Value {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := numpy.ReadNPY(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	v, err := runtime.FromTensor(tn)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

// runRefit runs mp in Refit's runtime. The error says which operators are missing.
func runRefit(mp *onnxpb.ModelProto, dir string, in map[string]*runtime.Value) (map[string]*runtime.Value, time.Duration, error) {
	sess, err := runtime.Load(mp, os.DirFS(dir), nil)
	if err != nil {
		if errors.Is(err, runtime.ErrUnknownOp) {
			return nil, 0, fmt.Errorf("Refit's runtime lacks operators this model needs: %w", err)
		}
		return nil, 0, fmt.Errorf("runtime.Load: %w", err)
	}
	start := time.Now()
	out, err := sess.Run(context.Background(), in)
	if err != nil {
		return nil, 0, fmt.Errorf("Session.Run: %w", err)
	}
	return out, time.Since(start), nil
}

// agreement is how far one output is from its reference.
type agreement struct {
	maxAbs, maxRel float64
	bad            int // elements outside atol + rtol*|want|
	firstBad       int
	rows, top1     int // classifier rows, and rows whose argmax agrees
	top1Bad        int // disagreements where the reference has a clear winner
}

func compare(got, want *runtime.Value) (agreement, error) {
	var a agreement
	if !slices.Equal(got.Shape, want.Shape) || got.DType != want.DType {
		return a, fmt.Errorf("got %v, want %v", got, want)
	}
	g, w := got.AsFloat64s(), want.AsFloat64s()
	a.firstBad = -1
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(g[i]) != math.IsNaN(w[i]) {
			d = math.Inf(1)
		} else if math.IsNaN(w[i]) {
			d = 0
		}
		a.maxAbs = max(a.maxAbs, d)
		if w[i] != 0 {
			a.maxRel = max(a.maxRel, d/math.Abs(w[i]))
		}
		if d > atol+rtol*math.Abs(w[i]) {
			if a.bad == 0 {
				a.firstBad = i
			}
			a.bad++
		}
	}
	if len(want.Shape) > 0 {
		cols := int(want.Shape[len(want.Shape)-1])
		for r := 0; cols > 0 && r+cols <= len(w); r += cols {
			a.rows++
			gi, wi := argmax(g[r:r+cols]), argmax(w[r:r+cols])
			if gi == wi {
				a.top1++
			} else if margin(w[r:r+cols]) > tieMargin {
				a.top1Bad++
			}
		}
	}
	return a, nil
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// margin is the gap between the two largest values.
func margin(x []float64) float64 {
	first, second := math.Inf(-1), math.Inf(-1)
	for _, v := range x {
		if v > first {
			first, second = v, first
		} else if v > second {
			second = v
		}
	}
	return first - second
}

// checkOutputs compares every output of got against want and reports the figures.
func checkOutputs(t *testing.T, label string, classifier bool, got, want map[string]*runtime.Value) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d outputs, want %d", label, len(got), len(want))
	}
	for _, name := range sortedKeys(want) {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: output %q missing", label, name)
			continue
		}
		a, err := compare(g, want[name])
		if err != nil {
			t.Errorf("%s: output %q: %v", label, name, err)
			continue
		}
		msg := fmt.Sprintf("%s: output %q %v (max |ref| %.3g): max abs err %.3g, max rel err %.3g",
			label, name, want[name], maxMagnitude(want[name]), a.maxAbs, a.maxRel)
		if classifier {
			msg += fmt.Sprintf(", top-1 agreement %d/%d", a.top1, a.rows)
		}
		t.Log(msg)
		if a.bad > 0 {
			gi, wi := g.AsFloat64s()[a.firstBad], want[name].AsFloat64s()[a.firstBad]
			t.Errorf("%s: output %q: %d elements outside atol %g + rtol %g (first: [%d] = %v, want %v)",
				label, name, a.bad, atol, rtol, a.firstBad, gi, wi)
		}
		if classifier && a.top1Bad > 0 {
			t.Errorf("%s: output %q: top-1 differs in %d of %d rows with a clear winner", label, name, a.top1Bad, a.rows)
		}
	}
}

func maxMagnitude(v *runtime.Value) float64 {
	m := 0.0
	for _, x := range v.AsFloat64s() {
		m = max(m, math.Abs(x))
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestAgreement runs every model through Refit's runtime and ONNX Runtime on the same
// seeded inputs and compares all outputs.
func TestAgreement(t *testing.T) {
	nodeModules := requireTools(t)
	for _, m := range models(t) {
		t.Run(m.Name, func(t *testing.T) {
			// Weights left in the file's read-only mapping, as refit run loads them:
			// a kernel writing into an initializer would fault.
			fsys, base := refit.FileFS(m.path())
			mp, files, err := onnx.LoadMapped(fsys, base)
			if err != nil {
				t.Fatal(err)
			}
			defer files.Close()
			in := inputs(t, m, mp)
			dir := t.TempDir()
			want := runORT(t, nodeModules, []ortJob{{Model: m.path(), Inputs: writeInputs(t, dir, in), Outputs: dir}})[0]
			got, took, err := runRefit(mp, m.dir, in)
			if err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
			t.Logf("Refit run took %v", took.Round(time.Millisecond))
			checkOutputs(t, "refit vs ort", m.Classifier, got, want)
			if m.mnist {
				checkMNISTAccuracy(t, m.dir, got["logits"])
			}
		})
	}
}

// checkMNISTAccuracy checks that the trained CNN classifies the test images well under
// Refit's runtime: a wrong-but-agreeing runtime would not.
func checkMNISTAccuracy(t *testing.T, dir string, logits *runtime.Value) {
	t.Helper()
	m, err := numpy.DecodeFS(os.DirFS(dir), "test.npz", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var labels []int64
	for _, tn := range m.Tensors {
		if tn.Name == "label" {
			lv, err := runtime.FromTensor(tn)
			if err != nil {
				t.Fatal(err)
			}
			labels = lv.Int64s()
		}
	}
	if logits == nil || len(labels) == 0 {
		t.Fatal("missing logits or labels")
	}
	l := logits.AsFloat64s()
	rows := len(l) / 10
	correct := 0
	for r := 0; r < rows; r++ {
		if int64(argmax(l[r*10:r*10+10])) == labels[r] {
			correct++
		}
	}
	t.Logf("MNIST accuracy under Refit: %d/%d", correct, rows)
	if correct*10 < rows*9 {
		t.Errorf("MNIST accuracy %d/%d, want at least 90%%", correct, rows)
	}
}

// variant is an ONNX file Refit wrote from a model.
type variant struct {
	name  string
	path  string
	exact bool // must match ORT's outputs on the original bit for bit
}

// TestWrittenModels checks the ONNX files Refit writes: a refit.Model decode/encode
// round trip, onnx.WriteModel of the loaded proto, and optimize.Model's output must
// pass onnx.checker.check_model, load in ONNX Runtime, and give the original's outputs
// there; the optimized model must also agree under Refit's runtime.
func TestWrittenModels(t *testing.T) {
	nodeModules := requireTools(t)
	for _, m := range models(t) {
		t.Run(m.Name, func(t *testing.T) {
			dir := t.TempDir()
			variants := writeVariants(t, m, dir)
			mp, err := onnx.Load(os.DirFS(m.dir), m.File)
			if err != nil {
				t.Fatal(err)
			}
			in := inputs(t, m, mp)
			inFiles := writeInputs(t, dir, in)
			jobs := []ortJob{{Model: m.path(), Inputs: inFiles, Outputs: filepath.Join(dir, "out-original")}}
			for _, v := range variants {
				jobs = append(jobs, ortJob{Model: v.path, Inputs: inFiles, Outputs: filepath.Join(dir, "out-"+v.name)})
			}
			outs := runORT(t, nodeModules, jobs)
			want := outs[0]
			for i, v := range variants {
				got := outs[i+1]
				if v.exact {
					for name, w := range want {
						if g := got[name]; g == nil || !bytes.Equal(g.Bytes(), w.Bytes()) {
							t.Errorf("ORT(%s) output %q differs from ORT(original)", v.name, name)
						}
					}
					continue
				}
				checkOutputs(t, "ort("+v.name+") vs ort(original)", m.Classifier, got, want)
			}
			checkModels(t, variants)
			for _, v := range variants {
				if v.exact {
					continue
				}
				vp, err := onnx.Load(os.DirFS(filepath.Dir(v.path)), filepath.Base(v.path))
				if err != nil {
					t.Fatalf("onnx.Load(%s): %v", v.name, err)
				}
				got, _, err := runRefit(vp, filepath.Dir(v.path), in)
				if err != nil {
					t.Errorf("%s: %v", v.name, err)
					continue
				}
				checkOutputs(t, "refit("+v.name+") vs ort(original)", m.Classifier, got, want)
			}
		})
	}
}

// writeVariants writes m four ways into dir: onnx.EncodeFile of the decoded
// refit.Model, onnx.WriteModel of the loaded proto, and optimize.Model's output
// without and with constant folding (evaluated by Refit's runtime).
func writeVariants(t *testing.T, m model, dir string) []variant {
	t.Helper()
	fsys := os.DirFS(m.dir)
	var out []variant

	rm, err := onnx.DecodeFS(fsys, m.File, nil)
	if err != nil {
		t.Fatalf("onnx.DecodeFS: %v", err)
	}
	p := filepath.Join(dir, "encode.onnx")
	if err := onnx.EncodeFile(p, rm, nil); err != nil {
		t.Fatalf("onnx.EncodeFile: %v", err)
	}
	rm.Close()
	out = append(out, variant{"encode", p, true})

	mp, err := onnx.Load(fsys, m.File)
	if err != nil {
		t.Fatal(err)
	}
	p = filepath.Join(dir, "writemodel.onnx")
	writeModel(t, p, mp)
	out = append(out, variant{"writemodel", p, true})

	opt, rep, err := optimize.Model(context.Background(), mp, &optimize.Options{})
	if err != nil {
		t.Fatalf("optimize.Model: %v", err)
	}
	t.Logf("optimize: %d -> %d nodes, %d -> %d initializers", rep.NodesBefore, rep.NodesAfter, rep.InitializersBefore, rep.InitializersAfter)
	p = filepath.Join(dir, "optimized.onnx")
	writeModel(t, p, opt)
	out = append(out, variant{"optimized", p, false})

	folded, rep, err := optimize.Model(context.Background(), mp, &optimize.Options{Fold: eval.Node})
	if err != nil {
		t.Fatalf("optimize.Model with folding: %v", err)
	}
	t.Logf("optimize with folding: %d -> %d nodes, %d -> %d initializers", rep.NodesBefore, rep.NodesAfter, rep.InitializersBefore, rep.InitializersAfter)
	p = filepath.Join(dir, "folded.onnx")
	writeModel(t, p, folded)
	out = append(out, variant{"folded", p, false})
	return out
}

func writeModel(t *testing.T, p string, mp *onnxpb.ModelProto) {
	t.Helper()
	var buf bytes.Buffer
	if err := onnx.WriteModel(&buf, mp, nil); err != nil {
		t.Fatalf("onnx.WriteModel: %v", err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkModels runs onnx.checker.check_model (with shape inference) on every variant.
func checkModels(t *testing.T, vs []variant) {
	t.Helper()
	args := make([]string, len(vs))
	for i, v := range vs {
		args[i] = v.path
	}
	out := testtool.RunPython(t, checkScript, args...)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(vs) {
		t.Fatalf("onnx checker printed %d lines for %d models: %q", len(lines), len(vs), out)
	}
	for i, line := range lines {
		if line != "ok" {
			t.Errorf("onnx.checker.check_model(%s): %s", vs[i].name, line)
		}
	}
}

const checkScript = `
import sys, onnx
for p in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(p), full_check=True)
        print("ok")
    except Exception as e:
        print(type(e).__name__ + ": " + str(e).replace("\n", " ")[:500])
`

// TestMissingOperatorMessage checks that a model the runtime cannot run fails with an
// error naming the operator, not a vague one (needs no external tools).
func TestMissingOperatorMessage(t *testing.T) {
	node := &onnxpb.NodeProto{OpType: proto.String("Frobnicate"), Input: []string{"x"}, Output: []string{"y"}}
	mp := &onnxpb.ModelProto{
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:   proto.String("missing"),
			Node:   []*onnxpb.NodeProto{node},
			Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("x")}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
		},
	}
	x, err := runtime.FromSlice([]float32{1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runRefit(mp, t.TempDir(), map[string]*runtime.Value{"x": x})
	if !errors.Is(err, runtime.ErrUnknownOp) {
		t.Fatalf("runRefit(Frobnicate model) = %v, want an error wrapping runtime.ErrUnknownOp", err)
	}
	if !strings.Contains(err.Error(), "Frobnicate") {
		t.Errorf("error %q does not name the missing operator", err)
	}
}
