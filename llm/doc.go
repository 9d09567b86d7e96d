// Package llm runs decoder language models stored as GGUF on the CPU, in pure Go,
// reading the weights in their quantized form. Architectures:
//   - llama, mistral, mixtral (llama with routed experts);
//   - qwen2, qwen3, qwen2moe and qwen3moe (routed experts; qwen2moe's top-k weights
//     are not renormalized and it adds a sigmoid-gated shared expert);
//   - gemma, gemma2, gemma3 text (Q/K norms; sliding-window layers with their own
//     rotary base);
//   - phi3, with LongRoPE factors: long or short by the session length, as llama.cpp
//     picks them by its context size;
//   - granite and granitemoe (embedding, residual and logit scales);
//   - olmo2 (output norms only, Q/K norms over the whole projection, olmo3's sliding
//     layers);
//   - stablelm and starcoder2 (LayerNorms with biases, partial rotary; starcoder2's
//     ungated GELU MLP with biases);
//   - command-r and phi2: attention and feed-forward in parallel on one input
//     LayerNorm (command-r's without biases, with a logit scale; phi2's with biases
//     everywhere, partial rotary, a GELU MLP and a head bias);
//   - gptneox (fused Q/K/V with biases, partial rotary, parallel residual with a
//     norm per branch, GELU MLP).
//
// The computation follows llama.cpp's CPU backend so that logits agree with it
// closely: the activation row a weight meets is quantized the way llama.cpp quantizes
// it for that weight type's dot product (Q8_0 for the legacy 32-blocks, Q8_K for
// k-quants and i-quants, float16/bfloat16 for F16/BF16), so the products see the same
// inputs. RMSNorm, LayerNorm, RoPE (normal and neox), softmax and the activations use
// llama.cpp's formulas.
//
// Matrix products take a batch of tokens at once (prefill). From four tokens on, each
// block of weight rows is decoded once with ggml's reference dequantization
// (tensor.Dequantize) and multiplied with the whole batch, packed once per product, by
// internal/blas SGEMM; attention is two SGEMMs per head and tile of tokens (scores,
// then probabilities times values). Below four tokens, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K and
// IQ4_XS rows go through package kernels' integer dot products on the quantized blocks
// (AVX2 assembly), other types through decoded rows. Work is
// spread over Options.Threads goroutines; results do not depend on the thread count.
//
// Not supported (refit.ErrUnsupported): rope scaling types other than linear (YaRN),
// and architectures outside Architectures.
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
