// ops_gen.js writes small TF.js graph models, one per operator family the real models
// of interop/tfjsgraph do not cover well (NMS V3/V4/V5, resize flags, transposed
// convolution padding, multi-output ops, floor division of negatives, masks of
// StridedSlice ...), with seeded inputs. The test runs them in TF.js (graph_run.js)
// and, converted, in ONNX Runtime.
//
// Usage: node ops_gen.js OUT_DIR
// Writes OUT_DIR/<case>/model.json, weights.bin and in<i>.npy, and OUT_DIR/cases.json:
// [{"name", "inputs": {"placeholder": "in0.npy"}, "outputs": ["node:k", ...]}].
'use strict';
const fs = require('fs');
const path = require('path');
const {writeNPY} = require('../npy.js');

const out = process.argv[2];
let seed = 11;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const b64 = s => Buffer.from(s).toString('base64');
const size = s => s.reduce((a, b) => a * b, 1);
const T = t => ({T: {type: t || 'DT_FLOAT'}});
const ints = (name, v) => ({list: {i: v.map(String)}});

// model writes one case. ph: [[name, shape, dtype, values]], consts: [[name, shape, dtype, values]].
function model(name, ph, consts, nodes, outputsWithTypes) {
  const dir = path.join(out, name);
  fs.mkdirSync(dir, {recursive: true});
  const all = [
    ...ph.map(([n, s, dt]) => ({name: n, op: 'Placeholder', attr: {dtype: {type: dt}, shape: {shape: {dim: s.map(d => ({size: String(d)}))}}}})),
    ...consts.map(([n, , dt]) => ({name: n, op: 'Const', attr: {dtype: {type: dt}}})),
    ...nodes,
  ];
  const specs = consts.map(([n, s, dt]) => ({name: n, shape: s, dtype: dt === 'DT_FLOAT' ? 'float32' : 'int32'}));
  const bufs = consts.map(([, , dt, v]) => Buffer.from((dt === 'DT_FLOAT' ? Float32Array : Int32Array).from(v).buffer));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(bufs));
  const sigOut = {};
  // An output "node:k@DT_INT32" declares its dtype; the default is DT_FLOAT.
  const outputs = outputsWithTypes.map(o => o.split('@')[0]);
  outputsWithTypes.forEach((o, i) => { sigOut['out_' + i] = {name: o.split('@')[0], dtype: o.split('@')[1] || 'DT_FLOAT'}; });
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({format: 'graph-model', generatedBy: 'refit ops_gen.js',
    convertedBy: 'hand', signature: {outputs: sigOut}, modelTopology: {node: all, versions: {producer: 1}},
    weightsManifest: [{paths: ['weights.bin'], weights: specs}]}));
  const inputs = {};
  ph.forEach(([n, s, dt, v], i) => {
    const file = `in${i}.npy`;
    writeNPY(path.join(dir, file), dt === 'DT_FLOAT' ? Float32Array.from(v) : Int32Array.from(v), s);
    inputs[n] = file;
  });
  return {name, inputs, outputs};
}

const randArr = (n, lo, hi) => Array.from({length: n}, () => lo + (hi - lo) * rnd());
function boxes(n) {
  const v = [];
  for (let i = 0; i < n; i++) {
    const y = rnd() * 0.7, x = rnd() * 0.7, h = 0.1 + rnd() * 0.3, w = 0.1 + rnd() * 0.3;
    v.push(y, x, y + h, x + w);
  }
  return v;
}

const cases = [];
// Non-max suppression: boxes overlap often at N=24 in the unit square.
const nmsPh = [['boxes', [24, 4], 'DT_FLOAT', boxes(24)], ['scores', [24], 'DT_FLOAT', randArr(24, 0, 1)]];
const nmsConsts = [['max', [], 'DT_INT32', [10]], ['iou', [], 'DT_FLOAT', [0.3]], ['thr', [], 'DT_FLOAT', [0.2]], ['sigma', [], 'DT_FLOAT', [0]]];
const castF = (name, x) => ({name, op: 'Cast', input: [x], attr: {SrcT: {type: 'DT_INT32'}, DstT: {type: 'DT_FLOAT'}}});
cases.push(model('nms_v3', nmsPh, nmsConsts, [
  {name: 'nms', op: 'NonMaxSuppressionV3', input: ['boxes', 'scores', 'max', 'iou', 'thr'], attr: T()},
  castF('idx', 'nms')], ['idx']));
cases.push(model('nms_v4_padded', nmsPh, nmsConsts, [
  {name: 'nms', op: 'NonMaxSuppressionV4', input: ['boxes', 'scores', 'max', 'iou', 'thr'], attr: {...T(), pad_to_max_output_size: {b: true}}},
  castF('idx', 'nms'), castF('n', 'nms:1')], ['idx', 'n']));
cases.push(model('nms_v5', nmsPh, nmsConsts, [
  {name: 'nms', op: 'NonMaxSuppressionV5', input: ['boxes', 'scores', 'max', 'iou', 'thr', 'sigma'], attr: {...T(), pad_to_max_output_size: {b: false}}},
], ['nms@DT_INT32', 'nms:1'])); // TF.js's V5 returns no valid_outputs

// Resize with every flag combination, up- and downsampling.
const img = [['x', [1, 5, 7, 3], 'DT_FLOAT', randArr(105, -1, 1)]];
const resizeNodes = [];
const resizeOuts = [];
for (const op of ['ResizeBilinear', 'ResizeNearestNeighbor']) {
  for (const [flag, ac, hp] of [['plain', false, false], ['align', true, false], ['half', false, true]]) {
    for (const sz of ['up', 'down']) {
      const name = `${op}_${flag}_${sz}`;
      resizeNodes.push({name, op, input: ['x', sz], attr: {...T(), align_corners: {b: ac}, half_pixel_centers: {b: hp}}});
      resizeOuts.push(name);
    }
  }
}
cases.push(model('resize', img, [['up', [2], 'DT_INT32', [9, 11]], ['down', [2], 'DT_INT32', [3, 4]]], resizeNodes, resizeOuts));

// Transposed convolution: SAME and VALID, stride 2, odd and even output sizes.
const dy = [['dy', [1, 4, 5, 6], 'DT_FLOAT', randArr(120, -1, 1)]];
const filt = ['w', [3, 3, 2, 6], 'DT_FLOAT', randArr(108, -0.5, 0.5)];
const bp = (name, sizes, pad) => ({name, op: 'Conv2DBackpropInput', input: [sizes, 'w', 'dy'],
  attr: {...T(), strides: ints('', [1, 2, 2, 1]), padding: {s: b64(pad)}, data_format: {s: b64('NHWC')}, dilations: ints('', [1, 1, 1, 1])}});
cases.push(model('conv2d_backprop_input', dy, [filt, ['s_even', [4], 'DT_INT32', [1, 8, 10, 2]], ['s_odd', [4], 'DT_INT32', [1, 7, 9, 2]],
  ['s_valid', [4], 'DT_INT32', [1, 9, 11, 2]], ['s_valid_more', [4], 'DT_INT32', [1, 10, 12, 2]]], [
  bp('same_even', 's_even', 'SAME'), bp('same_odd', 's_odd', 'SAME'), bp('valid', 's_valid', 'VALID'), bp('valid_more', 's_valid_more', 'VALID')],
['same_even', 'same_odd', 'valid', 'valid_more']));

// Multi-output operators and their k-th outputs.
const m = [['x', [2, 6, 4], 'DT_FLOAT', randArr(48, -2, 2)]];
cases.push(model('multi_output', m, [['dim1', [], 'DT_INT32', [1]], ['sizes', [3], 'DT_INT32', [1, 2, 3]], ['k', [], 'DT_INT32', [3]],
  ['sizes_inferred', [3], 'DT_INT32', [2, -1, 1]]], [
  {name: 'splitv_inferred', op: 'SplitV', input: ['x', 'sizes_inferred', 'dim1'], attr: {...T(), num_split: {i: '3'}, Tlen: {type: 'DT_INT32'}}},
  {name: 'split', op: 'Split', input: ['dim1', 'x'], attr: {...T(), num_split: {i: '3'}}},
  {name: 'splitv', op: 'SplitV', input: ['x', 'sizes', 'dim1'], attr: {...T(), num_split: {i: '3'}, Tlen: {type: 'DT_INT32'}}},
  {name: 'unpack', op: 'Unpack', input: ['x'], attr: {...T(), num: {i: '4'}, axis: {i: '-1'}}},
  {name: 'topk', op: 'TopKV2', input: ['x', 'k'], attr: {...T(), sorted: {b: true}}},
  castF('topk_idx', 'topk:1'),
  {name: 'addn', op: 'AddN', input: ['split', 'split:1', 'split:2'], attr: {...T(), N: {i: '3'}}},
  {name: 'pack', op: 'Pack', input: ['unpack:3', 'unpack:1'], attr: {...T(), N: {i: '2'}, axis: {i: '-1'}}},
], ['split:2', 'splitv', 'splitv:1', 'splitv:2', 'splitv_inferred:1', 'splitv_inferred:2', 'unpack:1', 'unpack:3', 'topk', 'topk_idx', 'addn', 'pack']));

// Integer and float floor division/modulo with negative operands, Atan2 in all quadrants.
const ia = [-7, -6, -5, -1, 0, 1, 5, 6, 7, -7, 7, 3];
const ib = [2, 2, 3, 4, 5, 3, -2, -4, -3, -2, 3, -5];
const fy = [1, 1, -1, -1, 0, 0, 2, -2, 0.5, -0.5, 3, -3];
const fx = [1, -1, 1, -1, 1, -1, 0.5, -4, -0.25, -0.25, 2, 2];
cases.push(model('arith', [['a', [12], 'DT_INT32', ia], ['b', [12], 'DT_INT32', ib], ['y', [12], 'DT_FLOAT', fy], ['xx', [12], 'DT_FLOAT', fx]], [], [
  {name: 'fdiv', op: 'FloorDiv', input: ['a', 'b'], attr: T('DT_INT32')}, castF('fdiv_f', 'fdiv'),
  {name: 'fmod', op: 'FloorMod', input: ['a', 'b'], attr: T('DT_INT32')}, castF('fmod_f', 'fmod'),
  {name: 'ffdiv', op: 'FloorDiv', input: ['y', 'xx'], attr: T()},
  {name: 'ffmod', op: 'FloorMod', input: ['y', 'xx'], attr: T()},
  {name: 'atan2', op: 'Atan2', input: ['y', 'xx'], attr: T()},
  {name: 'sqd', op: 'SquaredDifference', input: ['y', 'xx'], attr: T()},
], ['fdiv_f', 'fmod_f', 'ffdiv', 'ffmod', 'atan2', 'sqd']));

// StridedSlice with ellipsis and new-axis masks, DepthToSpace, Prelu.
const s4 = [['x', [2, 4, 6, 8], 'DT_FLOAT', randArr(384, -1, 1)]];
const ss = (name, b, e, s, masks) => ({name, op: 'StridedSlice', input: ['x', b, e, s], attr: {...T(), Index: {type: 'DT_INT32'},
  begin_mask: {i: String(masks.begin || 0)}, end_mask: {i: String(masks.end || 0)}, ellipsis_mask: {i: String(masks.ellipsis || 0)},
  new_axis_mask: {i: String(masks.newAxis || 0)}, shrink_axis_mask: {i: String(masks.shrink || 0)}}});
cases.push(model('strided_masks', s4, [
  // x[..., 1:7:2, newaxis]
  ['b1', [3], 'DT_INT32', [0, 1, 0]], ['e1', [3], 'DT_INT32', [0, 7, 0]], ['st1', [3], 'DT_INT32', [1, 2, 1]],
  // x[newaxis, ..., 1:3], x[1:2, ..., ::2] and x[..., 2] (TF.js's CPU kernel fails on
  // x[1, ..., ::2], a shrink before the ellipsis)
  ['b2', [3], 'DT_INT32', [0, 0, 1]], ['e2', [3], 'DT_INT32', [0, 0, 3]], ['st2', [3], 'DT_INT32', [1, 1, 1]],
  ['b3', [3], 'DT_INT32', [1, 0, 0]], ['e3', [3], 'DT_INT32', [2, 0, 0]], ['st3', [3], 'DT_INT32', [1, 1, 2]],
  ['b4', [2], 'DT_INT32', [0, 2]], ['e4', [2], 'DT_INT32', [0, 3]], ['st4', [2], 'DT_INT32', [1, 1]],
  ['alpha', [8], 'DT_FLOAT', randArr(8, 0, 0.5)]], [
  ss('ss1', 'b1', 'e1', 'st1', {ellipsis: 1, newAxis: 4}),
  ss('ss2', 'b2', 'e2', 'st2', {newAxis: 1, ellipsis: 2}),
  ss('ss3', 'b3', 'e3', 'st3', {ellipsis: 2, begin: 4, end: 4}),
  ss('ss4', 'b4', 'e4', 'st4', {ellipsis: 1, shrink: 2}),
  {name: 'd2s', op: 'DepthToSpace', input: ['x'], attr: {...T(), block_size: {i: '2'}, data_format: {s: b64('NHWC')}}},
  {name: 'prelu', op: 'Prelu', input: ['x', 'alpha'], attr: T()},
], ['ss1', 'ss2', 'ss3', 'ss4', 'd2s', 'prelu']));

// CropAndResize: boxes inside, flipped and partly outside the image; both methods.
// Nearest sampling is compared away from exact half-pixel positions, where TF.js's
// float64 arithmetic and ONNX's float32 may round to different pixels.
const cropBoxes = [0.11, 0.2, 0.83, 0.91, 0.72, 0.63, 0.21, 0.12, -0.31, -0.2, 0.53, 1.4, 0.27, 0.26, 0.27, 0.74, 0, 0, 1, 1];
const car = (name, crop, method) => ({name, op: 'CropAndResize', input: ['img', 'cboxes', 'bind', crop],
  attr: {...T(), method: {s: b64(method)}, extrapolation_value: {f: 0.5}}});
cases.push(model('crop_and_resize', [['img', [2, 6, 7, 3], 'DT_FLOAT', randArr(252, -1, 1)], ['cboxes', [5, 4], 'DT_FLOAT', cropBoxes],
  ['bind', [5], 'DT_INT32', [0, 1, 1, 0, 1]]], [['c43', [2], 'DT_INT32', [4, 3]], ['c11', [2], 'DT_INT32', [1, 1]]], [
  car('bilinear', 'c43', 'bilinear'), car('bilinear_1x1', 'c11', 'bilinear'), car('nearest', 'c43', 'nearest')],
['bilinear', 'bilinear_1x1', 'nearest']));

// SpaceToBatchND -> dilated-style conv -> BatchToSpaceND (as TF lowers atrous convs),
// and the one-input Where.
const sb = [['x', [2, 7, 9, 3], 'DT_FLOAT', randArr(378, -1, 1)]];
cases.push(model('space_batch', sb, [['block', [2], 'DT_INT32', [2, 3]], ['pads', [2, 2], 'DT_INT32', [1, 0, 2, 1]],
  ['crops', [2, 2], 'DT_INT32', [1, 0, 2, 1]], ['w', [3, 3, 3, 4], 'DT_FLOAT', randArr(108, -0.5, 0.5)], ['zero', [], 'DT_FLOAT', [0]]], [
  {name: 's2b', op: 'SpaceToBatchND', input: ['x', 'block', 'pads'], attr: {...T(), Tblock_shape: {type: 'DT_INT32'}, Tpaddings: {type: 'DT_INT32'}}},
  {name: 'conv', op: 'Conv2D', input: ['s2b', 'w'], attr: {...T(), strides: ints('', [1, 1, 1, 1]), padding: {s: b64('SAME')}, data_format: {s: b64('NHWC')}, dilations: ints('', [1, 1, 1, 1])}},
  {name: 'b2s', op: 'BatchToSpaceND', input: ['conv', 'block', 'crops'], attr: {...T(), Tblock_shape: {type: 'DT_INT32'}, Tcrops: {type: 'DT_INT32'}}},
  {name: 'pos', op: 'Greater', input: ['x', 'zero'], attr: T()},
  {name: 'where', op: 'Where', input: ['pos'], attr: T('DT_BOOL')},
], ['s2b', 'b2s', 'where@DT_INT64']));

fs.writeFileSync(path.join(out, 'cases.json'), JSON.stringify(cases));
