// ort_run.js runs ONNX models through ONNX Runtime (npm onnxruntime-node) for Refit's
// interop tests and benchmarks.
//
// Usage: NODE_PATH=/path/to/node_modules node ort_run.js spec.json
//
// spec.json:
//   {"threads": 1,            // intraOpNumThreads (default 1); interOpNumThreads is 1
//    "warmup": 0, "runs": 1,  // untimed warm-up runs, then timed runs (outputs of the last)
//    "optimization": "all",   // graphOptimizationLevel (default "all")
//    "keep_going": false,     // true: a failing job gives {"model", "error"} instead of exit 1
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
const {readNPY, writeNPY} = require('../npy.js');

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
  for (const [name, file] of Object.entries(job.inputs || {})) { const x = readNPY(file); feeds[name] = new ort.Tensor(x.type, x.data, x.dims); }
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
      writeNPY(file, out[name].data, out[name].dims, out[name].type);
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
      if (spec.keep_going) { results.push({model: job.model, error: String(e.message || e)}); continue; }
      throw new Error(`${job.model}: ${e.message || e}`);
    }
  }
  process.stdout.write(JSON.stringify(results) + '\n');
})().catch(e => { console.error(`ort_run: ${e.message || e}`); process.exit(1); });
