// litert_run.mjs runs a .tflite model through LiteRT.js (npm @litertjs/core: the
// LiteRT C++ runtime compiled to WebAssembly, CPU/XNNPACK) for Refit's interop tests,
// offline in node. Unlike tfjs-tflite's interpreter it runs some of MediaPipe's
// custom operators through XNNPACK (Convolution2DTransposeBias; MaxPoolingWithArgmax2D
// and MaxUnpooling2D with the window equal to the stride); it has no kernels for the
// landmark operators (Landmarks2TransformMatrix ...).
//
// Usage: NODE_PATH=/path/to/node_modules node litert_run.mjs model.tflite outdir in0.npy ...
//
// Same protocol as tflite_run.js: float32 .npy inputs in the model's input order,
// outputs written as outdir/out<i>.npy, one JSON line
//   {"inputs": [name...], "outputs": [{"name", "path", "shape"}...]}
//
// The package is written for browsers: its loader runs the emscripten script with
// importScripts (web worker) and the script fetches its .wasm. Here importScripts
// evaluates the script in this context and the .wasm bytes are handed to the module
// factory, so no URL is fetched; WebGPU is absent and the 'wasm' accelerator is used.
import fs from 'fs';
import path from 'path';
import vm from 'vm';
import {createRequire} from 'module';

const require = createRequire(path.join(process.env.NODE_PATH || '.', 'x.js'));
const npy = createRequire(import.meta.url)('../npy.js');
const coreDir = path.dirname(require.resolve('@litertjs/core/package.json'));

globalThis.self = globalThis;
globalThis.require = require; // the emscripten script's node code path
globalThis.__dirname = path.join(coreDir, 'wasm');
globalThis.importScripts = (file) => {
  file = file.replace(/^file:\/\//, '');
  vm.runInThisContext(fs.readFileSync(file, 'utf8'), {filename: file});
  const factory = globalThis.ModuleFactory;
  const wasm = fs.readFileSync(file.replace(/\.js$/, '.wasm'));
  globalThis.ModuleFactory = (opts) => factory(Object.assign({}, opts, {wasmBinary: wasm}));
};
// The runtime logs at INFO to stdout and stderr; only the JSON line goes to stdout.
// An operator it cannot prepare is only logged ("ERROR: Encountered unresolved custom
// op") and the run goes on with garbage outputs, so any ERROR line fails the run.
const out = process.stdout.write.bind(process.stdout);
const errWrite = process.stderr.write.bind(process.stderr);
let runtimeError = '';
process.stderr.write = (chunk, ...rest) => {
  const s = String(chunk);
  if (!runtimeError && /(^|\n)ERROR: /.test(s)) runtimeError = s.trim();
  return errWrite(chunk, ...rest);
};
process.stdout.write = (chunk, ...rest) => process.stderr.write(chunk, ...rest);
console.log = console.error;

const {loadLiteRt, loadAndCompile, Tensor} = await import(path.join(coreDir, 'dist', 'index.js'));

const [modelPath, outDir, ...inputFiles] = process.argv.slice(2);
if (!modelPath || !outDir) throw new Error('usage: litert_run.mjs model.tflite outdir in0.npy ...');
await loadLiteRt(path.join(coreDir, 'wasm') + '/', {});
const model = await loadAndCompile(new Uint8Array(fs.readFileSync(modelPath)), {accelerator: 'wasm'});
const inInfo = model.getInputDetails(), outInfo = model.getOutputDetails();
if (inputFiles.length !== inInfo.length) {
  throw new Error(`model has ${inInfo.length} inputs, got ${inputFiles.length} .npy files`);
}
const inputs = inputFiles.map(f => { const x = npy.readNPY(f, 'float32'); return new Tensor(x.data, x.dims); });
const results = await model.run(inputs);
if (runtimeError) {
  errWrite(`LiteRT reported an error: ${runtimeError}\n`);
  process.exit(1);
}
const outputs = outInfo.map((info, i) => {
  const t = results[i];
  const data = t.toTypedArray();
  const dims = Array.from({length: Object.keys(info.shape).length}, (_, k) => info.shape[k]);
  const p = path.join(outDir, `out${i}.npy`);
  npy.writeNPY(p, Float32Array.from(data), dims, 'float32');
  return {name: info.name, path: p, shape: dims};
});
out(JSON.stringify({inputs: inInfo.map(x => x.name), outputs}) + '\n');
process.exit(0);
