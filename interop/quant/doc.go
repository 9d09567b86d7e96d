// Package quant holds interop tests for quant/onnxq: every quantized model (dynamic
// int8, static QDQ and QOperator, 4-bit weight-only MatMulNBits and blocked
// DequantizeLinear) is run by Refit's runtime and by ONNX Runtime (npm
// onnxruntime-node, through ort_logits.js) on held-out data; the two must agree, and
// accuracy bounds are asserted against the float model on the committed MNIST CNN and
// scikit-learn digits MLP (testdata/models/quant, made by testdata/gen/quant_models.py).
//
// The tests skip without node and onnxruntime-node, and fail instead under
// REFIT_REQUIRE_TOOLS=1.
package quant
