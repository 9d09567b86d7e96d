package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// TestModelsMatchORT runs each fixture model (testdata/gen/runtime.py) through the
// runtime and through ONNX Runtime (onnxruntime-node) on the same random inputs.
func TestModelsMatchORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatal("node is required (REFIT_REQUIRE_TOOLS=1)")
		}
		t.Skip("skipping: node not on PATH")
	}
	models, _ := filepath.Glob(filepath.Join("testdata", "models", "*.onnx"))
	if len(models) == 0 {
		t.Fatal("no fixture models; run /usr/bin/python3 testdata/gen/runtime.py")
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			mp := &onnxpb.ModelProto{}
			if err := proto.Unmarshal(b, mp); err != nil {
				t.Fatal(err)
			}
			s, err := Load(mp, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			in, err := RandomInputs(s, 42, &RandomOptions{DefaultDim: 3})
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Run(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			type jsTensor struct {
				Type string    `json:"type"`
				Dims []int64   `json:"dims"`
				Data []float64 `json:"data"`
			}
			feed := map[string]jsTensor{}
			for k, v := range in {
				typ := map[tensor.DType]string{tensor.F32: "float32", tensor.I64: "int64", tensor.Bool: "bool"}[v.DType]
				if typ == "" {
					t.Skipf("input %q is %v: not handled by the ORT driver", k, v.DType)
				}
				feed[k] = jsTensor{typ, v.Shape, v.AsFloat64s()}
			}
			js, _ := json.Marshal(feed)
			specPath := filepath.Join(t.TempDir(), "feed.json")
			if err := os.WriteFile(specPath, js, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("node", "-e", ortFixtureScript, path, specPath)
			cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
			out, err := cmd.Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("node: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var want map[string]jsTensor
			if err := json.Unmarshal(out, &want); err != nil {
				t.Fatalf("ORT output: %v: %s", err, out)
			}
			for k, w := range want {
				g := got[k]
				if g == nil {
					t.Fatalf("output %q missing", k)
				}
				gv := g.AsFloat64s()
				if len(gv) != len(w.Data) {
					t.Fatalf("output %q: %d values, ORT %d", k, len(gv), len(w.Data))
				}
				for i := range gv {
					if math.Abs(gv[i]-w.Data[i]) > 1e-5+1e-4*math.Abs(w.Data[i]) {
						t.Fatalf("output %q element %d = %v, ORT %v", k, i, gv[i], w.Data[i])
					}
				}
			}
		})
	}
}

const ortFixtureScript = `
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const feeds = {};
  for (const [name, t] of Object.entries(spec)) {
    let data;
    if (t.type === 'float32') data = Float32Array.from(t.data);
    else if (t.type === 'int64') data = BigInt64Array.from(t.data.map(BigInt));
    else data = Uint8Array.from(t.data);
    feeds[name] = new ort.Tensor(t.type, data, t.dims);
  }
  const sess = await ort.InferenceSession.create(process.argv[1]);
  const out = await sess.run(feeds);
  const res = {};
  for (const [name, t] of Object.entries(out)) {
    res[name] = {type: t.type, dims: t.dims, data: Array.from(t.data, Number)};
  }
  process.stdout.write(JSON.stringify(res));
})().catch(e => { console.error(e); process.exit(1); });
`
