// run_graph.js writes a small TF.js graph model (model.json + weights) with known
// weights and runs it with @tensorflow/tfjs's loadGraphModel, saving input and output.
// Usage: NODE_PATH=node_modules node run_graph.js OUT_DIR
'use strict';
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
fs.mkdirSync(out, {recursive: true});
let seed = 1;
const rnd = n => Float32Array.from({length: n}, () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; });
const b64 = s => Buffer.from(s).toString('base64');
const weights = [
  ['w1', [3, 3, 3, 8]], ['b1', [8]], ['dw', [3, 3, 8, 1]], ['db', [8]],
  ['bn_s', [8]], ['bn_o', [8]], ['bn_m', [8]], ['bn_v', [8]], ['fc', [8, 5]], ['fb', [5]],
];
const data = weights.map(([n, s]) => { const v = rnd(s.reduce((a, b) => a * b, 1)); if (n === 'bn_v') v.forEach((x, i) => v[i] = x + 1); return v; });
const ints = {axes: [[2], Int32Array.from([1, 2])], shape: [[2], Int32Array.from([-1, 5])]};
const nodes = [
  {name: 'x', op: 'Placeholder', attr: {dtype: {type: 'DT_FLOAT'}, shape: {shape: {dim: [{size: '-1'}, {size: '9'}, {size: '9'}, {size: '3'}]}}}},
  ...weights.map(([n]) => ({name: n, op: 'Const', attr: {dtype: {type: 'DT_FLOAT'}}})),
  ...Object.keys(ints).map(n => ({name: n, op: 'Const', attr: {dtype: {type: 'DT_INT32'}}})),
  {name: 'conv1', op: '_FusedConv2D', input: ['x', 'w1', 'b1'], attr: {T: {type: 'DT_FLOAT'}, strides: {list: {i: ['1', '2', '2', '1']}}, padding: {s: b64('SAME')}, data_format: {s: b64('NHWC')}, dilations: {list: {i: ['1', '1', '1', '1']}}, num_args: {i: '1'}, fused_ops: {list: {s: [b64('BiasAdd'), b64('Relu6')]}}}},
  {name: 'dconv', op: 'DepthwiseConv2dNative', input: ['conv1', 'dw'], attr: {T: {type: 'DT_FLOAT'}, strides: {list: {i: ['1', '1', '1', '1']}}, padding: {s: b64('SAME')}, data_format: {s: b64('NHWC')}, dilations: {list: {i: ['1', '1', '1', '1']}}}},
  {name: 'dbias', op: 'BiasAdd', input: ['dconv', 'db'], attr: {T: {type: 'DT_FLOAT'}}},
  {name: 'bn', op: 'FusedBatchNormV3', input: ['dbias', 'bn_s', 'bn_o', 'bn_m', 'bn_v'], attr: {T: {type: 'DT_FLOAT'}, epsilon: {f: 0.001}}},
  {name: 'relu', op: 'Relu', input: ['bn'], attr: {T: {type: 'DT_FLOAT'}}},
  {name: 'pool', op: 'MaxPool', input: ['relu'], attr: {T: {type: 'DT_FLOAT'}, ksize: {list: {i: ['1', '2', '2', '1']}}, strides: {list: {i: ['1', '2', '2', '1']}}, padding: {s: b64('SAME')}}},
  {name: 'mean', op: 'Mean', input: ['pool', 'axes'], attr: {T: {type: 'DT_FLOAT'}, keep_dims: {b: false}}},
  {name: 'fc1', op: '_FusedMatMul', input: ['mean', 'fc', 'fb'], attr: {T: {type: 'DT_FLOAT'}, transpose_a: {b: false}, transpose_b: {b: false}, num_args: {i: '1'}, fused_ops: {list: {s: [b64('BiasAdd')]}}}},
  {name: 'rs', op: 'Reshape', input: ['fc1', 'shape'], attr: {T: {type: 'DT_FLOAT'}}},
  {name: 'prob', op: 'Softmax', input: ['rs'], attr: {T: {type: 'DT_FLOAT'}}},
];
const specs = weights.map(([n, s]) => ({name: n, shape: s, dtype: 'float32'}))
  .concat(Object.entries(ints).map(([n, [s]]) => ({name: n, shape: s, dtype: 'int32'})));
const bufs = data.map(d => Buffer.from(d.buffer)).concat(Object.values(ints).map(([, v]) => Buffer.from(v.buffer)));
fs.writeFileSync(path.join(out, 'weights.bin'), Buffer.concat(bufs));
const modelJSON = {format: 'graph-model', generatedBy: 'refit testdata', convertedBy: 'run_graph.js',
  modelTopology: {node: nodes, versions: {producer: 1}}, weightsManifest: [{paths: ['weights.bin'], weights: specs}]};
fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(modelJSON));
(async () => {
  const w = Buffer.concat(bufs);
  const model = await tf.loadGraphModel({load: async () => ({modelTopology: modelJSON.modelTopology, weightSpecs: specs,
    weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.length), format: 'graph-model'})});
  const x = rnd(2 * 9 * 9 * 3);
  const y = model.predict(tf.tensor(x, [2, 9, 9, 3]));
  const npy = (arr, dims) => { let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}), }`; h = h.padEnd(117, ' ') + '\n';
    return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, h.length, 0]), Buffer.from(h, 'latin1'), Buffer.from(Float32Array.from(arr).buffer)]); };
  fs.writeFileSync(path.join(out, 'x.npy'), npy(x, [2, 9, 9, 3]));
  fs.writeFileSync(path.join(out, 'y.npy'), npy(await y.data(), y.shape));
  console.log('ok', y.shape);
})().catch(e => { console.error(e); process.exit(1); });
