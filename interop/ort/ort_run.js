// ort_run.js runs ONNX models through ONNX Runtime (npm onnxruntime-node) for Refit's
// interop tests and benchmarks.
//
// Usage: NODE_PATH=/path/to/node_modules node ort_run.js spec.json
//
// spec.json:
//   {"threads": 1,            // intraOpNumThreads (default 1); interOpNumThreads is 1
//    "warmup": 0, "runs": 1,  // untimed warm-up runs, then timed runs (outputs of the last)
//    "optimization": "all",   // graphOptimizationLevel (default "all")
//    "jobs": [{"model": "m.onnx", "inputs": {"x": "x.npy"}, "outputs": "outdir"}]}
// Inputs are .npy files (little-endian, C order). When "outputs" is set, every model
// output is written there as out<i>.npy (i = position in the session's outputNames).
// Prints one JSON array to stdout, one entry per job:
//   {"model", "outputs": {name: path}, "load_ms", "times_ms": [...], "median_ms",
//    "cpu_ms"}  (process CPU time per timed run, all threads)
'use strict';
const ort = require('onnxruntime-node');
const fs = require('fs');
const path = require('path');

// numpy descr -> [ort type, TypedArray]
const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<f2': ['float16', Uint16Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array], '<u2': ['uint16', Uint16Array],
  '<u4': ['uint32', Uint32Array], '<u8': ['uint64', BigUint64Array], '|b1': ['bool', Uint8Array],
};

function readNPY(file) {
  const b = fs.readFileSync(file);
  if (b.length < 10 || b.readUInt8(0) !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = b.readUInt8(6);
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = major === 1 ? 10 + hlen : 12 + hlen;
  if (start > b.length) throw new Error(`${file}: truncated header`);
  const header = b.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad header ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s !== '').map(Number);
  const n = dims.reduce((a, d) => a * d, 1);
  const bytes = n * dt[1].BYTES_PER_ELEMENT;
  if (start + bytes > b.length) throw new Error(`${file}: ${b.length - start} data bytes, want ${bytes}`);
  // Copy into an aligned buffer: the file's data offset need not be a multiple of 8.
  const data = new dt[1](n);
  Buffer.from(data.buffer).set(b.subarray(start, start + bytes));
  return new ort.Tensor(dt[0], data, dims);
}

function writeNPY(file, t) {
  const descr = Object.keys(DTYPES).find(k => DTYPES[k][0] === t.type);
  if (!descr) throw new Error(`output type ${t.type} cannot be written as .npy`);
  const shape = t.dims.length === 1 ? `(${t.dims[0]},)` : `(${t.dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt8(0, 7);
  pre.writeUInt16LE(header.length, 8);
  const d = t.data;
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

async function runJob(spec, job) {
  const opts = {
    intraOpNumThreads: spec.threads || 1, interOpNumThreads: 1,
    graphOptimizationLevel: spec.optimization || 'all', executionMode: 'sequential',
  };
  const t0 = process.hrtime.bigint();
  const sess = await ort.InferenceSession.create(job.model, opts);
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {};
  for (const [name, file] of Object.entries(job.inputs || {})) feeds[name] = readNPY(file);
  for (let i = 0; i < (spec.warmup || 0); i++) await sess.run(feeds);
  const times = [];
  let out;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < Math.max(1, spec.runs || 1); i++) {
    const s = process.hrtime.bigint();
    out = await sess.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000 / times.length;
  const outputs = {};
  if (job.outputs) {
    fs.mkdirSync(job.outputs, {recursive: true});
    sess.outputNames.forEach((name, i) => {
      const file = path.join(job.outputs, `out${i}.npy`);
      writeNPY(file, out[name]);
      outputs[name] = file;
    });
  }
  if (sess.release) await sess.release();
  return {model: job.model, outputs, load_ms: loadMs, times_ms: times, median_ms: median(times),
    cpu_ms: cpuMs};
}

(async () => {
  if (process.argv.length !== 3) throw new Error('usage: node ort_run.js spec.json');
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = [];
  for (const job of spec.jobs || []) {
    try {
      results.push(await runJob(spec, job));
    } catch (e) {
      throw new Error(`${job.model}: ${e.message || e}`);
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
})().catch(e => { console.error(`ort_run: ${e.message || e}`); process.exit(1); });
