// Package arch holds per-architecture knowledge for converting Hugging Face model
// folders to GGUF, the format llama.cpp runs, and back, as data and pure functions
// (package hf reads and writes the folders): one file per GGUF architecture (llama.go,
// qwen2moe.go, deepseek2.go, gptoss.go ...; see [Names]), each registering an [Arch]
// with (Mistral and Mixtral are the llama architecture)
//
//   - Tensors: a name map from Hugging Face names to GGUF names, {bid} standing for the
//     block number ("model.layers.{bid}.self_attn.q_proj" -> "blk.{bid}.attn_q"), matched
//     without the ".weight"/".bias" suffix, which is kept;
//   - Params: config.json -> the ARCH.* metadata keys llama.cpp reads;
//   - Experts: per-expert tensors of mixture-of-experts layers ({bid} and {xid}), which
//     package hf stacks lazily into the [n_expert, rows, cols] tensors ggml wants (Mixtral);
//   - Extra: tensors the checkpoint computes at run time but llama.cpp reads from the
//     file (Llama 3's rope_freqs, Phi-3 longrope's rope_factors_long/short);
//   - Transform: value rewrites llama.cpp expects, as named functions with inverse
//     tests: [PermuteRoPE] (Llama's Q/K rows from half-split to interleaved rotary
//     pairs), [Transpose2D] (GPT-2's Conv1D weights), Gemma's RMSNorm weight + 1,
//     [Regroup] and [GatherRows] (GPT-NeoX's and Falcon's fused QKV rows);
//   - Splits and Packs: one Hugging Face tensor to several GGUF tensors (GraniteMoE's
//     fused gate/up experts, DeepSeek's kv_b_proj split for absorbed MLA) and groups
//     of tensors to groups (gpt-oss's MXFP4 blocks and scales, repacked bit for bit);
//   - Reverse: what GGUF -> Hugging Face needs beyond the name map: the config.json
//     class and keys, and the inverse of each Transform, Split and Pack.
//
// Adding an architecture is adding one file with one Register call.
//
// Invariants: every source tensor is either mapped or explicitly skipped (an unknown
// tensor is an error wrapping refit.ErrUnsupported, never silently dropped); GGUF names
// are unique. The package imports no format package and touches no file.
//
// Facts (key names, tensor names, token types, the permutation) follow llama.cpp's
// gguf-py constants and convert_hf_to_gguf.py; agreement is tested end to end by
// package interop/llama, which runs llama.cpp on converted models.
package arch
