// Package plan decides, before any work, what llama-quantize would do to every tensor
// of a GGUF model for a llama.cpp file type (Q4_K_M, Q8_0, ...), and then does it.
//
// New returns a Plan: for each tensor, in the order llama.cpp writes them (tensors
// outside blocks first, then block by block, names sorted within a block), its shape,
// source type, chosen type, the rule that chose it, and its bytes; and for the whole
// file, its exact size and bits per weight. Types come from quant/ggml's Mix
// (llama_tensor_get_type); on top of it the plan applies llama-quantize's
// --tensor-type overrides (regex=TYPE, first match wins, checked before the mix's rules,
// which then do not run for that tensor, as in llama.cpp) and Refit's --keep (leave a
// tensor as it is).
//
// A tensor whose row length is not a whole number of the chosen type's blocks falls
// back to a compatible type, as llama.cpp does, but never silently: the entry is marked
// Fallback and Check fails with ErrFallback (listing the tensors) unless
// Options.AllowFallback is set.
//
// Apply turns a plan into a model: changed tensors are computed as they are read, a
// slab of whole rows at a time, by quant/ggml.QuantizeRows (byte-identical to ggml);
// unchanged ones are shared; metadata is llama.cpp's (input
// keys, split keys removed, general.quantization_version and general.file_type last).
// Encoding the result with gguf.Encode writes the same bytes llama_model_quantize
// writes for the same input and options.
//
// ApplyChecked is Apply that also verifies as it goes: every slab's blocks are decoded
// again while they are in memory and compared with the float32 source rows they came
// from (max abs error, cosine, NaNs; TensorCheck), and a CRC-32C of each tensor's bytes
// is kept. Checks.Verify then re-reads the written file cheaply: structure (names,
// types, shapes, in order) and bytes by CRC, with unchanged tensors compared with the
// source's CRC. This replaces a second full pass that dequantized the file and re-read
// the source; it catches the same wrong values (the in-memory bytes are the file's, by
// CRC) and wrong writes, but not a fault in decoding the file that would not show in
// memory, which the format and quantizer tests cover. The sums run in eight fixed lanes
// (AVX2 or Go, the same bits; Q8_0, Q4_0 and Q6_K blocks are decoded in registers by
// fused kernels) and groups of rows are added in row order, so the figures do not
// depend on the CPU or the thread count.
//
// ParseImatrix reads llama.cpp importance-matrix files, the legacy .dat layout and the
// GGUF layout (<name>.in_sum2 and <name>.counts tensors), normalized the way
// llama-quantize normalizes them.
//
// Memory: New reads headers only. Apply is lazy: when an encoder pulls a tensor, one
// slab (at most 8 MiB of float32 values plus its source and output bytes) is held, and
// handed to the next tensor when the tensor has been read to its end, so peak memory
// does not grow with the model or its largest tensor. A slab is cut into groups of
// rows (64 Ki values) that one goroutine reads, decodes, quantizes and checks while
// they are in its cache; F32 sources are read straight into the float32 buffer. (Refit's CLI also reads the input with pread instead of
// mmap, so page-cache pages do not count against it.) An F16 source is decoded with
// the F16C instructions where the CPU has them, bit-identical to
// tensor.ConvertF16ToF32 (groups holding a NaN take the scalar path).
//
// Security: imatrix files are hostile input: every count and length is checked
// against the bytes remaining before anything is allocated (FuzzParseImatrix).
// Override patterns are Go regular expressions (RE2: linear time).
//
// Reference: llama.cpp src/llama-quant.cpp and common/imatrix-loader.cpp.
package plan
