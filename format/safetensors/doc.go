// Package safetensors reads and writes the safetensors format of Hugging Face
// (https://github.com/huggingface/safetensors), single files and sharded folders.
//
// A file is an 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
// "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8, then the
// byte buffer; offsets are relative to the buffer. A sharded model is a folder of files
// plus model.safetensors.index.json mapping each tensor to its shard.
//
// Invariants checked by [ReadHeader] before anything large is allocated: N at most
// [MaxHeaderSize] and within the file; UTF-8, strict JSON (duplicate keys, unknown
// tensor fields, non-integer numbers and trailing data rejected); known dtypes; at most
// tensor.MaxDims non-negative dimensions with overflow-checked element and byte counts;
// end-begin equal to the tensor's byte size; offsets that tile the buffer with no gap
// or overlap and end exactly at the end of the file; string-valued metadata. Malformed
// input gives errors satisfying errors.Is(err, refit.ErrFormat), never a panic.
//
// Memory: Decode keeps only the header; tensors are io.SectionReader views of the
// (usually memory-mapped) file. Encode computes every offset from tensor sizes first,
// then streams tensors one at a time through Tensor.WriteTo, so it holds at most one
// tensor (and only for lazily computed ones).
//
// Output is deterministic and byte-identical to the reference Rust implementation:
// tensors sorted by decreasing dtype alignment then name, compact JSON, metadata keys
// sorted. Metadata that is not a string is stringified when scalar and dropped
// otherwise (see [EncodeOptions]).
//
// Security: shard names read from an index must be local relative paths
// (refit.ErrInsecurePath otherwise; through refit.DirFS also for a shard that is a
// symlink out of the folder or not a regular file), and every tensor the index names must exist in
// its shard. Nothing in a file is ever executed.
package safetensors
