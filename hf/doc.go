// Package hf handles Hugging Face model folders: reading a transformers checkpoint
// folder into a GGUF-named model, and writing one back from GGUF. What it knows about
// each architecture (name maps, hyper-parameters, permutations) comes from package
// arch; this package reads and writes the files.
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
// The tokenizer has exactly config.json's vocab_size tokens (padded with unused
// "[PADn]" tokens as llama.cpp's converter does).
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
// Agreement with llama.cpp is tested end to end by package interop/llama.
package hf
