// Package tfjs reads TensorFlow.js models: a model.json (layers model with a Keras
// config, or graph model with a GraphDef as JSON in "modelTopology") whose
// "weightsManifest" lists weight groups, each stored back to back across the binary
// shard files the group names, in manifest order.
//
// Spec: https://www.tensorflow.org/js/guide/save_load and tfjs-core's io/types.ts
// (WeightsManifestConfig) and io/io_utils.ts (decodeWeights).
//
// # Tensors
//
// float32, int32 and bool weights become F32, I32 and Bool tensors that are views of
// the shards (a weight may span two shards). Quantized weights are dequantized lazily,
// as TF.js does: uint8/uint16 store q with value float32(q*scale + min) computed in
// float64 (int32 weights rounded half up), float16 stores IEEE halves of float32
// weights. The stored dtype is recorded as metadata "tfjs.quantization.<name>".
// string weights are skipped (Refit has no string tensors) but their bytes are
// accounted for. The topology is kept verbatim as metadata "tfjs.model_topology";
// "format", "generatedBy" and "convertedBy" become "tfjs.format", "tfjs.generated_by"
// and "tfjs.converted_by".
//
// # Writing
//
// [EncodeFiles] writes model.json and shards through a [Creator] (one weight group,
// shards of [DefaultShardSize] named as the converter names them); F16 tensors are
// stored float16-quantized (TF.js reads them as float32), F64/BF16 as float32, 8- and
// 16-bit integers as int32. The format registers it as its multi-file writer
// (EncodeFS, a folder output) with [Prepare], which maps weights onto a Keras
// topology (PyTorch or Keras names, see [LayersModel]) so that tf.loadLayersModel
// loads the result.
//
// # Verification
//
// TestInteropTFJS compares decoding, and reading of EncodeFiles output, with TF.js's
// own tf.io.decodeWeights (@tensorflow/tfjs-core and tfjs-backend-cpu 4.x under
// node), bit for bit; TestInteropTFJSRealModel does the same for nsfwjs's bundled
// MobileNetV2 (266 uint8-quantized weights). They need those npm packages in the
// repository's node_modules (or TFJS_NODE_MODULES) and skip otherwise.
//
// # Memory
//
// model.json is read whole (capped at [MaxModelJSON]); tensors are lazy views of the
// shards, which DecodeFS opens through refit.OpenFS (mmap'd for refit.DirFS) and the
// model closes.
//
// # Security
//
// Shard paths come from the file: each must be a valid fs path inside the model's
// folder (no "..", no leading "/", no backslash) or decoding fails with
// refit.ErrInsecurePath; through refit.DirFS, so is a shard that is a symlink out of
// the folder or not a regular file. Shapes are overflow-checked, and each weight's byte count is
// checked against the bytes left in its group's shards before anything is allocated;
// string lengths are checked one by one against the shards.
package tfjs
