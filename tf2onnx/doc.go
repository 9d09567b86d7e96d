// Package tf2onnx converts TensorFlow-family graphs to ONNX: TFLite models (builtin
// operators of the first subgraph) with [TFLite], and TF.js graph models (GraphDef
// as JSON in model.json) with [TFJSGraph].
//
// # Layout
//
// Activations keep TensorFlow's NHWC layout; each convolution, pool, resize and
// depth/space rearrangement is wrapped in Transposes to and from NCHW, and the
// optimize passes fuse-transposes, eliminate-identity and remove-dead then cancel the
// pairs that meet (Options.Raw skips them). Constant weights are converted at
// conversion time: HWIO/OHWI filters to OIHW, depthwise filters to grouped
// convolutions, float16 and int8/uint8 quantized weights (per tensor or per channel)
// dequantized to float32 initializers. QUANTIZE / DEQUANTIZE of activations become
// QuantizeLinear / DequantizeLinear; integer kernels (quantized CONV_2D on int8
// activations) are reported as unsupported.
//
// # TF.js graph models
//
// Every output of a multi-output node ("node:k": Split, SplitV, Unpack, TopKV2,
// NonMaxSuppressionV4/V5 ...) is addressable. When model.json has a signature
// (top-level or under userDefinedMetadata, as TF.js reads it), the ONNX graph has
// exactly its outputs, in its order, named by its keys (':' becomes '_'), with its
// dtypes; without one, every non-constant node nobody reads is an output. Inside the
// graph every TF integer type is int64 and every float type float32; inputs and
// outputs keep TF.js's types with a Cast at the edge. Shapes need not be known: ops
// whose TF semantics depend on the rank (StridedSlice ellipsis masks, BatchMatMul
// adjoints) use negative axes or rank-free ONNX forms. TF control flow (while loops,
// conditionals) is not converted here.
//
// # Errors
//
// Operators without a conversion do not stop at the first: every one is collected,
// and the conversion fails with a *graph.UnsupportedError naming each operator with its
// count (errors.Is(err, refit.ErrUnsupported)). Malformed input gives refit.ErrFormat.
//
// # Memory and security
//
// TFLite operators, their tensors and options come from format/tflite ([tflite.File]'s
// Graphs), which checks every flatbuffer access; models over tflite.MaxFlatbuffer are
// refused. Weights are materialized as float32 initializers, so
// memory is O(model) in float32.
package tf2onnx
