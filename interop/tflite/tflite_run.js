// tflite_run.js runs a .tflite model through TFLite's own runtime (npm
// @tensorflow/tfjs-tflite: the TFLite C++ interpreter compiled to WebAssembly) for
// Refit's interop tests, offline in node.
//
// Usage: NODE_PATH=/path/to/node_modules node tflite_run.js model.tflite outdir in0.npy ...
//
// Inputs are float32 .npy files (little-endian, C order), one per model input in the
// interpreter's input order. Every output is written as outdir/out<i>.npy (i = position
// in the interpreter's output order). Prints one JSON object to stdout:
//   {"inputs": [name...], "outputs": [{"name", "path", "shape"}...]}
//
// tfjs-tflite is written for browsers: it picks a wasm build by feature tests, then
// loads it with importScripts (web worker) and fetch. Here the single-threaded build is
// forced (no MessageChannel, so no worker threads), importScripts evaluates the package's
// loader file, and the wasm bytes are handed to the emscripten factory directly, so no
// URL is ever fetched.
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');
const npy = require('../npy.js');

const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');

// Browser globals the loader needs in its web-worker code path.
globalThis.MessageChannel = undefined; // multithreading check fails: single-threaded build
globalThis.self = globalThis;
globalThis.location = { origin: '', href: 'file://' + wasmDir + '/' };
globalThis.importScripts = (file) => {
  vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
  const factory = globalThis.tflite_web_api_ModuleFactory;
  const wasmFile = file.replace(/\.js$/, '.wasm');
  globalThis.tflite_web_api_ModuleFactory = (opts) =>
    factory(Object.assign({}, opts, { wasmBinary: fs.readFileSync(wasmFile) }));
};

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tflite = require('@tensorflow/tfjs-tflite');

async function main() {
  const [modelPath, outDir, ...inputFiles] = process.argv.slice(2);
  if (!modelPath || !outDir) throw new Error('usage: tflite_run.js model.tflite outdir in0.npy ...');
  await tf.setBackend('cpu');
  tflite.setWasmPath(wasmDir + '/');
  const b = fs.readFileSync(modelPath);
  const model = await tflite.loadTFLiteModel(b.buffer.slice(b.byteOffset, b.byteOffset + b.length), { numThreads: 1 });
  const inInfo = model.inputs, outInfo = model.outputs;
  if (inputFiles.length !== inInfo.length) {
    throw new Error(`model has ${inInfo.length} inputs, got ${inputFiles.length} .npy files`);
  }
  const inputs = inputFiles.map(f => { const x = npy.readNPY(f, 'float32'); return tf.tensor(x.data, x.dims, 'float32'); });
  let result = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  if (result instanceof tf.Tensor) result = { [outInfo[0].name]: result };
  else if (Array.isArray(result)) result = Object.fromEntries(result.map((t, i) => [outInfo[i].name, t]));
  const outputs = outInfo.map((info, i) => {
    const t = result[info.name];
    if (!t) throw new Error(`output ${info.name} missing from the result`);
    const p = path.join(outDir, `out${i}.npy`);
    npy.writeNPY(p, t.dataSync(), t.shape, 'float32');
    return { name: info.name, path: p, shape: t.shape };
  });
  process.stdout.write(JSON.stringify({ inputs: inInfo.map(x => x.name), outputs }) + '\n');
}

main().catch(e => { console.error(e && e.stack || e); process.exit(1); });
