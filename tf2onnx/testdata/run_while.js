// run_while.js writes TF.js graph models with TensorFlow's lowered (v1) while loops
// (Enter/Merge/Switch/LoopCond/NextIteration/Exit, the form tfjs-converter keeps for
// tf.while_loop and tf.map_fn) and runs them with @tensorflow/tfjs's loadGraphModel,
// saving input and output beside each model.
//   while/    acc = x; repeat 4 times: acc = acc * s + x   (s a weight, x and s loop invariants)
//   nested/   acc = x; repeat 3 times: (repeat 2 times: acc = acc * s + x); acc = acc + 0.5
//   maplist/  tf.map_fn over the rows of x with TensorLists: row -> sigmoid(relu(row * s))
//   maparray/ tf.map_fn with TensorArrays (TF1's form, the faceboxes model's pattern)
//   functional/  the same kind of loop as functions of the graph's library (TF2's
//             form): StatefulPartitionedCall, StatelessWhile and StatelessIf
//   cond_then/, cond_else/  a lowered (v1) tf.cond, Switch/Merge on sum(x) > -100 (> 100
//             for cond_else): then relu or neg of x * 0.5 by a nested cond, else the
//             transpose of -x by a permutation that enters through a Switch and back
//             (rvm's pattern: constants a branch needs arrive through Switches)
// Usage: NODE_PATH=node_modules node run_while.js OUT_DIR
'use strict';
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
let seed = 3;
const rnd = n => Float32Array.from({length: n}, () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; });
const b64 = s => Buffer.from(s).toString('base64');
const F = {type: 'DT_FLOAT'}, I = {type: 'DT_INT32'};
const enter = (name, input, frame, constant, T = F) => ({name, op: 'Enter', input: [input], attr: {T, frame_name: {s: b64(frame)}, is_constant: {b: constant}, parallel_iterations: {i: '10'}}});
const cnst = (name, dtype, control) => ({name, op: 'Const', input: control ? ['^' + control] : [], attr: {dtype: {type: dtype}}});
const npy = (arr, dims) => { let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`; h = h.padEnd(117, ' ') + '\n';
  return Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY'), Buffer.from([1, 0, h.length, 0]), Buffer.from(h, 'latin1'), Buffer.from(Float32Array.from(arr).buffer)]); };

// weights: [name, dtype, shape, values]
// reference, when given, computes the output in plain JS instead of TF.js.
async function write(dir, nodes, weights, xShape, outputName, reference, library) {
  dir = path.join(out, dir);
  fs.mkdirSync(dir, {recursive: true});
  const specs = weights.map(([name, dtype, shape]) => ({name, shape, dtype}));
  const buf = Buffer.concat(weights.map(([, dtype, , v]) => Buffer.from((dtype === 'int32' ? Int32Array : Float32Array).from(v).buffer)));
  const modelJSON = {format: 'graph-model', generatedBy: 'refit testdata', convertedBy: 'run_while.js',
    modelTopology: {node: nodes, versions: {producer: 1}, ...(library ? {library} : {})}, weightsManifest: [{paths: ['weights.bin'], weights: specs}]};
  fs.writeFileSync(path.join(dir, 'weights.bin'), buf);
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJSON));
  const x = rnd(xShape.reduce((a, b) => a * b, 1));
  fs.writeFileSync(path.join(dir, 'x.npy'), npy(x, xShape));
  if (reference) {
    fs.writeFileSync(path.join(dir, 'y.npy'), npy(reference(x, weights), xShape));
    console.log(dir, 'ok (plain JS reference)');
    return;
  }
  const model = await tf.loadGraphModel({load: async () => ({modelTopology: modelJSON.modelTopology, weightSpecs: specs,
    weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length), format: 'graph-model'})});
  const y = await model.executeAsync({x: tf.tensor(x, xShape)}, outputName);
  fs.writeFileSync(path.join(dir, 'y.npy'), npy(await y.data(), y.shape));
  console.log(dir, 'ok', y.shape);
}

(async () => {
  const xShape = [2, 3];
  const x = {name: 'x', op: 'Placeholder', attr: {dtype: F, shape: {shape: {dim: xShape.map(d => ({size: String(d)}))}}}};
  // while/: two loop variables (counter i, accumulator acc), three invariants.
  const w = 'w/while_context';
  await write('while', [
    x, cnst('i0', 'DT_INT32'), cnst('n', 'DT_INT32'), cnst('s', 'DT_FLOAT'),
    enter('w/Enter', 'i0', w, false, I), enter('w/Enter_1', 'x', w, false),
    enter('w/Less/Enter', 'n', w, true, I), enter('w/mul/Enter', 's', w, true), enter('w/add_1/Enter', 'x', w, true),
    {name: 'w/Merge', op: 'Merge', input: ['w/Enter', 'w/NextIteration'], attr: {T: I, N: {i: '2'}}},
    {name: 'w/Merge_1', op: 'Merge', input: ['w/Enter_1', 'w/NextIteration_1'], attr: {T: F, N: {i: '2'}}},
    {name: 'w/Less', op: 'Less', input: ['w/Merge', 'w/Less/Enter'], attr: {T: I}},
    {name: 'w/LoopCond', op: 'LoopCond', input: ['w/Less']},
    {name: 'w/Switch', op: 'Switch', input: ['w/Merge', 'w/LoopCond'], attr: {T: I}},
    {name: 'w/Switch_1', op: 'Switch', input: ['w/Merge_1', 'w/LoopCond'], attr: {T: F}},
    {name: 'w/Identity', op: 'Identity', input: ['w/Switch:1'], attr: {T: I}},
    {name: 'w/Identity_1', op: 'Identity', input: ['w/Switch_1:1'], attr: {T: F}},
    cnst('w/add/y', 'DT_INT32', 'w/Identity'),
    {name: 'w/add', op: 'AddV2', input: ['w/Identity', 'w/add/y'], attr: {T: I}},
    {name: 'w/mul', op: 'Mul', input: ['w/Identity_1', 'w/mul/Enter'], attr: {T: F}},
    {name: 'w/add_1', op: 'AddV2', input: ['w/mul', 'w/add_1/Enter'], attr: {T: F}},
    {name: 'w/NextIteration', op: 'NextIteration', input: ['w/add'], attr: {T: I}},
    {name: 'w/NextIteration_1', op: 'NextIteration', input: ['w/add_1'], attr: {T: F}},
    {name: 'w/Exit', op: 'Exit', input: ['w/Switch'], attr: {T: I}},
    {name: 'w/Exit_1', op: 'Exit', input: ['w/Switch_1'], attr: {T: F}},
    {name: 'y', op: 'Tanh', input: ['w/Exit_1'], attr: {T: F}},
    {name: 'done', op: 'NoOp', input: ['^w/Exit']},
  ], [['i0', 'int32', [], [0]], ['n', 'int32', [], [4]], ['s', 'float32', [3], rnd(3).map(v => 2 * v)], ['w/add/y', 'int32', [], [1]]], xShape, 'y');

  // nested/: a loop inside a loop; the inner frame re-enters the outer invariants.
  const o = 'o/while_context', q = 'o/in/while_context';
  const loopVar = (p, frame, k, init, T) => [
    enter(`${p}/Enter${k}`, init, frame, false, T),
    {name: `${p}/Merge${k}`, op: 'Merge', input: [`${p}/Enter${k}`, `${p}/NextIteration${k}`], attr: {T, N: {i: '2'}}},
    {name: `${p}/Switch${k}`, op: 'Switch', input: [`${p}/Merge${k}`, `${p}/LoopCond`], attr: {T}},
    {name: `${p}/Identity${k}`, op: 'Identity', input: [`${p}/Switch${k}:1`], attr: {T}},
    {name: `${p}/Exit${k}`, op: 'Exit', input: [`${p}/Switch${k}`], attr: {T}},
  ];
  await write('nested', [
    x, cnst('i0', 'DT_INT32'), cnst('n', 'DT_INT32'), cnst('m', 'DT_INT32'), cnst('s', 'DT_FLOAT'),
    ...loopVar('o', o, '_i', 'i0', I), ...loopVar('o', o, '_acc', 'x', F),
    enter('o/n', 'n', o, true, I), enter('o/s', 's', o, true), enter('o/x', 'x', o, true), enter('o/m', 'm', o, true, I),
    cnst('o/j0', 'DT_INT32', 'o/Identity_i'),
    {name: 'o/Less', op: 'Less', input: ['o/Merge_i', 'o/n'], attr: {T: I}},
    {name: 'o/LoopCond', op: 'LoopCond', input: ['o/Less']},
    ...loopVar('o/in', q, '_j', 'o/j0', I), ...loopVar('o/in', q, '_a', 'o/Identity_acc', F),
    enter('o/in/m', 'o/m', q, true, I), enter('o/in/s', 'o/s', q, true), enter('o/in/x', 'o/x', q, true),
    {name: 'o/in/Less', op: 'Less', input: ['o/in/Merge_j', 'o/in/m'], attr: {T: I}},
    {name: 'o/in/LoopCond', op: 'LoopCond', input: ['o/in/Less']},
    cnst('o/in/one', 'DT_INT32', 'o/in/Identity_j'),
    {name: 'o/in/add', op: 'AddV2', input: ['o/in/Identity_j', 'o/in/one'], attr: {T: I}},
    {name: 'o/in/mul', op: 'Mul', input: ['o/in/Identity_a', 'o/in/s'], attr: {T: F}},
    {name: 'o/in/add_1', op: 'AddV2', input: ['o/in/mul', 'o/in/x'], attr: {T: F}},
    {name: 'o/in/NextIteration_j', op: 'NextIteration', input: ['o/in/add'], attr: {T: I}},
    {name: 'o/in/NextIteration_a', op: 'NextIteration', input: ['o/in/add_1'], attr: {T: F}},
    cnst('o/one', 'DT_INT32', 'o/Identity_i'), cnst('o/half', 'DT_FLOAT', 'o/Identity_i'),
    {name: 'o/add', op: 'AddV2', input: ['o/Identity_i', 'o/one'], attr: {T: I}},
    {name: 'o/add_1', op: 'AddV2', input: ['o/in/Exit_a', 'o/half'], attr: {T: F}},
    {name: 'o/NextIteration_i', op: 'NextIteration', input: ['o/add'], attr: {T: I}},
    {name: 'o/NextIteration_acc', op: 'NextIteration', input: ['o/add_1'], attr: {T: F}},
    {name: 'y', op: 'Tanh', input: ['o/Exit_acc'], attr: {T: F}},
    {name: 'done', op: 'NoOp', input: ['^o/Exit_i']},
  ], [['i0', 'int32', [], [0]], ['n', 'int32', [], [3]], ['m', 'int32', [], [2]], ['s', 'float32', [3], rnd(3)],
    ['o/j0', 'int32', [], [0]], ['o/in/one', 'int32', [], [1]], ['o/one', 'int32', [], [1]], ['o/half', 'float32', [], [0.5]]], xShape, 'y',
  // TF.js 4.22's executor loses tensors in this nested frame ("Tensor is disposed"), so
  // the expected output is the loop written out in float32 arithmetic.
  (x, weights) => {
    const s = weights.find(w => w[0] === 's')[3], f = Math.fround;
    return Array.from(x, (xv, k) => {
      let acc = xv;
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 2; j++) acc = f(f(acc * s[k % 3]) + xv);
        acc = f(acc + 0.5);
      }
      return Math.tanh(acc);
    });
  });

  // maparray/: TensorArrayV3 handles enter the loop as invariants, flows as loop
  // variables; the input is scattered, read at i, written at i, gathered by Range.
  {
    const a = 'ma/while/while_context', T = F, rows = 3, cols = 4;
    const ta = (name, size) => ({name, op: 'TensorArrayV3', input: [size], attr: {dtype: F, element_shape: {shape: {dim: [{size: String(cols)}]}},
      dynamic_size: {b: false}, clear_after_read: {b: true}, identical_element_shapes: {b: true}, tensor_array_name: {s: ''}}});
    await write('maparray', [
      {...x, attr: {dtype: F, shape: {shape: {dim: [{size: String(rows)}, {size: String(cols)}]}}}},
      cnst('ma/n', 'DT_INT32'), cnst('ma/zero', 'DT_INT32'), cnst('ma/one', 'DT_INT32'), cnst('s', 'DT_FLOAT'),
      ta('ma/in', 'ma/n'), ta('ma/out', 'ma/n'),
      {name: 'ma/range', op: 'Range', input: ['ma/zero', 'ma/n', 'ma/one'], attr: {Tidx: I}},
      {name: 'ma/scatter', op: 'TensorArrayScatterV3', input: ['ma/in', 'ma/range', 'x', 'ma/in:1'], attr: {T}},
      enter('ma/while/Enter', 'ma/zero', a, false, I), enter('ma/while/Enter_1', 'ma/out:1', a, false),
      enter('ma/while/n', 'ma/n', a, true, I), enter('ma/while/s', 's', a, true),
      enter('ma/while/in_h', 'ma/in', a, true, {type: 'DT_RESOURCE'}), enter('ma/while/in_flow', 'ma/scatter', a, true),
      enter('ma/while/out_h', 'ma/out', a, true, {type: 'DT_RESOURCE'}),
      {name: 'ma/while/Merge', op: 'Merge', input: ['ma/while/Enter', 'ma/while/NextIteration'], attr: {T: I, N: {i: '2'}}},
      {name: 'ma/while/Merge_1', op: 'Merge', input: ['ma/while/Enter_1', 'ma/while/NextIteration_1'], attr: {T: F, N: {i: '2'}}},
      {name: 'ma/while/Less', op: 'Less', input: ['ma/while/Merge', 'ma/while/n'], attr: {T: I}},
      {name: 'ma/while/LoopCond', op: 'LoopCond', input: ['ma/while/Less']},
      {name: 'ma/while/Switch', op: 'Switch', input: ['ma/while/Merge', 'ma/while/LoopCond'], attr: {T: I}},
      {name: 'ma/while/Switch_1', op: 'Switch', input: ['ma/while/Merge_1', 'ma/while/LoopCond'], attr: {T: F}},
      {name: 'ma/while/Identity', op: 'Identity', input: ['ma/while/Switch:1'], attr: {T: I}},
      {name: 'ma/while/read', op: 'TensorArrayReadV3', input: ['ma/while/in_h', 'ma/while/Switch:1', 'ma/while/in_flow'], attr: {dtype: F}},
      {name: 'ma/while/mul', op: 'Mul', input: ['ma/while/read', 'ma/while/s'], attr: {T}},
      {name: 'ma/while/tanh', op: 'Tanh', input: ['ma/while/mul'], attr: {T}},
      {name: 'ma/while/write', op: 'TensorArrayWriteV3', input: ['ma/while/out_h', 'ma/while/Switch:1', 'ma/while/tanh', 'ma/while/Switch_1:1'], attr: {T}},
      cnst('ma/while/add/y', 'DT_INT32', 'ma/while/Identity'),
      {name: 'ma/while/add', op: 'Add', input: ['ma/while/Switch:1', 'ma/while/add/y'], attr: {T: I}},
      {name: 'ma/while/NextIteration', op: 'NextIteration', input: ['ma/while/add'], attr: {T: I}},
      {name: 'ma/while/NextIteration_1', op: 'NextIteration', input: ['ma/while/write'], attr: {T: F}},
      {name: 'ma/while/Exit', op: 'Exit', input: ['ma/while/Switch'], attr: {T: I}},
      {name: 'ma/while/Exit_1', op: 'Exit', input: ['ma/while/Switch_1'], attr: {T: F}},
      {name: 'ma/size', op: 'TensorArraySizeV3', input: ['ma/out', 'ma/while/Exit_1']},
      {name: 'ma/range_1', op: 'Range', input: ['ma/zero', 'ma/size', 'ma/one'], attr: {Tidx: I}},
      {name: 'ma/gather', op: 'TensorArrayGatherV3', input: ['ma/out', 'ma/range_1', 'ma/while/Exit_1'], attr: {dtype: F, element_shape: {shape: {dim: [{size: String(cols)}]}}}},
      {name: 'y', op: 'Relu', input: ['ma/gather'], attr: {T}},
      {name: 'done', op: 'NoOp', input: ['^ma/while/Exit']},
    ], [['ma/n', 'int32', [], [rows]], ['ma/zero', 'int32', [], [0]], ['ma/one', 'int32', [], [1]], ['s', 'float32', [cols], rnd(cols).map(v => 4 * v)],
      ['ma/while/add/y', 'int32', [], [1]]], [rows, cols], 'y');
  }

  // functional/: y = If(sum(x) > 0, relu, neg)(While(i < 3: a = a * 0.5 + 1)(Call(x * s)))
  const B = {type: 'DT_BOOL'};
  const ic = (name, v, dtype = 'DT_INT32') => ({name, op: 'Const', attr: {dtype: {type: dtype},
    value: {tensor: {dtype, tensorShape: {}, ...(dtype === 'DT_FLOAT' ? {floatVal: [v]} : {intVal: [v]})}}}});
  const sig = (name, ins, outs) => ({name, inputArg: ins.map(([n, type]) => ({name: n, type})), outputArg: outs.map(([n, type]) => ({name: n, type}))});
  const library = {function: [
    {signature: sig('scale_fn', [['v', 'DT_FLOAT'], ['w', 'DT_FLOAT']], [['out', 'DT_FLOAT']]),
      nodeDef: [{name: 'mul', op: 'Mul', input: ['v', 'w'], attr: {T: F}}], ret: {out: 'mul:z:0'}},
    {signature: sig('cond_fn', [['i', 'DT_INT32'], ['a', 'DT_FLOAT']], [['out', 'DT_BOOL']]),
      nodeDef: [ic('n', 3), {name: 'less', op: 'Less', input: ['i', 'n:output:0'], attr: {T: I}}], ret: {out: 'less:z:0'}},
    {signature: sig('body_fn', [['i', 'DT_INT32'], ['a', 'DT_FLOAT']], [['i_out', 'DT_INT32'], ['a_out', 'DT_FLOAT']]),
      nodeDef: [ic('one', 1), ic('half', 0.5, 'DT_FLOAT'), ic('onef', 1, 'DT_FLOAT'),
        {name: 'add', op: 'AddV2', input: ['i', 'one:output:0'], attr: {T: I}},
        {name: 'mul', op: 'Mul', input: ['a', 'half:output:0'], attr: {T: F}},
        {name: 'add_1', op: 'AddV2', input: ['mul:z:0', 'onef:output:0'], attr: {T: F}}],
      ret: {i_out: 'add:z:0', a_out: 'add_1:z:0'}},
    {signature: sig('then_fn', [['a', 'DT_FLOAT']], [['out', 'DT_FLOAT']]),
      nodeDef: [{name: 'relu', op: 'Relu', input: ['a'], attr: {T: F}}], ret: {out: 'relu:activations:0'}},
    {signature: sig('else_fn', [['a', 'DT_FLOAT']], [['out', 'DT_FLOAT']]),
      nodeDef: [{name: 'neg', op: 'Neg', input: ['a'], attr: {T: F}}], ret: {out: 'neg:y:0'}},
  ]};
  const fattr = name => ({func: {name}});
  await write('functional', [
    x, cnst('s', 'DT_FLOAT'), cnst('i0', 'DT_INT32'), cnst('axes', 'DT_INT32'), cnst('zero', 'DT_FLOAT'),
    {name: 'call', op: 'StatefulPartitionedCall', input: ['x', 's'], attr: {f: fattr('scale_fn'), Tin: {list: {type: ['DT_FLOAT', 'DT_FLOAT']}}, Tout: {list: {type: ['DT_FLOAT']}}}},
    {name: 'loop', op: 'StatelessWhile', input: ['i0', 'call'], attr: {cond: fattr('cond_fn'), body: fattr('body_fn'), T: {list: {type: ['DT_INT32', 'DT_FLOAT']}}}},
    {name: 'sum', op: 'Sum', input: ['x', 'axes'], attr: {T: F, keep_dims: {b: false}}},
    {name: 'pred', op: 'Greater', input: ['sum', 'zero'], attr: {T: F}},
    {name: 'cond', op: 'StatelessIf', input: ['pred', 'loop:1'], attr: {then_branch: fattr('then_fn'), else_branch: fattr('else_fn'), Tcond: B, Tin: {list: {type: ['DT_FLOAT']}}, Tout: {list: {type: ['DT_FLOAT']}}}},
    {name: 'y', op: 'Tanh', input: ['cond'], attr: {T: F}},
  ], [['s', 'float32', [3], rnd(3).map(v => 4 * v)], ['i0', 'int32', [], [0]], ['axes', 'int32', [2], [0, 1]], ['zero', 'float32', [], [0]]], xShape, 'y',
  // TF.js runs no StatefulPartitionedCall (tfjs-converter inlines calls), so the
  // expected output is the graph written out in float32 arithmetic.
  (x, weights) => {
    const s = weights.find(w => w[0] === 's')[3], f = Math.fround;
    const pos = x.reduce((a, b) => a + b, 0) > 0;
    return Array.from(x, (xv, k) => {
      let a = f(xv * s[k % 3]);
      for (let i = 0; i < 3; i++) a = f(f(a * 0.5) + 1);
      return Math.tanh(pos ? Math.max(a, 0) : -a);
    });
  }, library);

  // maplist/: tf.map_fn as TF2 lowers it (the handtrack model's pattern): every list
  // is a loop variable, the counter comes through an Identity, the source list is passed on.
  const m = 'map/while';
  const rows = 3, cols = 4;
  await write('maplist', [
    {...x, attr: {dtype: F, shape: {shape: {dim: [{size: String(rows)}, {size: String(cols)}]}}}},
    cnst('map/elem_shape', 'DT_INT32'), cnst('map/num', 'DT_INT32'), cnst('map/Const', 'DT_INT32'), cnst('map/n', 'DT_INT32'), cnst('s', 'DT_FLOAT'),
    {name: 'map/from', op: 'TensorListFromTensor', input: ['x', 'map/elem_shape'], attr: {element_dtype: F, shape_type: I}},
    {name: 'map/reserve', op: 'TensorListReserve', input: ['map/elem_shape', 'map/num'], attr: {element_dtype: F, shape_type: I}},
    enter('map/while/enter/_1', 'map/Const', m, false, I), enter('map/while/enter/_2', 'map/reserve', m, false, {type: 'DT_VARIANT'}),
    enter('map/while/enter/_3', 'map/from', m, false, {type: 'DT_VARIANT'}), enter('map/while/enter/_4', 'map/n', m, true, I),
    enter('map/while/enter/_5', 's', m, true),
    {name: 'map/while/merge/_1', op: 'Merge', input: ['map/while/enter/_1', 'map/while/next_iteration/_1']},
    {name: 'map/while/merge/_2', op: 'Merge', input: ['map/while/enter/_2', 'map/while/next_iteration/_2']},
    {name: 'map/while/merge/_3', op: 'Merge', input: ['map/while/enter/_3', 'map/while/next_iteration/_3']},
    {name: 'map/while/cond/Less', op: 'Less', input: ['map/while/merge/_1', 'map/while/enter/_4'], attr: {T: I}},
    {name: 'map/while/LoopCond', op: 'LoopCond', input: ['map/while/cond/Less']},
    {name: 'map/while/switch/_1', op: 'Switch', input: ['map/while/merge/_1', 'map/while/LoopCond']},
    {name: 'map/while/switch/_2', op: 'Switch', input: ['map/while/merge/_2', 'map/while/LoopCond']},
    {name: 'map/while/switch/_3', op: 'Switch', input: ['map/while/merge/_3', 'map/while/LoopCond']},
    {name: 'map/while/body_control', op: 'Identity', input: ['map/while/switch/_1:1']},
    {name: 'map/while/input/i', op: 'Identity', input: ['map/while/switch/_1:1', '^map/while/body_control']},
    cnst('map/while/body/elem_shape', 'DT_INT32', 'map/while/body_control'),
    cnst('map/while/body/one', 'DT_INT32', 'map/while/body_control'),
    {name: 'map/while/body/get', op: 'TensorListGetItem', input: ['map/while/switch/_3:1', 'map/while/input/i', 'map/while/body/elem_shape'], attr: {element_dtype: F}},
    {name: 'map/while/body/mul', op: 'Mul', input: ['map/while/body/get', 'map/while/enter/_5'], attr: {T: F}},
    {name: 'map/while/body/relu', op: 'Relu', input: ['map/while/body/mul'], attr: {T: F}},
    {name: 'map/while/body/set', op: 'TensorListSetItem', input: ['map/while/switch/_2:1', 'map/while/input/i', 'map/while/body/relu'], attr: {element_dtype: F}},
    {name: 'map/while/body/add', op: 'AddV2', input: ['map/while/input/i', 'map/while/body/one'], attr: {T: I}},
    {name: 'map/while/next_iteration/_1', op: 'NextIteration', input: ['map/while/body/add', '^map/while/body_control']},
    {name: 'map/while/next_iteration/_2', op: 'NextIteration', input: ['map/while/body/set', '^map/while/body_control']},
    {name: 'map/while/next_iteration/_3', op: 'NextIteration', input: ['map/while/switch/_3:1', '^map/while/body_control']},
    {name: 'map/while/exit/_1', op: 'Exit', input: ['map/while/switch/_1']},
    {name: 'map/while/exit/_2', op: 'Exit', input: ['map/while/switch/_2']},
    {name: 'map/while/exit/_3', op: 'Exit', input: ['map/while/switch/_3']},
    {name: 'map/stack', op: 'TensorListStack', input: ['map/while/exit/_2', 'map/elem_shape'], attr: {element_dtype: F, num_elements: {i: String(rows)}}},
    {name: 'y', op: 'Sigmoid', input: ['map/stack'], attr: {T: F}},
    {name: 'done', op: 'NoOp', input: ['^map/while/exit/_1', '^map/while/exit/_3']},
  ], [['map/elem_shape', 'int32', [1], [cols]], ['map/num', 'int32', [], [rows]], ['map/Const', 'int32', [], [0]], ['map/n', 'int32', [], [rows]],
    ['s', 'float32', [cols], rnd(cols).map(v => 4 * v)], ['map/while/body/elem_shape', 'int32', [1], [cols]], ['map/while/body/one', 'int32', [], [1]]],
  [rows, cols], 'y');

  for (const [dir, threshold] of [['cond_then', -100], ['cond_else', 100]]) {
    const c = 'c/';
    await write(dir, [
      x, cnst('axes', 'DT_INT32'), cnst('zero', 'DT_FLOAT'), cnst('perm', 'DT_INT32'),
      {name: 'sum', op: 'Sum', input: ['x', 'axes'], attr: {T: F, keep_dims: {b: false}}},
      {name: 'pred', op: 'Greater', input: ['sum', 'zero'], attr: {T: F}},
      {name: c + 'switch_pred', op: 'Switch', input: ['pred', 'pred'], attr: {T: B}},
      {name: c + 'pivot_t', op: 'Identity', input: [c + 'switch_pred:1'], attr: {T: B}},
      {name: c + 'pivot_f', op: 'Identity', input: [c + 'switch_pred'], attr: {T: B}},
      {name: c + 'switch_x', op: 'Switch', input: ['x', 'pred'], attr: {T: F}},
      {name: c + 'switch_perm', op: 'Switch', input: ['perm', 'pred'], attr: {T: I}},
      // then: t = x * 0.5; relu(t) if sum(t) > 0 else -t (a nested cond)
      cnst(c + 'then/half', 'DT_FLOAT', c + 'pivot_t'), cnst(c + 'then/axes', 'DT_INT32', c + 'pivot_t'), cnst(c + 'then/zero', 'DT_FLOAT', c + 'pivot_t'),
      {name: c + 'then/x', op: 'Identity', input: [c + 'switch_x:1', '^' + c + 'pivot_t'], attr: {T: F}},
      {name: c + 'then/mul', op: 'Mul', input: [c + 'then/x', c + 'then/half'], attr: {T: F}},
      {name: c + 'then/sum', op: 'Sum', input: [c + 'then/mul', c + 'then/axes'], attr: {T: F, keep_dims: {b: false}}},
      {name: c + 'then/pred', op: 'Greater', input: [c + 'then/sum', c + 'then/zero'], attr: {T: F}},
      {name: c + 'then/c/switch', op: 'Switch', input: [c + 'then/mul', c + 'then/pred'], attr: {T: F}},
      {name: c + 'then/c/relu', op: 'Relu', input: [c + 'then/c/switch:1'], attr: {T: F}},
      {name: c + 'then/c/neg', op: 'Neg', input: [c + 'then/c/switch'], attr: {T: F}},
      {name: c + 'then/c/merge', op: 'Merge', input: [c + 'then/c/relu', c + 'then/c/neg'], attr: {T: F, N: {i: '2'}}},
      // else: transpose(transpose(-x, perm), [1, 0]) with perm from the Switch
      cnst(c + 'else/back', 'DT_INT32', c + 'pivot_f'),
      {name: c + 'else/perm', op: 'Identity', input: [c + 'switch_perm', '^' + c + 'pivot_f'], attr: {T: I}},
      {name: c + 'else/neg', op: 'Neg', input: [c + 'switch_x'], attr: {T: F}},
      {name: c + 'else/t', op: 'Transpose', input: [c + 'else/neg', c + 'else/perm'], attr: {T: F, Tperm: I}},
      {name: c + 'else/t2', op: 'Transpose', input: [c + 'else/t', c + 'else/back'], attr: {T: F, Tperm: I}},
      {name: c + 'output', op: 'Merge', input: [c + 'then/c/merge', c + 'else/t2'], attr: {T: F, N: {i: '2'}}},
      // after constant folding TF keeps a Merge of two constants ordered after the branches
      cnst(c + 'pt', 'DT_FLOAT', c + 'pivot_t'), cnst(c + 'pf', 'DT_FLOAT', c + 'pivot_f'),
      {name: c + 'branch_executed', op: 'Merge', input: [c + 'pt', c + 'pf', '^' + c + 'then/c/merge'], attr: {T: F, N: {i: '2'}}},
      {name: 'y', op: 'Tanh', input: [c + 'output'], attr: {T: F}},
      {name: 'done', op: 'NoOp', input: ['^' + c + 'branch_executed']},
    ], [['axes', 'int32', [2], [0, 1]], ['zero', 'float32', [], [threshold]], ['perm', 'int32', [2], [1, 0]],
      [c + 'then/half', 'float32', [], [0.5]], [c + 'then/axes', 'int32', [2], [0, 1]], [c + 'then/zero', 'float32', [], [0]],
      [c + 'else/back', 'int32', [2], [1, 0]], [c + 'pt', 'float32', [], [1]], [c + 'pf', 'float32', [], [0]]], xShape, 'y');
  }
})().catch(e => { console.error(e); process.exit(1); });
