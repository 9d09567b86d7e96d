// Package tf2onnx converts TensorFlow-family graphs to ONNX: TFLite models (builtin
// operators of the first subgraph) with [TFLite], TF.js graph models (GraphDef
// as JSON in model.json) with [TFJSGraph], and frozen GraphDefs and SavedModels
// (format/tfgraph) with [TFGraph], which writes the graph as TF.js's JSON and so
// shares TFJSGraph's conversion.
//
// # Control flow
//
// TensorFlow while loops become ONNX Loop nodes, in both forms: the lowered one
// (Enter/Merge/Switch/LoopCond/NextIteration/Exit frames, nested frames included;
// tf_control.go) and the functional one (While/StatelessWhile with cond and body
// functions from the library, lowered to a frame first; tf_functions.go). The loop
// condition is converted twice, before the Loop on the initial values and at the
// end of the body. TensorList/TensorArray accumulators written at the iteration
// index (tf.map_fn) are scan outputs; lists made from a tensor are that tensor.
// PartitionedCall/StatefulPartitionedCall are inlined; If/StatelessIf becomes an
// ONNX If whose branches are the inlined functions.
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
