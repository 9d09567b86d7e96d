// graph_run.js runs TF.js graph models with @tensorflow/tfjs (pure JS, CPU backend)
// for Refit's interop tests: the reference every converted output is compared with.
//
// Usage: NODE_PATH=/path/to/node_modules node graph_run.js spec.json
//
// spec.json: {"jobs": [{"model": "dir/name.json", "inputs": {"placeholder": "x.npy"},
//                      "outputs": ["Identity:0", "node:1"], "out": "outdir"}]}
// Each model is loaded through an IOHandler from its JSON file and the weight files
// its manifest names (relative to it), run with executeAsync (control flow works too),
// and output i is written to outdir/out<i>.npy as float32. A job that fails writes
// outdir/error.txt and the others still run.
'use strict';
const fs = require('fs');
const path = require('path');
const {readNPY, writeNPY} = require('../npy.js');

async function runJob(tf, job) {
  const mj = JSON.parse(fs.readFileSync(job.model, 'utf8'));
  const dir = path.dirname(job.model);
  const specs = [];
  const buffers = [];
  for (const group of mj.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel({load: async () => ({modelTopology: mj.modelTopology, weightSpecs: specs,
    weightData, format: mj.format, signature: mj.signature, userDefinedMetadata: mj.userDefinedMetadata})});
  const feeds = {};
  for (const [name, file] of Object.entries(job.inputs)) {
    const x = readNPY(file);
    feeds[name] = tf.tensor(x.data, x.dims, x.type === 'float32' ? 'float32' : 'int32');
  }
  let outs = await model.executeAsync(feeds, job.outputs);
  if (!Array.isArray(outs)) outs = [outs];
  fs.mkdirSync(job.out, {recursive: true});
  for (let i = 0; i < outs.length; i++) {
    writeNPY(path.join(job.out, `out${i}.npy`), Float32Array.from(await outs[i].data()), outs[i].shape, 'float32');
  }
  tf.dispose(outs);
  tf.dispose(Object.values(feeds));
  model.dispose();
}

(async () => {
  const tf = require('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of spec.jobs) {
    try {
      await runJob(tf, job);
    } catch (e) {
      fs.mkdirSync(job.out, {recursive: true});
      fs.writeFileSync(path.join(job.out, 'error.txt'), String(e && e.stack || e));
    }
  }
})().catch(e => { console.error(e); process.exit(1); });
