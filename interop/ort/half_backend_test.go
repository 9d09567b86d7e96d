package ort

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/runtime"
)

// backendRoot is Debian's libonnx-testdata (the ONNX backend test cases).
const backendRoot = "/usr/share/libonnx-testdata/data"

// halfCase is one backend test case converted to float16.
type halfCase struct {
	name      string
	orig, f16 string // model paths
	inputs    map[string]string
	want      []*runtime.Value // expected outputs, in graph order
	outNames  []string
}

// TestHalfBackendCases converts every backend test case that Refit's runtime passes
// and that computes on float32 tensors to float16 (float32 I/O kept), then checks that
// Refit's runtime and ONNX Runtime both run the result wherever ONNX Runtime runs
// the original, with outputs of the declared types and shapes. How many cases stay
// within float16 error of the expected outputs is logged.
func TestHalfBackendCases(t *testing.T) {
	nodeModules := requireTools(t)
	if _, err := os.Stat(backendRoot); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is required (REFIT_REQUIRE_TOOLS=1): %v", backendRoot, err)
		}
		t.Skipf("skipping: %s missing (Debian package libonnx-testdata)", backendRoot)
	}
	pass, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "runtime", "testdata", "conformance_pass.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var cases []halfCase
	converted, close := 0, 0
	var far []string
	for _, line := range strings.Split(string(pass), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, ok := prepareHalfCase(t, line, dir)
		if !ok {
			continue
		}
		converted++
		got, _, err := runRefit(mustLoad(t, c.f16), dir, readFeeds(t, c))
		if err != nil {
			t.Errorf("%s: Refit's runtime fails on the float16 model: %v", c.name, err)
			continue
		}
		within := true
		for i, name := range c.outNames {
			g, w := got[name], c.want[i]
			if g == nil || g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) {
				t.Errorf("%s: output %s = %v, want %v", c.name, name, g, w)
				within = false
				continue
			}
			within = within && halfClose(g, w)
		}
		if within {
			close++
		} else {
			far = append(far, c.name)
		}
		cases = append(cases, c)
	}
	t.Logf("Refit: %d cases converted and run; %d within float16 error (|d| <= 1e-2 (1+|want|)) of the expected outputs; not within: %v", converted, close, far)
	if converted < 300 {
		t.Errorf("only %d backend cases converted, want at least 300", converted)
	}
	// The rest overflow float16 by design (softmax of 10000, products, tan near a pole).
	if close*100 < converted*97 {
		t.Errorf("%d of %d cases within float16 error, want at least 97%%", close, converted)
	}
	// ONNX Runtime: the originals and the converted models, in one process.
	var jobs []ortJob
	for _, c := range cases {
		jobs = append(jobs, ortJob{Model: c.orig, Inputs: c.inputs}, ortJob{Model: c.f16, Inputs: c.inputs})
	}
	res := runORTKeepGoing(t, nodeModules, jobs)
	ran, failed := 0, 0
	for i, c := range cases {
		orig, conv := res[2*i], res[2*i+1]
		if orig.Error != "" {
			continue // ONNX Runtime does not run this case in float32 either
		}
		ran++
		if conv.Error != "" {
			failed++
			t.Errorf("%s: ONNX Runtime runs the float32 model but not the float16 one: %s", c.name, conv.Error)
		}
	}
	t.Logf("ONNX Runtime: %d of %d float16 models run (of those whose float32 original runs)", ran-failed, ran)
}

func mustLoad(t *testing.T, p string) *onnxpb.ModelProto {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	return mp
}

// prepareHalfCase converts one case; ok is false for cases without float32 tensors
// or with inputs that are not plain numeric tensors.
func prepareHalfCase(t *testing.T, name, dir string) (halfCase, bool) {
	t.Helper()
	caseDir := filepath.Join(backendRoot, name)
	mp := mustLoad(t, filepath.Join(caseDir, "model.onnx"))
	g := mp.GetGraph()
	hasFloat := false
	for _, vi := range append(slices.Clone(g.GetInput()), g.GetOutput()...) {
		tt := vi.GetType().GetTensorType()
		if tt == nil || tt.GetElemType() == int32(onnxpb.TensorProto_STRING) || tt.GetElemType() == int32(onnxpb.TensorProto_BFLOAT16) {
			return halfCase{}, false
		}
		hasFloat = hasFloat || tt.GetElemType() == int32(onnxpb.TensorProto_FLOAT)
	}
	if !hasFloat {
		return halfCase{}, false
	}
	hm, _, err := half.Model(context.Background(), mp, os.DirFS(caseDir), nil)
	if errors.Is(err, refit.ErrUnsupported) && graph.Opset(mp, "") < 6 {
		return halfCase{}, false // refused: Cast before opset 6
	}
	if err != nil {
		t.Errorf("%s: half.Model: %v", name, err)
		return halfCase{}, false
	}
	base := strings.ReplaceAll(name, "/", "_")
	c := halfCase{name: name, orig: filepath.Join(caseDir, "model.onnx"), f16: filepath.Join(dir, base+".onnx"), inputs: map[string]string{}}
	writeModel(t, c.f16, hm)
	set := filepath.Join(caseDir, "test_data_set_0")
	in := map[string]*runtime.Value{}
	inputNames := nonInitializerInputs(g)
	for i, n := range inputNames {
		v := readPB(t, filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
		if v == nil {
			return halfCase{}, false
		}
		in[n] = v
	}
	inDir := filepath.Join(dir, base+"-in")
	if err := os.Mkdir(inDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.inputs = writeInputs(t, inDir, in)
	for i, o := range g.GetOutput() {
		w := readPB(t, filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
		if w == nil {
			return halfCase{}, false
		}
		c.want = append(c.want, w)
		c.outNames = append(c.outNames, o.GetName())
	}
	return c, true
}

func nonInitializerInputs(g *onnxpb.GraphProto) []string {
	inits := map[string]bool{}
	for _, tp := range g.GetInitializer() {
		inits[tp.GetName()] = true
	}
	var out []string
	for _, vi := range g.GetInput() {
		if !inits[vi.GetName()] {
			out = append(out, vi.GetName())
		}
	}
	return out
}

// readPB reads a TensorProto file, or returns nil when it is missing or not a tensor
// Refit's runtime holds.
func readPB(t *testing.T, p string) *runtime.Value {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil
	}
	v, err := runtime.ValueFromProto(tp, nil)
	if err != nil {
		return nil
	}
	return v
}

func readFeeds(t *testing.T, c halfCase) map[string]*runtime.Value {
	t.Helper()
	in := map[string]*runtime.Value{}
	for name, p := range c.inputs {
		in[name] = readNPY(t, p)
	}
	return in
}

// halfClose reports whether got is within float16 error of want.
func halfClose(got, want *runtime.Value) bool {
	g, w := got.AsFloat64s(), want.AsFloat64s()
	if len(g) != len(w) {
		return false
	}
	for i := range w {
		if math.IsNaN(w[i]) && math.IsNaN(g[i]) || g[i] == w[i] {
			continue
		}
		if !(math.Abs(g[i]-w[i]) <= 1e-2*(1+math.Abs(w[i]))) {
			return false
		}
	}
	return true
}

type ortOutcome struct {
	Model string `json:"model"`
	Error string `json:"error"`
}

// runORTKeepGoing runs jobs in one node process, recording each job's error instead
// of stopping at the first.
func runORTKeepGoing(t *testing.T, nodeModules string, jobs []ortJob) []ortOutcome {
	t.Helper()
	spec, err := json.Marshal(map[string]any{"threads": 1, "runs": 1, "keep_going": true, "jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(testtool.RepoRoot(), "interop", "ort", "ort_run.js"), specPath)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	var res []ortOutcome
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(jobs) {
		t.Fatalf("ort_run.js printed %d results for %d jobs: %v", len(res), len(jobs), err)
	}
	return res
}
