// Package llm runs decoder language models stored as GGUF on the CPU, in pure Go: the
// forward pass of the llama family (llama, mistral, mixtral), qwen2, qwen3, gemma,
// gemma2 and phi3, reading the weights in their quantized form.
//
// The computation follows llama.cpp's CPU backend so that logits agree with it
// closely: weight rows are decoded with ggml's reference dequantization
// (tensor.Dequantize), and the activation row a weight meets is rounded the way
// llama.cpp quantizes it for that weight type's dot product (Q8_0 for the legacy
// 32-blocks, Q8_K for k-quants and i-quants, float16/bfloat16 for F16/BF16), so the
// products see the same inputs. RMSNorm, RoPE (normal and neox), softmax and the
// activations use llama.cpp's formulas.
//
// Matrix products take a batch of tokens at once (prefill): each block of weight rows
// is decoded once per batch and multiplied with every token (internal/blas SGEMM from
// four tokens on, dot products below), blocks spread over Options.Threads goroutines.
// Results do not depend on the thread count.
//
// Not supported (refit.ErrUnsupported): phi3's long-context RoPE factors, rope
// scaling other than linear, and architectures outside Architectures.
//
// Memory: weights stay in the GGUF file. When the reader is a memory-mapped file
// (refit.MappedFile, anything with a Bytes method) tensors are views of the mapping;
// otherwise they are read into memory, charged to Options.Budget. A Session's KV
// cache and activations are charged to the budget too.
//
// Security: the GGUF header is validated by format/gguf; every tensor's shape is
// checked against the hyperparameters before use, and token ids against the
// vocabulary, so a malformed model is an error wrapping refit.ErrFormat, never a panic.
package llm
