// Package onnxq quantizes ONNX graphs: dynamic int8, static int8 with calibration,
// and 4/8-bit weight-only quantization (round to nearest, GPTQ, AWQ), in the operator
// forms ONNX Runtime executes.
//
// # Methods and forms
//
//   - Dynamic: weights int8 (symmetric; uint8 asymmetric with UnsignedWeights; per
//     tensor or per output channel; 7-bit with ReduceRange). QOperator form:
//     DynamicQuantizeLinear + MatMulInteger/ConvInteger + Cast + Mul (+ Add bias).
//     QDQ form: DynamicQuantizeLinear + DequantizeLinear in front of the float node.
//     ConvInteger gets uint8 weights, the only kind ONNX Runtime's kernel takes, and
//     one scale; per-channel Conv weights use the QDQ form instead.
//   - Subgraphs: nodes inside If/Loop/Scan bodies are quantized in place, their
//     weights found in the body or in an enclosing graph; under Static their
//     activations are quantized dynamically (calibration observes the main graph).
//   - LSTM/GRU/RNN (when selected): W and R, traced back through reshaping nodes to
//     initializers in any scope, are stored in int8 behind a per-row
//     DequantizeLinear; the cell computes in float.
//   - Static: activation ranges from calibration data run through Refit's runtime
//     (the observed tensors are added as graph outputs; batches stream through a
//     Feed, so memory is one batch plus statistics). Ranges by min/max, percentile of
//     |x|, entropy (KL divergence, TensorRT's method) or MSE over a histogram from a
//     second pass. QDQ form (default): QuantizeLinear/DequantizeLinear on each
//     quantized node's inputs and output, int8 weights and int32 bias, as
//     onnxruntime.quantization.quantize_static writes it. QOperator form:
//     QLinearConv/QLinearMatMul (Gemm is split into MatMul + Add first). A node
//     output read only by a Relu takes the Relu's output range (ONNX Runtime's
//     Conv+Relu fusion); graph inputs always use min/max.
//   - WeightOnly: MatMul/Gemm weights [K, N] in blocks of GroupSize along K, as
//     com.microsoft MatMulNBits (ONNX Runtime's packed layout, zero points packed) or
//     as blocked DequantizeLinear (opset 21; codes stored in uint8). GPTQ uses the
//     Hessian H = 2 X^T X / rows of each node's input from calibration, damping,
//     optional act-order (static groups), lazy block updates and the Cholesky factor
//     of H^-1, rows in parallel. AWQ searches per-input-channel scales mean|x|^alpha
//     over a grid, scoring the output error on the same Gram matrix, and folds 1/s
//     into the producing quantized MatMul/Gemm (through a Relu) or inserts a Mul.
//
// Quantizer calibrates once and applies any selection of nodes, which is how the CLI
// builds its one-layer-at-a-time error table and --exclude-worst.
//
// # Invariants
//
// Inputs are never modified; Apply returns a new ModelProto. Generated values are
// named after the value they quantize with short suffixes (_q, _dq, _s, _zp, _f for a
// node's float output before its Q/DQ), Q/DQ nodes are unnamed, zero points that are
// zero by default (symmetric int8 weights, int32 biases) are omitted and inferred
// value_info is dropped: Paddle2ONNX names values with 20-30 characters, and on a
// small model those made a quarter of the quantized file. Quantized nodes keep
// their output names, so graph outputs and downstream nodes are untouched. Node
// labels are node names, or OpType_index for unnamed nodes; Exclude matches them
// exactly or as anchored regular expressions. Output is deterministic.
//
// # Memory
//
// Calibration holds one batch and its observed tensors, min/max or a histogram per
// observed tensor, and for GPTQ/AWQ a dense K x K float64 Gram matrix per distinct
// input (K <= 16384). The model's weights are in memory (models with external data
// are inlined by onnx.Load).
//
// # Security
//
// Models come from onnx.Load and run in the runtime, which validates them; this
// package reads only float32 initializers whose sizes the runtime checked, and
// refuses Gram matrices above 2^28 entries.
package onnxq
