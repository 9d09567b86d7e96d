// Package gguf reads and writes GGUF, the single-file model format of ggml and llama.cpp
// (spec: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md and ggml's gguf.h).
//
// A file is: magic "GGUF", a u32 version (2 and 3 are read; 3 is written), u64 tensor
// and metadata counts, typed metadata key/value pairs, tensor infos (name, ggml-order
// dimensions, ggml type, offset), zero padding to general.alignment (default 32), and
// the data section holding each tensor at its aligned offset. A file without tensors
// may stop right after its metadata (gguf-py's vocab-only files) or be padded (ggml's
// writer); both are read, and written back as they were.
//
// Two levels of API:
//
//   - Decode and Encode convert between files and refit.Model. Model tensor shapes are
//     row-major, outermost first: the reverse of GGUF's ggml order, in which ne[0] is the
//     innermost dimension. Model.Metadata holds every KV in file order with the typed
//     representation documented at KV (Go scalars of the exact GGUF type, typed slices
//     for arrays, []any for arrays of arrays), so decode-then-encode keeps every type.
//   - Parse returns a *File with the format's own details (version, ordered KVs, tensor
//     infos with offsets, alignment); (*File).WriteTo writes it back, and a file read
//     and written unchanged is byte-identical to the original.
//
// Invariants checked by Parse: known value and ggml types; no duplicate keys or tensor
// names; general.alignment, if present, a UINT32 power of two; at most 4 dimensions,
// none negative, element and byte counts that fit in int64; an innermost dimension
// divisible by the type's block size; tensor offsets aligned, inside the file and not
// overlapping; BOOL values 0 or 1; arrays nested at most MaxNesting deep. Parse accepts
// any such layout (ggml's own reader insists on tensors packed in file order); Encode
// always writes the packed layout ggml writes, so ggml-written files re-encode identically.
//
// ggml's reader rejects arrays of arrays and tensor names of 64 bytes or more. Parse
// accepts both (gguf-py writes them); Encode refuses long names. Parse rejects BOOL bytes
// other than 0 and 1, which could not be written back identically.
//
// Memory: Parse reads only the header (metadata and tensor infos) through a buffered
// reader; tensors are io.SectionReader views of the source, read when an encoder pulls
// them. Encode streams tensors one at a time and holds only the header in memory.
//
// Security: every count and length is checked against the bytes remaining in the file
// before anything is allocated, so a header claiming 2^63 tensors or a 1 TB string fails
// at once with an error wrapping refit.ErrFormat and io.ErrUnexpectedEOF and the byte
// offset. A well-formed header can still hold millions of small values (an empty array
// takes 12 bytes of file and 40 of Go memory), so the Go memory of the metadata is charged
// to a budget (DecodeOptions.MaxMemory, ParseBudget) before it is allocated; past it the
// file is refused with an error wrapping refit.ErrBudget. Decoding never panics on input
// (fuzzed by FuzzDecode).
package gguf
