// Package arch holds per-architecture knowledge for converting Hugging Face model
// folders to GGUF, the format llama.cpp runs, as data: one file per architecture
// (llama.go, qwen2.go, qwen3.go, gemma.go, gemma2.go, phi3.go, gpt2.go), each
// registering an [Arch] with (Mistral and Mixtral are the llama architecture)
//
//   - Tensors: a name map from Hugging Face names to GGUF names, {bid} standing for the
//     block number ("model.layers.{bid}.self_attn.q_proj" -> "blk.{bid}.attn_q"), matched
//     without the ".weight"/".bias" suffix, which is kept;
//   - Params: config.json -> the ARCH.* metadata keys llama.cpp reads;
//   - Experts: per-expert tensors of mixture-of-experts layers ({bid} and {xid}) stacked
//     lazily into the [n_expert, rows, cols] tensors ggml wants (Mixtral);
//   - Extra: tensors the checkpoint computes at run time but llama.cpp reads from the
//     file (Llama 3's rope_freqs, Phi-3 longrope's rope_factors_long/short);
//   - Transform: value rewrites llama.cpp expects, as named functions with inverse
//     tests: [PermuteRoPE] (Llama's Q/K rows from half-split to interleaved rotary
//     pairs), [Transpose2D] (GPT-2's Conv1D weights), Gemma's RMSNorm weight + 1.
//
// Adding an architecture is adding one file with one Register call.
//
// [ConvertHF] reads config.json, the weights (model*.safetensors, sharded or not, or
// pytorch_model*.bin read through Refit's allowlisted unpickler) and the tokenizer
// (package tokenizer), and returns a refit.Model ready for gguf.Encode: general.*,
// ARCH.* and tokenizer.* metadata; matrices in the requested type (F16 by default,
// BF16 or F32) and vectors (norms, biases) in F32, as llama.cpp's own converter writes.
//
// [ReverseGGUF] goes back: a GGUF language model to a Hugging Face folder (config.json,
// tokenizer files, safetensors shards), written through [ReverseFS] as one
// refit.PendingOutput; [Reversible], [ReversesTo] and [ConvertsFolderFor] say when a
// conversion between the two applies, so that callers need not name formats.
//
// Invariants: every source tensor is either mapped or explicitly skipped (an unknown
// tensor is an error wrapping refit.ErrUnsupported, never silently dropped); GGUF names
// are unique; the tokenizer has exactly config.json's vocab_size tokens (padded with
// unused "[PADn]" tokens as llama.cpp's converter does).
//
// Memory: ConvertHF reads only headers. Renamed tensors share the source's lazy data;
// permuted, transposed, offset and cast tensors are tensor.Lazy values computed one at
// a time when the encoder pulls them, so converting holds O(largest tensor).
//
// Security: config.json and tokenizer files are size-capped before parsing; counts
// read from them are range-checked; weights are read by the format packages, which
// validate every offset and never execute pickled code. Through refit.DirFS, files of
// the folder that are symlinks out of it (or, in a Hugging Face hub cache, out of the
// cached repository) or not regular files are refused (refit.ErrInsecurePath).
//
// Facts (key names, tensor names, token types, the permutation) follow llama.cpp's
// gguf-py constants and convert_hf_to_gguf.py; agreement is tested end to end by
// package interop/llama, which runs llama.cpp on converted models.
package arch
