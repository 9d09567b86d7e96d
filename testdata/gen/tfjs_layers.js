// tfjs_layers.js builds tiny Keras models with @tensorflow/tfjs 4.22.0 (pure JS, CPU
// backend), sets their weights from a seeded generator, and writes for each:
//   keras2onnx/testdata/tfjs/<case>/model.json + weights.bin  (TF.js layers format)
//   x.npy (input, float32) and y.npy (TF.js's output, float32)
// Run from the repository root: NODE_PATH=node_modules node testdata/gen/tfjs_layers.js
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

const OUT = path.join(__dirname, '..', '..', 'keras2onnx', 'testdata', 'tfjs');

// mulberry32: a small seeded PRNG, so fixtures are reproducible.
function rng(seed) {
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0;
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

function writeNPY(file, data, dims) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.writeUInt8(0x93, 0);
  pre.write('NUMPY', 1, 'latin1');
  pre.writeUInt8(1, 6);
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(Float32Array.from(data).buffer)]));
}

const L = tf.layers;
// Keras' default recurrent activation (TF.js defaults to hard_sigmoid, whose meaning
// Keras 3 changed), so the wrapper and masking cases read the same in Keras 2 and 3.
const SIG = {recurrentActivation: 'sigmoid'};
const cases = {
  conv2d: () => tf.sequential({layers: [
    L.conv2d({inputShape: [7, 9, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}),
    L.conv2d({filters: 3, kernelSize: 2, dilationRate: 2, padding: 'valid', useBias: false}),
    L.conv2d({filters: 2, kernelSize: [1, 3], strides: [1, 2], padding: 'same', activation: 'tanh'}),
  ]}),
  mobile: () => tf.sequential({layers: [
    L.zeroPadding2d({inputShape: [8, 8, 3], padding: [[0, 1], [0, 1]]}),
    L.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'valid'}),
    L.batchNormalization({epsilon: 1e-3}),
    L.reLU({maxValue: 6}),
    L.separableConv2d({filters: 5, kernelSize: 3, padding: 'same', activation: 'relu6'}),
    L.batchNormalization({center: false}),
    L.globalAveragePooling2d({}),
    L.dense({units: 4, activation: 'softmax'}),
  ]}),
  pooling: () => tf.sequential({layers: [
    L.maxPooling2d({inputShape: [9, 10, 2], poolSize: 3, strides: 2, padding: 'same'}),
    L.averagePooling2d({poolSize: 3, strides: 2, padding: 'same'}),
    L.averagePooling2d({poolSize: 2, padding: 'valid'}),
    L.flatten(),
    L.dense({units: 3}),
  ]}),
  merges: () => {
    const x = tf.input({shape: [6, 6, 3]});
    const a = L.conv2d({filters: 4, kernelSize: 3, padding: 'same'}).apply(x);
    const b = L.conv2d({filters: 4, kernelSize: 1}).apply(x);
    const s = L.add().apply([a, b]);
    const m = L.multiply().apply([s, b]);
    const c = L.concatenate({axis: -1}).apply([m, a, s]);
    const h = L.concatenate({axis: 1}).apply([c, c]);
    const mx = L.maximum().apply([a, b]);
    const av = L.average().apply([mx, s]);
    const pooled = L.globalMaxPooling2d({}).apply(h);
    const avp = L.flatten().apply(av);
    const out = L.concatenate().apply([pooled, avp]);
    return tf.model({inputs: x, outputs: L.dense({units: 5}).apply(out)});
  },
  activations: () => {
    const x = tf.input({shape: [3, 4, 5]});
    const acts = ['sigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'hardSigmoid', 'swish',
      'mish', 'relu6', 'linear', 'softmax', 'gelu'];
    const outs = acts.map(a => L.activation({activation: a}).apply(x));
    outs.push(L.leakyReLU({alpha: 0.1}).apply(x));
    outs.push(L.prelu({sharedAxes: [1]}).apply(x));
    outs.push(L.elu({}).apply(x));
    outs.push(L.thresholdedReLU({theta: 0.2}).apply(x));
    outs.push(L.reLU({negativeSlope: 0.1, threshold: 0.1, maxValue: 0.4}).apply(x));
    // A conv first so the activations also run on channels-first tensors.
    const y = L.conv2d({filters: 5, kernelSize: 1}).apply(x);
    outs.push(L.prelu({}).apply(y));
    outs.push(L.softmax({axis: -1}).apply(y));
    return tf.model({inputs: x, outputs: L.concatenate().apply(outs)});
  },
  spatial: () => tf.sequential({layers: [
    L.conv2d({inputShape: [5, 6, 2], filters: 3, kernelSize: 1}),
    L.zeroPadding2d({padding: [[1, 2], [0, 1]]}),
    L.cropping2D({cropping: [[1, 0], [0, 2]]}),
    L.upSampling2d({size: [2, 3]}),
    L.upSampling2d({size: [2, 2], interpolation: 'bilinear'}),
    L.conv2d({filters: 2, kernelSize: 3, strides: 3}),
    L.permute({dims: [2, 1, 3]}),
    L.reshape({targetShape: [45, 4]}),
    L.dense({units: 3}),
    L.flatten(),
  ]}),
  conv1d: () => tf.sequential({layers: [
    L.conv1d({inputShape: [10, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu'}),
    L.conv1d({filters: 4, kernelSize: 2, padding: 'valid', dilationRate: 2}),
    L.maxPooling1d({poolSize: 2}),
    L.averagePooling1d({poolSize: 2, strides: 1, padding: 'same'}),
    L.batchNormalization({}),
    L.globalAveragePooling1d({}),
    L.dense({units: 2}),
  ]}),
  rnn: () => {
    const ids = tf.input({shape: [6]});
    const e = L.embedding({inputDim: 11, outputDim: 4}).apply(ids);
    const a = L.lstm({units: 5, returnSequences: true}).apply(e);
    const b = L.gru({units: 3, recurrentActivation: 'hardSigmoid'}).apply(a);
    const c = L.simpleRNN({units: 2, goBackwards: true}).apply(e);
    const d = L.lstm({units: 2, returnSequences: true, goBackwards: true}).apply(e);
    return tf.model({inputs: ids, outputs: L.concatenate().apply([b, c, L.flatten().apply(d)])});
  },
  sequence: () => tf.sequential({layers: [
    L.dense({inputShape: [4, 6], units: 8, activation: 'relu'}),
    L.layerNormalization({epsilon: 1e-5}),
    L.batchNormalization({}),
    L.dropout({rate: 0.5}),
    L.dense({units: 3}),
  ]}),
  conv3d: () => tf.sequential({layers: [
    L.conv3d({inputShape: [6, 7, 5, 2], filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}),
    L.conv3dTranspose({filters: 2, kernelSize: [3, 2, 3], strides: [2, 1, 2], padding: 'valid'}),
    L.maxPooling3d({poolSize: 2, strides: 1, padding: 'same'}),
    L.averagePooling3d({poolSize: 2, padding: 'valid'}),
    L.conv3dTranspose({filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'tanh'}),
    L.flatten(),
    L.dense({units: 3}),
  ]}),
  conv2dt: () => tf.sequential({layers: [
    L.conv2dTranspose({inputShape: [4, 5, 3], filters: 2, kernelSize: 2, strides: 3, padding: 'valid'}),
    L.conv2dTranspose({filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}),
    L.conv2dTranspose({filters: 2, kernelSize: [3, 1], strides: 1, padding: 'valid', useBias: false}),
  ]}),
  nested: () => {
    const seq = tf.sequential({name: 'inner_seq', layers: [
      L.dense({inputShape: [5], units: 6, activation: 'relu', name: 'd1'}),
      L.dense({units: 4, name: 'd2'}),
    ]});
    const ix = tf.input({shape: [4]});
    const inner = tf.model({name: 'inner_fn', inputs: ix,
      outputs: L.add().apply([L.dense({units: 4, name: 'd3'}).apply(ix), ix])});
    const x = tf.input({shape: [5]});
    const a = seq.apply(x);
    const b = inner.apply(a);
    const c = inner.apply(b); // shared: the same weights twice
    return tf.model({inputs: x, outputs: L.dense({units: 3, name: 'head'}).apply(L.concatenate().apply([b, c]))});
  },
  timedist: () => tf.sequential({layers: [
    L.timeDistributed({inputShape: [3, 5, 4, 2], layer: L.conv2d({filters: 3, kernelSize: 3, padding: 'same', activation: 'relu'})}),
    L.timeDistributed({layer: L.maxPooling2d({poolSize: 2})}),
    L.timeDistributed({layer: L.flatten()}),
    L.timeDistributed({layer: L.dense({units: 4})}),
    L.lstm({...SIG, units: 3}),
  ]}),
  bidir: () => {
    const x = tf.input({shape: [5, 3]});
    const a = L.bidirectional({layer: L.lstm({...SIG, units: 4, returnSequences: true})}).apply(x);
    const b = L.bidirectional({layer: L.gru({...SIG, units: 3, returnSequences: true}), mergeMode: 'sum'}).apply(a);
    const c = L.bidirectional({layer: L.simpleRNN({units: 2}), mergeMode: 'ave'}).apply(b);
    const d = L.bidirectional({layer: L.lstm({...SIG, units: 2}), mergeMode: 'mul'}).apply(x);
    const e = L.bidirectional({layer: L.gru({...SIG, units: 2, returnSequences: true}), mergeMode: null}).apply(x);
    const f = L.bidirectional({layer: L.lstm({...SIG, units: 2, returnState: true})}).apply(x);
    const flat = e.map(t => L.flatten().apply(t));
    return tf.model({inputs: x, outputs: L.concatenate().apply([c, d, ...flat, ...f])});
  },
  masked: () => {
    const ids = tf.input({shape: [7]});
    const e = L.embedding({inputDim: 11, outputDim: 4, maskZero: true}).apply(ids);
    const a = L.lstm({...SIG, units: 3, returnSequences: true}).apply(e);
    const b = L.gru({...SIG, units: 3}).apply(a);
    const c = L.simpleRNN({units: 2, returnSequences: true, goBackwards: true}).apply(e);
    const d = L.bidirectional({layer: L.lstm({...SIG, units: 2})}).apply(e);
    const g = L.lstm({...SIG, units: 2, goBackwards: true}).apply(L.dense({units: 3}).apply(e));
    return tf.model({inputs: ids, outputs: L.concatenate().apply([b, L.flatten().apply(c), d, g])});
  },
  masking: () => tf.sequential({layers: [
    L.masking({inputShape: [6, 3], maskValue: 0}),
    L.simpleRNN({units: 3, returnSequences: true}),
    L.gru({...SIG, units: 2, returnSequences: true, goBackwards: true}),
    L.flatten(),
  ]}),
};
const INTEGER_INPUTS = new Set(['rnn', 'masked']);
// Steps zeroed in the masking case's input (batch, step): masked for the RNNs.
const MASKED_STEPS = [[0, 0], [0, 3], [1, 4], [1, 5]];

(async () => {
  await tf.setBackend('cpu');
  let seed = 1;
  const only = process.argv.slice(2);
  for (const [name, build] of Object.entries(cases)) {
    if (only.length > 0 && !only.includes(name)) { seed++; continue; }
    const model = build();
    const r = rng(seed++);
    for (const w of model.weights) {
      const n = w.shape.reduce((a, d) => a * d, 1);
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        v[i] = w.name.includes('moving_variance') ? 0.5 + r() : r() - 0.5;
      }
      w.write(tf.tensor(v, w.shape));
    }
    const inShape = [2, ...model.inputs[0].shape.slice(1)];
    const n = inShape.reduce((a, d) => a * d, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = INTEGER_INPUTS.has(name) ? Math.floor(r() * 11) : 2 * r() - 1;
    if (name === 'masking') {
      for (const [b, t] of MASKED_STEPS) x.fill(0, (b * 6 + t) * 3, (b * 6 + t + 1) * 3);
    }
    if (name === 'masked') {
      x.fill(0, 0, 2); // leading padding in the first sequence
      x.fill(0, 7 + 5, 14); // trailing padding in the second
    }
    const y = model.predict(tf.tensor(x, inShape));
    const dir = path.join(OUT, name);
    fs.mkdirSync(dir, {recursive: true});
    await model.save(tf.io.withSaveHandler(async art => {
      const manifest = [{paths: ['weights.bin'], weights: art.weightSpecs}];
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`, convertedBy: null,
        modelTopology: art.modelTopology, weightsManifest: manifest}));
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(art.weightData));
      return {modelArtifactsInfo: {dateSaved: new Date(0), modelTopologyType: 'JSON'}};
    }));
    writeNPY(path.join(dir, 'x.npy'), x, inShape);
    writeNPY(path.join(dir, 'y.npy'), await y.data(), y.shape);
    console.log(name, JSON.stringify(inShape), '->', JSON.stringify(y.shape));
  }
})().catch(e => { console.error(e.stack || e); process.exit(1); });
