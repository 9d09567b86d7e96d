package layout_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/layout"
	"github.com/refit-ml/refit/tensor"
)

// tfjsLayersScript builds one-layer Keras models with TF.js (tfjs-layers implements
// Keras's layer semantics), gives them random weights, runs them on a random input and
// saves each as model.json + weights.bin with x.bin, y.bin and shapes.json.
const tfjsLayersScript = `
const tf = require('@tensorflow/tfjs');
const fs = require('fs'), path = require('path');
const out = process.argv[1];
const rnd = (shape, seed) => tf.randomNormal(shape, 0, 0.5, 'float32', seed);
const rec = {returnSequences: true, recurrentActivation: 'sigmoid', inputShape: [5, 3]};
const specs = [
  ['dense', () => tf.layers.dense({name: 'dense', units: 4, inputShape: [3]}), [2, 3]],
  ['conv2d', () => tf.layers.conv2d({name: 'conv2d', filters: 4, kernelSize: [3, 2], inputShape: [6, 5, 3]}), [1, 6, 5, 3]],
  ['conv1d', () => tf.layers.conv1d({name: 'conv1d', filters: 4, kernelSize: 2, inputShape: [7, 3]}), [1, 7, 3]],
  ['depthwise', () => tf.layers.depthwiseConv2d({name: 'depthwise', kernelSize: 3, depthMultiplier: 2, inputShape: [5, 5, 3]}), [1, 5, 5, 3]],
  ['separable', () => tf.layers.separableConv2d({name: 'separable', filters: 5, kernelSize: 3, depthMultiplier: 2, inputShape: [5, 5, 3]}), [1, 5, 5, 3]],
  ['convtranspose', () => tf.layers.conv2dTranspose({name: 'convtranspose', filters: 2, kernelSize: 3, inputShape: [4, 4, 3]}), [1, 4, 4, 3]],
  ['conv3d', () => tf.layers.conv3d({name: 'conv3d', filters: 2, kernelSize: [2, 3, 2], inputShape: [3, 4, 3, 2]}), [1, 3, 4, 3, 2]],
  ['batchnorm', () => tf.layers.batchNormalization({name: 'batchnorm', inputShape: [4]}), [3, 4]],
  ['layernorm', () => tf.layers.layerNormalization({name: 'layernorm', inputShape: [4]}), [3, 4]],
  ['embedding', () => tf.layers.embedding({name: 'embedding', inputDim: 5, outputDim: 3, inputLength: 3}), [1, 3]],
  ['lstm', () => tf.layers.lstm(Object.assign({name: 'lstm', units: 4}, rec)), [1, 5, 3]],
  ['gru', () => tf.layers.gru(Object.assign({name: 'gru', units: 4}, rec)), [1, 5, 3]],
];
(async () => {
  let seed = 1;
  for (const [name, make, xshape] of specs) {
    const model = tf.sequential({layers: [make()]});
    model.setWeights(model.getWeights().map((w, i) => name === 'batchnorm' && i === 3 ? rnd(w.shape, seed++).abs().add(0.5) : rnd(w.shape, seed++)));
    const x = name === 'embedding' ? tf.tensor2d([[0, 4, 2]], [1, 3], 'float32') : rnd(xshape, seed++);
    const y = model.predict(x);
    const dir = path.join(out, name);
    fs.mkdirSync(dir, {recursive: true});
    await model.save(tf.io.withSaveHandler(async a => {
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({format: a.format, generatedBy: a.generatedBy,
        modelTopology: a.modelTopology, weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}));
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    fs.writeFileSync(path.join(dir, 'x.bin'), Buffer.from(x.dataSync().buffer));
    fs.writeFileSync(path.join(dir, 'y.bin'), Buffer.from(y.dataSync().buffer));
    fs.writeFileSync(path.join(dir, 'shapes.json'), JSON.stringify({x: x.shape, y: y.shape}));
  }
})().catch(e => { console.error(e); process.exit(1); });
`

// torchLayersScript runs each converted layer in PyTorch on TF.js's input (moved to
// channels-first where needed) and prints the largest difference from TF.js's output.
const torchLayersScript = `
import json, os, sys
import numpy as np
import torch
torch.set_num_threads(1)
root = sys.argv[1]
res = {}
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    if not os.path.exists(os.path.join(d, "torch.json")):
        continue
    shp = json.load(open(os.path.join(d, "shapes.json")))
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.bin"), "<f4").reshape(shp["x"]))
    y = np.fromfile(os.path.join(d, "y.bin"), "<f4").reshape(shp["y"])
    man = json.load(open(os.path.join(d, "torch.json")))
    sd = {k: torch.from_numpy(np.fromfile(os.path.join(d, v["file"]), "<f4").reshape(v["shape"])) for k, v in man.items()}
    p = name + "."
    sd = {k[len(p):]: v for k, v in sd.items()}
    nhwc = lambda f: f(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    nwc = lambda f: f(x.permute(0, 2, 1)).permute(0, 2, 1)
    with torch.no_grad():
        if name == "dense":
            m = torch.nn.Linear(3, 4); m.load_state_dict(sd); got = m(x)
        elif name == "conv2d":
            m = torch.nn.Conv2d(3, 4, (3, 2)); m.load_state_dict(sd); got = nhwc(m)
        elif name == "conv1d":
            m = torch.nn.Conv1d(3, 4, 2); m.load_state_dict(sd); got = nwc(m)
        elif name == "conv3d":
            m = torch.nn.Conv3d(2, 2, (2, 3, 2)); m.load_state_dict(sd); got = m(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
        elif name == "depthwise":
            m = torch.nn.Conv2d(3, 6, 3, groups=3); m.load_state_dict(sd); got = nhwc(m)
        elif name == "separable":
            m = torch.nn.Module(); m.depthwise = torch.nn.Conv2d(3, 6, 3, groups=3, bias=False); m.pointwise = torch.nn.Conv2d(6, 5, 1)
            m.load_state_dict(sd); got = nhwc(lambda t: m.pointwise(m.depthwise(t)))
        elif name == "convtranspose":
            m = torch.nn.ConvTranspose2d(3, 2, 3); m.load_state_dict(sd); got = nhwc(m)
        elif name == "batchnorm":
            m = torch.nn.BatchNorm1d(4, eps=1e-3); m.load_state_dict(sd, strict=False); m.eval(); got = m(x)
        elif name == "layernorm":
            m = torch.nn.LayerNorm(4, eps=1e-3); m.load_state_dict(sd); got = m(x)
        elif name == "embedding":
            m = torch.nn.Embedding(5, 3); m.load_state_dict(sd); got = m(x.long())
        elif name == "lstm":
            m = torch.nn.LSTM(3, 4, batch_first=True); m.load_state_dict(sd); got = m(x)[0]
        else:
            continue
    res[name] = float(np.abs(got.numpy() - y).max())
print(json.dumps(res))
`

// TestInteropTFJSKerasLayers is the reference check of the layout rules: TF.js
// (tfjs-layers, Keras semantics) builds and runs each layer; Refit reads the saved
// model with format/tfjs and maps it with ToPyTorch; PyTorch must compute the same.
func TestInteropTFJSKerasLayers(t *testing.T) {
	modules := testtool.NodeModules(t, "@tensorflow/tfjs")
	testtool.RequirePython(t, "torch", "numpy")
	root := t.TempDir()
	cmd := exec.Command("node", "-e", tfjsLayersScript, root)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	names, err := os.ReadDir(root)
	if err != nil || len(names) != 12 {
		t.Fatalf("TF.js wrote %d models: %v", len(names), err)
	}
	for _, e := range names {
		dir := filepath.Join(root, e.Name())
		m, err := tfjs.DecodeFS(os.DirFS(dir), ".", nil)
		if err != nil {
			t.Fatal(err)
		}
		layers, err := layout.LayersFromConfig(m.Metadata.String("tfjs.model_topology"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := layout.ToPyTorch(m, layers)
		if e.Name() == "gru" { // TF.js GRUs are reset_after=false: no PyTorch equivalent
			if !errors.Is(err, tensor.ErrUnsupported) {
				t.Errorf("ToPyTorch(TF.js GRU) = %v, want ErrUnsupported", err)
			}
			m.Close()
			continue
		}
		if err != nil {
			t.Fatalf("%s: ToPyTorch = %v", e.Name(), err)
		}
		manifest := map[string]any{}
		for i, x := range out.Tensors {
			if strings.Contains(x.Name, "/") {
				t.Fatalf("%s: unmapped tensor %q", e.Name(), x.Name)
			}
			b, err := x.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			file := "p" + strings.Repeat("x", i) + ".bin"
			if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
				t.Fatal(err)
			}
			manifest[x.Name] = map[string]any{"file": file, "shape": x.Shape}
		}
		mb, _ := json.Marshal(manifest)
		if err := os.WriteFile(filepath.Join(dir, "torch.json"), mb, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	var diffs map[string]float64
	if err := json.Unmarshal(testtool.RunPython(t, torchLayersScript, root), &diffs); err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 11 {
		t.Errorf("PyTorch checked %d layers, want 11: %v", len(diffs), diffs)
	}
	for layer, d := range diffs {
		if d > 1e-4 {
			t.Errorf("%s: PyTorch differs from TF.js by %g", layer, d)
		}
	}
	t.Logf("max |TF.js - PyTorch| per layer: %v", diffs)
}
