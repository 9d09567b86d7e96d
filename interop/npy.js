// npy.js: .npy reading and writing, and unpacking of npm-shipped TF.js models, shared
// by the node scripts of Refit's interop tests (require('../npy.js')).
'use strict';
const fs = require('fs');
const path = require('path');

// numpy descr -> [type name (as onnxruntime names it), TypedArray]
const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<f2': ['float16', Uint16Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array], '|u1': ['uint8', Uint8Array], '<u2': ['uint16', Uint16Array],
  '<u4': ['uint32', Uint32Array], '<u8': ['uint64', BigUint64Array], '|b1': ['bool', Uint8Array],
};

// readNPY returns {type, data, dims} of a little-endian, C-order .npy file. With want
// set (e.g. 'float32'), any other element type is an error.
function readNPY(file, want) {
  const b = fs.readFileSync(file);
  if (b.length < 10 || b.readUInt8(0) !== 0x93 || b.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = b.readUInt8(6);
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  if (start > b.length) throw new Error(`${file}: truncated header`);
  const header = b.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad header ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order is not supported`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: dtype ${descr[1]} is not supported`);
  if (want && dt[0] !== want) throw new Error(`${file}: dtype ${dt[0]}, want ${want}`);
  const dims = shape[1].split(',').map(s => s.trim()).filter(s => s !== '').map(Number);
  const n = dims.reduce((a, d) => a * d, 1);
  const bytes = n * dt[1].BYTES_PER_ELEMENT;
  if (start + bytes > b.length) throw new Error(`${file}: ${b.length - start} data bytes, want ${bytes}`);
  // Copy into an aligned buffer: the file's data offset need not be a multiple of 8.
  const data = new dt[1](n);
  Buffer.from(data.buffer).set(b.subarray(start, start + bytes));
  return {type: dt[0], data, dims};
}

// writeNPY writes data (a TypedArray, or an array of numbers written as float32) with
// the given dims; type names the element type when the array alone does not (bool).
function writeNPY(file, data, dims, type) {
  if (!ArrayBuffer.isView(data)) data = Float32Array.from(data);
  const descr = Object.keys(DTYPES).find(k =>
    type ? DTYPES[k][0] === type : data instanceof DTYPES[k][1] && DTYPES[k][0] !== 'float16' && DTYPES[k][0] !== 'bool');
  if (!descr) throw new Error(`${file}: element type ${type || data.constructor.name} cannot be written as .npy`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function moduleValue(file) {
  const m = require(path.resolve(file));
  return m && m.default !== undefined ? m.default : m;
}

// extractModel unpacks a TF.js model shipped as JS modules (nsfwjs: model.min.js and
// group*-shard*.min.js exporting the model.json object and base64 shards) into OUT.
function extractModel(src, out) {
  const model = moduleValue(path.join(src, 'model.min.js'));
  if (!model || !model.modelTopology || !model.weightsManifest) {
    throw new Error(`${src}/model.min.js does not export a TF.js model.json object`);
  }
  fs.mkdirSync(out, {recursive: true});
  fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify(model));
  for (const group of model.weightsManifest) {
    for (const p of group.paths) {
      if (p.includes('/') || p.includes('\\') || p.startsWith('.')) throw new Error(`bad shard path ${p}`);
      const b64 = moduleValue(path.join(src, `${p}.min.js`));
      if (typeof b64 !== 'string') throw new Error(`${p}.min.js does not export a base64 string`);
      fs.writeFileSync(path.join(out, p), Buffer.from(b64, 'base64'));
    }
  }
}

module.exports = {readNPY, writeNPY, extractModel};
