// reverse_run.js runs TF.js layers models with @tensorflow/tfjs (pure JS, CPU backend)
// for Refit's reverse-path tests (PyTorch weights back to TF.js).
//
// Usage (NODE_PATH=/path/to/node_modules):
//   node reverse_run.js extract SRC_DIR OUT_DIR
//       SRC_DIR holds model.min.js and group*-shard*.min.js as nsfwjs ships them
//       (CommonJS modules exporting the model.json object and base64 shards); writes
//       OUT_DIR/model.json and the shard files its manifest names.
//   node reverse_run.js synthetic OUT_DIR
//       builds small Keras models in TF.js with seeded random weights and saves each
//       as OUT_DIR/<name>/model.json + weights.bin, with input.json (shape, kind).
//   node reverse_run.js compare A_DIR B_DIR X.bin SHAPE_JSON
//       loads both layers models, predicts on the float32 input X.bin of the given
//       shape and prints JSON: max abs difference, largest output magnitude, top-1
//       agreement over the rows of the last axis.
'use strict';
const fs = require('fs');
const path = require('path');
const {extractModel} = require('../npy.js');

async function load(tf, dir) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  // strict (the default): every weight of the model must be present, and no other.
  return tf.loadLayersModel({load: async () => ({modelTopology: model.modelTopology, weightSpecs: specs, weightData})});
}

async function synthetic(out) {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const L = tf.layers;
  const models = {
    image: {kind: 'image', shape: [3, 12, 12, 3], make: () => tf.sequential({name: 'image', layers: [
      L.conv2d({name: 'conv', filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [12, 12, 3]}),
      L.batchNormalization({name: 'bn'}),
      L.depthwiseConv2d({name: 'dw', kernelSize: 3, depthMultiplier: 2, activation: 'relu6'}),
      // depthMultiplier stays 1: tfjs-layers 4.22 leaves it out of SeparableConv2D's
      // config, so TF.js itself could not reload a model with another multiplier.
      L.separableConv2d({name: 'sep', filters: 5, kernelSize: 3}),
      L.conv2dTranspose({name: 'up', filters: 4, kernelSize: 2, strides: 2}),
      L.conv2d({name: 'conv_nobias', filters: 4, kernelSize: 1, useBias: false}),
      L.globalAveragePooling2d({name: 'gap'}),
      L.layerNormalization({name: 'ln'}),
      L.dense({name: 'logits', units: 7}),
    ]})},
    sequence: {kind: 'tokens', shape: [4, 6], make: () => tf.sequential({name: 'sequence', layers: [
      L.embedding({name: 'emb', inputDim: 11, outputDim: 5, inputLength: 6}),
      L.conv1d({name: 'conv1d', filters: 6, kernelSize: 2, padding: 'same'}),
      L.lstm({name: 'lstm', units: 4, returnSequences: true, recurrentActivation: 'sigmoid'}),
      L.flatten({name: 'flat'}),
      L.dense({name: 'out', units: 3, activation: 'softmax'}),
    ]})},
  };
  let seed = 11;
  for (const [name, spec] of Object.entries(models)) {
    const model = spec.make();
    model.setWeights(model.weights.map(w => w.originalName.includes('moving_variance')
      ? tf.randomUniform(w.shape, 0.5, 1.5, 'float32', seed++)
      : tf.randomNormal(w.shape, 0, 0.5, 'float32', seed++)));
    const dir = path.join(out, name);
    fs.mkdirSync(dir, {recursive: true});
    await model.save(tf.io.withSaveHandler(async a => {
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({format: a.format, generatedBy: a.generatedBy,
        convertedBy: a.convertedBy, modelTopology: a.modelTopology,
        weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}]}));
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    }));
    fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify({kind: spec.kind, shape: spec.shape}));
  }
}

async function compare(a, b, xFile, shapeJSON) {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const shape = JSON.parse(shapeJSON);
  const buf = fs.readFileSync(xFile);
  const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (x.length !== shape.reduce((p, d) => p * d, 1)) throw new Error(`${xFile}: ${x.length} values for shape ${shape}`);
  const input = tf.tensor(x, shape, 'float32');
  const outs = [];
  for (const dir of [a, b]) {
    const m = await load(tf, dir);
    const y = m.predict(input);
    outs.push(Array.isArray(y) ? y[0] : y);
  }
  const [ya, yb] = await Promise.all(outs.map(y => y.data()));
  const classes = outs[0].shape[outs[0].shape.length - 1];
  let maxAbs = 0, scale = 0, agree = 0;
  for (let i = 0; i < ya.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(ya[i] - yb[i]));
    scale = Math.max(scale, Math.abs(ya[i]));
  }
  const rows = ya.length / classes;
  const argmax = (v, r) => { let k = 0; for (let j = 1; j < classes; j++) if (v[r * classes + j] > v[r * classes + k]) k = j; return k; };
  for (let r = 0; r < rows; r++) if (argmax(ya, r) === argmax(yb, r)) agree++;
  console.log(JSON.stringify({maxAbs, scale, rows, agree, shape: outs[0].shape}));
}

(async () => {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'extract' && args.length === 2) return extractModel(...args);
  if (cmd === 'synthetic' && args.length === 1) return synthetic(...args);
  if (cmd === 'compare' && args.length === 4) return compare(...args);
  throw new Error('usage: reverse_run.js extract SRC OUT | synthetic OUT | compare A B X.bin SHAPE');
})().catch(e => { console.error(`reverse_run: ${e.stack || e}`); process.exit(1); });
