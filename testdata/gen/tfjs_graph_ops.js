// tfjs_graph_ops.js lists the TensorFlow operators of every TF.js graph model
// (model.json-style files with modelTopology.node) in the folders given, with how many
// models use each and how many nodes there are; functions in modelTopology.library
// are counted too (marked "in functions"). Operators whose name appears nowhere as a
// string literal in tf2onnx/*.go are marked "UNSUPPORTED" (a source scan: the
// conversion itself, e.g. interop/tfjsgraph's TestHumanModels, is the final word).
// Usage: node testdata/gen/tfjs_graph_ops.js testdata/cache/human-models/models
'use strict';
const fs = require('fs');
const path = require('path');
const ops = new Map(); // op -> {nodes, models:Set}
let models = 0;
const add = (op, model) => {
  if (!ops.has(op)) ops.set(op, {nodes: 0, models: new Set()});
  const e = ops.get(op);
  e.nodes++;
  e.models.add(model);
};
for (const dir of process.argv.slice(2)) {
  for (const f of fs.readdirSync(dir).filter(f => f.endsWith('.json')).sort()) {
    let mj;
    try { mj = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')); } catch { continue; }
    const nodes = mj.modelTopology && mj.modelTopology.node;
    if (!Array.isArray(nodes)) continue;
    models++;
    const name = f.replace(/\.json$/, '');
    for (const n of nodes) add(n.op, name);
    for (const fn of ((mj.modelTopology.library || {}).function || [])) {
      for (const n of fn.nodeDef || []) add(n.op + ' (in functions)', name);
    }
  }
}
const src = path.join(__dirname, '..', '..', 'tf2onnx');
const literals = new Set();
for (const f of fs.readdirSync(src).filter(f => f.endsWith('.go') && !f.endsWith('_test.go'))) {
  for (const m of fs.readFileSync(path.join(src, f), 'utf8').matchAll(/"([A-Za-z0-9_]+)"/g)) literals.add(m[1]);
}
const known = op => ['Const', 'Placeholder', 'NoOp'].includes(op) || literals.has(op.replace(' (in functions)', ''));
console.log(`${models} graph models, ${ops.size} operators, ${[...ops.keys()].filter(o => !known(o)).length} without a conversion`);
for (const [op, e] of [...ops].sort((a, b) => b[1].models.size - a[1].models.size || a[0].localeCompare(b[0]))) {
  const list = e.models.size <= 4 ? ' (' + [...e.models].join(', ') + ')' : '';
  const mark = known(op) ? '' : '  UNSUPPORTED';
  console.log(`${op.padEnd(34)} ${String(e.models.size).padStart(3)} models ${String(e.nodes).padStart(5)} nodes${mark}${list}`);
}
