package tfjs

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// tfjsScript loads every weight group of a model folder with TF.js's own
// tf.io.decodeWeights (which dequantizes) and prints dtype, shape and values.
const tfjsScript = `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const fs = require('fs'), path = require('path');
const dir = process.argv[1];
const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
const out = {};
for (const g of mj.weightsManifest) {
  const buf = Buffer.concat(g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const m = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), g.weights);
  for (const [k, t] of Object.entries(m)) {
    const v = t.dataSync();
    out[k] = {dtype: t.dtype, shape: t.shape,
      values: t.dtype === 'string' ? [] : t.dtype === 'float32' ? Array.from(new Uint32Array(Float32Array.from(v).buffer)) :
        Array.from(v, x => typeof x === 'boolean' ? (x ? 1 : 0) : Number(x))};
  }
}
process.stdout.write(JSON.stringify(out));
`

type tfjsTensor struct {
	DType  string    `json:"dtype"`
	Shape  []int64   `json:"shape"`
	Values []float64 `json:"values"`
}

// nodeModules finds @tensorflow/tfjs-core and -backend-cpu: TFJS_NODE_MODULES, or the
// repository's node_modules.
func nodeModules(t *testing.T) string {
	if d := os.Getenv("TFJS_NODE_MODULES"); d != "" {
		return d
	}
	return testtool.NodeModules(t, "@tensorflow/tfjs-backend-cpu")
}

func runTFJS(t *testing.T, modules, dir string) map[string]tfjsTensor {
	t.Helper()
	cmd := exec.Command("node", "-e", tfjsScript, dir)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var res map[string]tfjsTensor
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output: %v", err)
	}
	return res
}

func compareWithTFJS(t *testing.T, m *refit.Model, want map[string]tfjsTensor) {
	t.Helper()
	dtypes := map[string]tensor.DType{"float32": tensor.F32, "int32": tensor.I32, "bool": tensor.Bool}
	seen := 0
	for name, w := range want {
		x := m.Tensor(name)
		if w.DType == "string" {
			if x != nil {
				t.Errorf("string weight %q decoded as a tensor", name)
			}
			continue
		}
		seen++
		if x == nil {
			t.Fatalf("TF.js has %q, Refit does not", name)
		}
		if x.DType != dtypes[w.DType] || !x.Shape.Equal(w.Shape) {
			t.Errorf("%s: %v %v, TF.js %s %v", name, x.DType, x.Shape, w.DType, w.Shape)
			continue
		}
		v, err := x.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			want := float32(w.Values[i])
			if w.DType == "float32" { // TF.js prints float32 values as their bits, keeping -0 and NaN payloads
				want = math.Float32frombits(uint32(w.Values[i]))
			}
			if math.Float32bits(v[i]) != math.Float32bits(want) {
				t.Errorf("%s[%d] = %v, TF.js %v", name, i, v[i], want)
			}
		}
	}
	if seen != len(m.Tensors) {
		t.Errorf("Refit decoded %d tensors, TF.js %d", len(m.Tensors), seen)
	}
}

// TestInteropTFJS checks decoding against TF.js's decodeWeights (values bit for bit,
// dequantization included), and that TF.js reads what EncodeFiles writes.
func TestInteropTFJS(t *testing.T) {
	modules := nodeModules(t)
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found")
	}
	m, err := DecodeFS(os.DirFS("testdata/layers"), ".")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	compareWithTFJS(t, m, runTFJS(t, modules, "testdata/layers"))

	dir := t.TempDir()
	create := func(name string) (io.WriteCloser, error) { return os.Create(filepath.Join(dir, name)) }
	if err := EncodeFiles(create, m, &EncodeOptions{ShardSize: 50}); err != nil {
		t.Fatal(err)
	}
	compareWithTFJS(t, m, runTFJS(t, modules, dir))
}
