// ort_logits.js runs quantized ONNX models through ONNX Runtime (npm onnxruntime-node)
// for Refit's quantization interop tests.
//
// Usage: NODE_PATH=/path/to/node_modules node ort_logits.js spec.json
// spec.json: {"jobs": [{"model": "m.onnx", "input_name": "input", "input": "x.f32",
//             "shape": [n, ...], "output": "y.f32"}]}
// Inputs and outputs are raw little-endian float32 files; the first model output is
// written. Prints {"ok": true} on success.
'use strict';
const ort = require('onnxruntime-node');
const fs = require('fs');

(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of spec.jobs) {
    const opts = {intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all'};
    let sess;
    try {
      sess = await ort.InferenceSession.create(job.model, opts);
    } catch (e) {
      throw new Error(`${job.model}: ${e.message || e}`);
    }
    const b = fs.readFileSync(job.input);
    const data = new Float32Array(b.length / 4);
    Buffer.from(data.buffer).set(b);
    const feeds = {[job.input_name]: new ort.Tensor('float32', data, job.shape)};
    const out = (await sess.run(feeds))[sess.outputNames[0]];
    const d = out.data;
    fs.writeFileSync(job.output, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  process.stdout.write(JSON.stringify({ok: true}) + '\n');
})().catch(e => { console.error(`ort_logits: ${e.message || e}`); process.exit(1); });
