// tfjs_run.js runs TF.js layers models with @tensorflow/tfjs (pure JS, CPU backend) for
// Refit's interop tests, and unpacks the models that npm packages ship as JS modules.
//
// Usage: NODE_PATH=/path/to/node_modules node tfjs_run.js extract SRC_DIR OUT_DIR
//          SRC_DIR holds model.min.js and group*-shard*.min.js (as nsfwjs ships them:
//          CommonJS modules exporting the model.json object and base64 shard strings);
//          writes OUT_DIR/model.json and the shard files the manifest names.
//        NODE_PATH=... node tfjs_run.js run MODEL_DIR IN.npy OUT.npy
//          loads MODEL_DIR/model.json with its shards through an IOHandler (no
//          tfjs-node needed), predicts on the float32 .npy input and writes the
//          (first) output as float32 .npy.
'use strict';
const fs = require('fs');
const path = require('path');
const {readNPY, writeNPY, extractModel} = require('../npy.js');

async function run(dir, inFile, outFile) {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const m = await tf.loadLayersModel({
    load: async () => ({modelTopology: model.modelTopology, weightSpecs: specs, weightData}),
  });
  const x = readNPY(inFile, 'float32');
  const y = m.predict(tf.tensor(x.data, x.dims, 'float32'));
  const out = Array.isArray(y) ? y[0] : y;
  writeNPY(outFile, await out.data(), out.shape);
}

(async () => {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'extract' && args.length === 2) return extractModel(...args);
  if (cmd === 'run' && args.length === 3) return run(...args);
  throw new Error('usage: tfjs_run.js extract SRC OUT | run MODEL_DIR IN.npy OUT.npy');
})().catch(e => { console.error(`tfjs_run: ${e.stack || e}`); process.exit(1); });
