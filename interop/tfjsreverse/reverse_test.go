package tfjsreverse

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/layout"
)

const seed = 20240607

// result is what reverse_run.js compare prints.
type result struct {
	MaxAbs float64 `json:"maxAbs"`
	Scale  float64 `json:"scale"`
	Rows   int     `json:"rows"`
	Agree  int     `json:"agree"`
	Shape  []int   `json:"shape"`
}

func requireNode(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatalf("node is required (REFIT_REQUIRE_TOOLS=1): %v", err)
		}
		t.Skipf("skipping: node not on PATH (%v)", err)
	}
	return testtool.NodeModules(t, "@tensorflow/tfjs")
}

func node(t *testing.T, nodeModules string, args ...string) []byte {
	t.Helper()
	script, err := filepath.Abs("reverse_run.js")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node reverse_run.js %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// roundTrip converts the TF.js model in srcDir to a PyTorch .pt file and back to a
// TF.js layers model in outDir, returning the number of weights.
func roundTrip(t *testing.T, srcDir, outDir string) int {
	t.Helper()
	src, err := refit.Open(filepath.Join(srcDir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	topology := src.Metadata.String("tfjs.model_topology")
	layers, err := layout.LayersFromConfig(topology)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := layout.ToPyTorch(src, layers)
	if err != nil {
		t.Fatalf("ToPyTorch: %v", err)
	}
	if v, ok := pt.Metadata.Get("tflayout.unmapped"); ok {
		t.Fatalf("ToPyTorch left %v unmapped", v)
	}
	ptFile := filepath.Join(t.TempDir(), "model.pt")
	f, err := os.Create(ptFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := pytorch.Encode(f, pt, nil); err != nil {
		t.Fatalf("pytorch.Encode: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	torch, err := refit.Open(ptFile)
	if err != nil {
		t.Fatalf("reading the .pt back: %v", err)
	}
	defer torch.Close()
	if torch.Format != "pytorch" || torch.Tensor(pt.Tensors[0].Name) == nil {
		t.Fatalf("read %s back as %s without %q", ptFile, torch.Format, pt.Tensors[0].Name)
	}
	keras, err := layout.FromPyTorch(torch, layers)
	if err != nil {
		t.Fatalf("FromPyTorch: %v", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(filepath.Join(srcDir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	create := func(name string) (io.WriteCloser, error) { return os.Create(filepath.Join(outDir, name)) }
	if err := tfjs.EncodeLayers(create, keras, original, nil); err != nil {
		t.Fatalf("EncodeLayers: %v", err)
	}
	// The weights read back must equal the original's dequantized values bit for bit.
	back, err := refit.Open(filepath.Join(outDir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if len(back.Tensors) != len(src.Tensors) {
		t.Fatalf("%d weights written, original has %d", len(back.Tensors), len(src.Tensors))
	}
	for _, want := range src.Tensors {
		got := back.Tensor(want.Name)
		if got == nil {
			t.Fatalf("weight %q missing from the output", want.Name)
		}
		a, err := want.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		b, err := got.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !got.Shape.Equal(want.Shape) || !bytes.Equal(a, b) {
			t.Fatalf("weight %q: %v, values equal %v; want %v", want.Name, got.Shape, bytes.Equal(a, b), want.Shape)
		}
	}
	return len(back.Tensors)
}

// compare runs both models in TF.js on x and returns the comparison.
func compare(t *testing.T, nodeModules, a, b string, x []float32, shape []int) result {
	t.Helper()
	xFile := filepath.Join(t.TempDir(), "x.bin")
	buf := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(xFile, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	sh, _ := json.Marshal(shape)
	out := node(t, nodeModules, "compare", a, b, xFile, string(sh))
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(lastLine(out)), &r); err != nil {
		t.Fatalf("compare output %q: %v", out, err)
	}
	return r
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// seededInput makes n values: images in [0, 1] with stripes and noise, or token ids.
func seededInput(kind string, shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	x := make([]float32, n)
	for i := range x {
		switch kind {
		case "tokens":
			x[i] = float32(rng.IntN(11))
		default:
			v := 0.5 + 0.3*math.Sin(float64(i%997)*0.05+float64(i/(n/max(shape[0], 1)+1))) + 0.2*(rng.Float64()-0.5)
			x[i] = float32(min(max(v, 0), 1))
		}
	}
	return x
}

func report(t *testing.T, name string, weights int, r result) {
	t.Helper()
	t.Logf("%s: %d weights, TF.js original vs TF.js via PyTorch: max abs error %g (outputs up to %.3g), top-1 agreement %d/%d",
		name, weights, r.MaxAbs, r.Scale, r.Agree, r.Rows)
	if r.MaxAbs != 0 || r.Agree != r.Rows || r.Rows == 0 {
		t.Errorf("%s: max abs error %g, top-1 %d/%d; want an exact round trip", name, r.MaxAbs, r.Agree, r.Rows)
	}
	if r.Scale == 0 || math.IsNaN(r.Scale) {
		t.Errorf("%s: outputs are all zero or NaN (scale %v): the comparison proves nothing", name, r.Scale)
	}
}

// TestReverseNSFWJSMobileNetV2 round-trips nsfwjs's MobileNetV2 (TF.js, uint8) through
// a PyTorch .pt file back to TF.js and compares predictions in TF.js.
func TestReverseNSFWJSMobileNetV2(t *testing.T) {
	nodeModules := requireNode(t)
	testtool.NodeModules(t, "nsfwjs")
	dir := t.TempDir()
	orig, out := filepath.Join(dir, "original"), filepath.Join(dir, "roundtrip")
	node(t, nodeModules, "extract", filepath.Join(nodeModules, "nsfwjs", "dist", "models", "mobilenet_v2"), orig)
	weights := roundTrip(t, orig, out)
	shape := []int{8, 224, 224, 3}
	r := compare(t, nodeModules, orig, out, seededInput("image", shape), shape)
	report(t, "nsfwjs MobileNetV2", weights, r)
}

// TestReverseSynthetic does the same for small Keras models built in TF.js.
func TestReverseSynthetic(t *testing.T) {
	nodeModules := requireNode(t)
	dir := t.TempDir()
	node(t, nodeModules, "synthetic", dir)
	for _, name := range []string{"image", "sequence"} {
		t.Run(name, func(t *testing.T) {
			var in struct {
				Kind  string `json:"kind"`
				Shape []int  `json:"shape"`
			}
			b, err := os.ReadFile(filepath.Join(dir, name, "input.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &in); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, name+"-roundtrip")
			weights := roundTrip(t, filepath.Join(dir, name), out)
			r := compare(t, nodeModules, filepath.Join(dir, name), out, seededInput(in.Kind, in.Shape), in.Shape)
			report(t, fmt.Sprintf("synthetic %s", name), weights, r)
		})
	}
}
