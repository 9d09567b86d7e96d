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
