// Package half converts an ONNX model from float32 to half precision (float16 or
// bfloat16): weights, constants and activations, with Cast nodes where float32 and
// half precision meet. It follows the design of onnxconverter-common's float16
// converter (keep_io_types, an operator block list, subgraphs); the code is Refit's.
//
// # What changes
//
//   - Float32 initializers and Constant / ConstantOfShape values become half
//     precision. Finite values beyond the target's range are clamped to its largest
//     finite value (float16: 65504), so a -3.4e38 attention mask stays a large
//     negative number instead of becoming -Inf; Report counts them, and the nonzero
//     values that round to zero.
//   - Every float32 value computed by the graph becomes half precision, except the
//     inputs and outputs of kept nodes (Options.Keep, DefaultKeep and every operator
//     outside the default ONNX domain), which run in float32 between Cast nodes.
//   - Cast(to=float) and the dtype attributes of ConstantOfShape, EyeLike and
//     SequenceEmpty follow; value_info, graph input and output types are updated, in
//     If/Loop/Scan bodies too (their float values are half precision as well).
//   - By default the graph's float32 inputs and outputs stay float32 (keep_io_types):
//     a Cast after each input and before each output, so callers feed and read the
//     same arrays as before and `refit diff` compares the two models directly.
//     Options.HalfIO makes them half precision too.
//
// Float types are found by a small type inference over the graph (declared types
// first, then per-operator rules; outputs of operators from other domains take their
// first typed input's type unless value_info declares them); a kept node whose input
// type cannot be inferred is reported in Report.Untyped, since such an input is not
// cast. Models before opset 6 are refused: their Cast names its type with a string,
// which ONNX Runtime cannot type.
//
// # ONNX Runtime
//
// ONNX Runtime's CPU provider (onnxruntime-node 1.30 measured) runs float16 graphs:
// operators without a float16 CPU kernel get Casts inserted by its own
// InsertCastTransformer. It cannot run bfloat16 graphs at all: no CPU kernel takes
// bfloat16 (not even Add), so bfloat16 output is for runtimes and accelerators that
// do; Refit's runtime runs it. DefaultKeep lists the operators whose ONNX schema has
// no float16 form or which are numerically or semantically sensitive.
//
// # Memory
//
// The converted model holds every converted initializer in memory (half the float32
// size); external data is read through the fsys given to Model.
package half
