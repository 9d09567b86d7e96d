// Package onnxexport writes decoder language models as ONNX graphs with a key/value
// cache, for ONNX Runtime (and its GenAI and Transformers.js users) and for Refit's
// own runtime.
//
// The input is a model with GGUF tensor names and metadata: a GGUF file as
// format/gguf decodes it, or a Hugging Face folder as hf.ConvertHF converts it. The
// hyperparameters come from llm.ConfigFromMetadata, so the graph computes what
// package llm's forward pass computes. Families: llama (and mistral, which GGUF
// stores as llama), qwen2 (q/k/v biases), qwen3 (q/k RMSNorm), phi3 (fused q/k/v and
// gate/up matrices, split into row views), gemma (GELU in its tanh form, embedding
// scale) and gemma2 (attention and final soft-capping, post-norms, a sliding window
// on even layers), granite (embedding, residual and logit scales), and the mixtures
// of experts mixtral, qwen3moe, granitemoe and qwen2moe (unnormalized routing and a
// sigmoid-gated shared expert): standard ONNX has no sparse dispatch, so every
// expert runs on every token, weighted 0 unless routed. Not translated
// (refit.ErrUnsupported): long-context RoPE factors, gemma3, olmo2, stablelm and
// starcoder2 (which package llm runs) and the other architectures of package hf.
//
// # Layout
//
// The graph follows the decoder-with-past layout of Hugging Face Optimum's exporter,
// which Transformers.js and ONNX Runtime GenAI read:
//
//	inputs   input_ids               int64 [batch_size, sequence_length]
//	         attention_mask          int64 [batch_size, total_sequence_length]
//	         position_ids            int64 [batch_size, sequence_length]
//	         past_key_values.N.key   float [batch_size, kv_heads, past_sequence_length, head_dim]
//	         past_key_values.N.value float [batch_size, kv_heads, past_sequence_length, head_dim]
//	outputs  logits                  float [batch_size, sequence_length, vocab]
//	         present.N.key           float [batch_size, kv_heads, total_sequence_length, head_dim]
//	         present.N.value         float [batch_size, kv_heads, total_sequence_length, head_dim]
//
// total_sequence_length is past_sequence_length + sequence_length; the first call
// passes an empty cache (past_sequence_length 0), later calls the previous presents.
// Key j is visible to new token i when j <= past + i and attention_mask[b, j] is 1,
// so left-padded batches work; position_ids choose the rotary angles.
//
// Only standard operators of opset 17 are used (Gather, MatMul, RMSNorm as
// ReduceMean/Sqrt/Div, rotary halves from cos/sin tables gathered by position_ids,
// Range/LessOrEqual/And/Where for the mask, Softmax), plus com.microsoft MatMulNBits
// for block-quantized weights. Grouped-query attention computes in 5-D, each key/value
// head broadcast over its group of query heads by MatMul. llama's GGUF q/k rows,
// permuted for interleaved rotary pairs, are un-permuted so that every family rotates
// halves.
//
// # Weights
//
// With Weights Auto (the default), GGUF Q4_0, Q4_1 and Q8_0 matrices become
// MatMulNBits (block size 32) bit for bit: codes repacked to its nibble order, the
// scales, and for Q4_1 float zero points -m/d. Everything else is float32 (block
// types dequantized). The token embedding is always float32 (Gather). To quantize
// float weights afresh, run package quant/onnxq (weight-only) on the result; for
// float16, package graph/half with FloatNodes kept in float32.
//
// # Memory
//
// Export reads only headers and the small vectors (norms, rotary factors); the
// matrices are lazy tensors converted (dequantized, transposed, repacked) one at a
// time as the ONNX encoder writes them, so writing holds O(largest tensor) besides
// the rotary tables (at most 2 x 128 MiB). Running the graph (Verify) loads it
// whole.
//
// # Security
//
// Tensor shapes are checked against the hyperparameters before any data is read;
// hyperparameters are range-checked by package llm. Errors wrap refit.ErrFormat
// (malformed) or refit.ErrUnsupported (an architecture or feature not translated).
package onnxexport
