package tfjs

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	m, err := DecodeFS(os.DirFS("testdata/layers"), ".", nil)
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

// nsfwScript writes nsfwjs's bundled MobileNetV2 (a real TF.js layers model, its
// shard shipped base64 inside a .js file) to a folder as model.json + shard, then
// decodes it with TF.js and writes each weight's values as raw little-endian
// float32/int32 bytes to <index>.bin, listing names and dtypes in decoded.json.
const nsfwScript = `
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const fs = require('fs'), path = require('path');
const [src, dir] = process.argv.slice(1);
const model = require(path.join(src, 'model.min.js'));
const shard = Buffer.from(require(path.join(src, 'group1-shard1of1.min.js')), 'base64');
fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(model));
fs.writeFileSync(path.join(dir, model.weightsManifest[0].paths[0]), shard);
const out = [];
for (const g of model.weightsManifest) {
  const buf = Buffer.concat(g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const m = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), g.weights);
  for (const [k, t] of Object.entries(m)) {
    const v = t.dataSync();
    fs.writeFileSync(path.join(dir, out.length + '.bin'), Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    out.push({name: k, dtype: t.dtype, shape: t.shape});
  }
}
fs.writeFileSync(path.join(dir, 'decoded.json'), JSON.stringify(out));
`

// TestInteropTFJSRealModel decodes a real TF.js model (nsfwjs's MobileNetV2) and
// compares every weight with TF.js's decoding, byte for byte.
func TestInteropTFJSRealModel(t *testing.T) {
	modules := nodeModules(t)
	nsfw := filepath.Join(modules, "nsfwjs", "dist", "models", "mobilenet_v2")
	if _, err := os.Stat(nsfw); err != nil {
		if os.Getenv("TFJS_NODE_MODULES") != "" {
			t.Skip("nsfwjs not in TFJS_NODE_MODULES")
		}
		testtool.NodeModules(t, "nsfwjs/dist/models/mobilenet_v2")
	}
	dir := t.TempDir()
	cmd := exec.Command("node", "-e", nsfwScript, nsfw, dir)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var decoded []struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "decoded.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	m, err := DecodeFS(os.DirFS(dir), ".", nil)
	if err != nil {
		t.Fatalf("DecodeFS = %v", err)
	}
	defer m.Close()
	if len(m.Tensors) != len(decoded) || len(decoded) < 50 {
		t.Fatalf("Refit %d tensors, TF.js %d", len(m.Tensors), len(decoded))
	}
	quantized := 0
	for i, d := range decoded {
		x := m.Tensor(d.Name)
		if x == nil || !x.Shape.Equal(d.Shape) {
			t.Fatalf("%s: Refit %v, TF.js %s %v", d.Name, x, d.DType, d.Shape)
		}
		if _, ok := m.Metadata.Get("tfjs.quantization." + d.Name); ok {
			quantized++
		}
		want, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)+".bin"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: values differ from TF.js", d.Name)
		}
	}
	t.Logf("%d weights (%d quantized) match TF.js byte for byte", len(decoded), quantized)
}
