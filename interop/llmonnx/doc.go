// Package llmonnx holds the interop tests of Refit's LLM -> ONNX export (package
// llm/onnxexport) against ONNX Runtime (npm onnxruntime-node, driven by
// interop/ort/ort_run.js) and torch: tiny random-weight models of each exported
// family are built by testdata/gen/llm.py, converted by hf.ConvertHF and exported;
// ONNX Runtime and Refit's runtime run a prefill and one decode step through the
// present -> past cache, and the logits are compared with the script's torch
// forward pass. Block-quantized GGUF weights exported as MatMulNBits are compared
// with the same model exported in float32.
//
// The package has no non-test code; the tests skip when node, onnxruntime-node or
// Debian's python3 with torch are missing, and fail then under REFIT_REQUIRE_TOOLS=1.
package llmonnx
