// Package groupwise quantizes checkpoint Linear weights group-wise to 4 or 8 bits in
// the GPTQ checkpoint layout (AutoGPTQ "gptq" format, as read by Hugging Face
// transformers, vLLM and text-generation-inference) and dequantizes such checkpoints
// back to float.
//
// # Layout
//
// A Linear weight W [N out, K in] named "<prefix>.weight" becomes
//
//	<prefix>.qweight  int32   [K*bits/32, N]  codes packed along K, lowest bits first
//	<prefix>.qzeros   int32   [K/g, N*bits/32] zero points minus one, packed along N
//	<prefix>.scales   float16 [K/g, N]
//	<prefix>.g_idx    int32   [K]             group of each input row (k / g)
//
// with W[n, k] = scale[g, n] * (q[k, n] - zero[g, n]), g = g_idx[k]. The "minus one"
// on stored zero points is the v1 format's convention (readers add one back); so that
// every zero point survives it, asymmetric groups use zero points >= 1. Config is the
// matching quantize_config.json.
//
// # Invariants and memory
//
// Quantize and Dequantize are pure transforms: they return new Models whose new
// tensors are lazy (computed when an encoder pulls them, one at a time) and share
// every untouched tensor with the input. Peak memory is a few copies of the largest
// weight. Shapes read from a checkpoint are validated (packed sizes, group counts,
// g_idx range) before anything is allocated, and errors wrap refit.ErrFormat.
package groupwise
