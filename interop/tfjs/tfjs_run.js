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

function moduleValue(file) {
  const m = require(path.resolve(file));
  return m && m.default !== undefined ? m.default : m;
}

function extract(src, out) {
  const model = moduleValue(path.join(src, 'model.min.js'));
  if (!model || !model.modelTopology || !model.weightsManifest) {
    throw new Error(`${src}/model.min.js does not export a TF.js model.json object`);
  }
  fs.mkdirSync(out, {recursive: true});
  fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(model));
  for (const group of model.weightsManifest) {
    for (const p of group.paths) {
      if (p.includes('/') || p.includes('\\') || p.startsWith('.')) throw new Error(`bad shard path ${p}`);
      const b64 = moduleValue(path.join(src, `${p}.min.js`));
      if (typeof b64 !== 'string') throw new Error(`${p}.min.js does not export a base64 string`);
      fs.writeFileSync(path.join(out, p), Buffer.from(b64, 'base64'));
    }
  }
}

function readNPY(file) {
  const b = fs.readFileSync(file);
  if (b.length < 10 || b.readUInt8(0) !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = b.readUInt8(6);
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = b.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header)) {
    throw new Error(`${file}: want little-endian float32 C order, got ${header}`);
  }
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map(s => s.trim())
    .filter(s => s !== '').map(Number);
  const n = dims.reduce((a, d) => a * d, 1);
  if (start + 4 * n > b.length) throw new Error(`${file}: truncated`);
  const data = new Float32Array(n);
  Buffer.from(data.buffer).set(b.subarray(start, start + 4 * n));
  return {data, dims};
}

function writeNPY(file, data, dims) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt16LE(header.length, 8);
  const f = Float32Array.from(data);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(f.buffer)]));
}

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
  const x = readNPY(inFile);
  const y = m.predict(tf.tensor(x.data, x.dims, 'float32'));
  const out = Array.isArray(y) ? y[0] : y;
  writeNPY(outFile, await out.data(), out.shape);
}

(async () => {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'extract' && args.length === 2) return extract(...args);
  if (cmd === 'run' && args.length === 3) return run(...args);
  throw new Error('usage: tfjs_run.js extract SRC OUT | run MODEL_DIR IN.npy OUT.npy');
})().catch(e => { console.error(`tfjs_run: ${e.stack || e}`); process.exit(1); });
