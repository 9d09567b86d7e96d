// Package quant holds interop tests for quant/onnxq: every quantized model (dynamic
// int8, static QDQ and QOperator, 4-bit weight-only MatMulNBits and blocked
// DequantizeLinear) is run by Refit's runtime and by ONNX Runtime (npm
// onnxruntime-node, through ort_logits.js) on held-out data; the two must agree, and
// accuracy bounds are asserted against the float model on the committed MNIST CNN and
// scikit-learn digits MLP (testdata/models/quant, made by testdata/gen/quant_models.py).
//
// ONNX Runtime's uint8 x int8 kernels sum adjacent products in a saturating int16 on
// x86 CPUs without VNNI (AVX2, AVX-512 without VNNI); there its logits for models with
// uint8 activations and 8-bit int8 weights differ from the exact result by up to a
// few logits. Those configurations must agree with Refit's exact arithmetic or with
// its emulation of the saturating one (runtime.SaturatingPairsArith); configurations
// that cannot saturate (reduce-range, int8 activations, uint8 weights, weight-only)
// must agree with the exact arithmetic on every CPU.
//
// The tests skip without node and onnxruntime-node, and fail instead under
// REFIT_REQUIRE_TOOLS=1.
package quant
