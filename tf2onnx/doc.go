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
// ONNX If whose branches are the inlined functions. Lowered (v1) conditionals, Switch
// nodes sharing a predicate joined by Merges, become an ONNX If too (tf_cond.go):
// the branches are what the Switch outputs reach before the Merges, inner conds
// first, and constants passed through a Switch stay constants in the branch.
//
// # Layout
//
// Activations keep TensorFlow's NHWC layout; each convolution, pool, resize and
// depth/space rearrangement is wrapped in Transposes to and from NCHW, and the
// optimize passes fuse-transposes, eliminate-identity and remove-dead then cancel the
// pairs that meet (Options.Raw skips them). Constant weights are converted at
// conversion time: HWIO/OHWI filters to OIHW, depthwise filters to grouped
// convolutions, float16 weights dequantized to float32 initializers.
//
// # Quantized TFLite
//
// int8/uint8 models become ONNX QDQ graphs: every quantized activation is the output
// of a QuantizeLinear with its tensor's scale and zero point, each operator reads its
// quantized inputs through DequantizeLinear and computes in float32, as ONNX
// Runtime's QDQ format expects. Quantized convolution and fully-connected weights
// stay int8/uint8 initializers behind a DequantizeLinear, per channel (axis) where
// the TFLite tensor has per-channel scales; int32 biases are dequantized to float32.
// int16 activations and per-channel activation quantization are unsupported.
//
// # MediaPipe custom operators
//
// MediaPipe's TFLite custom operators become ONNX subgraphs, following the kernels in
// mediapipe/util/tflite/operations: Convolution2DTransposeBias (ConvTranspose with
// TFLite's SAME trimming), MaxPoolingWithArgmax2D (MaxPool with window-local indices
// as float32), MaxUnpooling2D (ScatterND into a zero buffer), and version 2 of
// Landmarks2TransformMatrix, TransformTensorBilinear and TransformLandmarks (affine
// arithmetic, Gather-based bilinear sampling). Their options are C structs or
// FlexBuffers maps, read with bounds checks.
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
// adjoints) use negative axes or rank-free ONNX forms; an unknown first input
// dimension is "N", the other unknown ones stay anonymous.
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
