// Package ggml quantizes float32 data into GGML's block types (the GGUF tensor types)
// with output byte-identical to ggml's own quantizer, and chooses per-tensor types the
// way llama.cpp's llama-quantize does.
//
// # Quantizers
//
// QuantizeRows(d, dst, src, nrows, rowLen, imatrix, threads) writes exactly the bytes that
// ggml_quantize_chunk (libggml-base) writes for the same input: F32, F16, BF16, Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS,
// IQ2_S, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0 and MXFP4. With an importance matrix
// (one weight per column, as llama-quantize passes it) the types ggml weights
// (UsesImatrix) take the same weighted searches as ggml's quantize_row_*_impl; the others
// ignore it, as ggml does. IQ2_XXS, IQ2_XS and IQ1_S need one (ErrNeedsImatrix), as
// ggml_quantize_requires_imatrix says; QuantizeModel and quant/plan also refuse the
// tensors llama-quantize refuses without one (TensorNeedsImatrix).
//
// The codebook (IQ1-IQ3) types search lattices. Their grids are ggml's kgrid tables
// (tensor.IQGridCodes, shared with the dequantizers); the point-to-index map and the
// neighbour lists of off-grid points are derived from them on first use, as ggml's
// iq2xs_init_impl/iq3xs_init_impl do (about 1 s for IQ1's 2048 points, 0.1-0.4 s for
// IQ2, 10 ms for IQ3; BenchmarkIQGridInit). ggml aborts the process on values these
// searches cannot place (NaN, infinities, squares that overflow); QuantizeRows refuses
// them instead (ErrUnsupported). IQ1_S/IQ1_M sort each block as glibc's qsort does
// (a stable merge sort), so ties keep index order.
//
// Identity rests on replaying ggml's C in float32 with its operation order: the
// nearest_int rounding trick, C casts (truncation, x86 results for NaN and overflow),
// roundf/lroundf, ggml's fp16 rounding, and every product rounded before it is added
// (Go may fuse x*y+z into an FMA; an explicit float32() conversion forbids it, and ggml's
// x86 build has no FMA). Tests compare bytes against the real library for many inputs
// (normal, uniform, outliers, zero rows and blocks, tiny and subnormal values, constants,
// powers of two, NaN and infinities) with and without an importance matrix, and
// against committed fixtures.
//
// # Speed
//
// On amd64 with AVX2 the hot loops run in assembly kernels (search_amd64.s) that stay
// bit-identical to the scalar code: ggml's scale searches try many candidate scales
// whose sums are independent, so each vector lane evaluates one candidate with exactly
// the scalar float32 operations in the scalar order (no reassociation, no FMA), and
// the choice then scans the candidates in ggml's order. make_qkx2_quants moves its min
// to each winner's, which later candidates use, so after a win that moves it the
// remaining candidates are evaluated again. Per-block conversions (Q8_0's roundf, Q4_0,
// MXFP4's nearest value, F16 and BF16 rounding) are vectorized with the same results
// for every input, NaN groups falling back to the scalar code where an instruction
// would treat NaN payloads differently. Q8_0 and Q4_0, whose arithmetic per block is a
// few instructions, run whole rows per kernel call (rows_amd64.s, AVX2 and F16C: the
// scale's binary16 rounding too), with every constant loaded once per row; entered per
// block, call overhead and constant set-up bounded them. The codebook searches of
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S (iq2_amd64.s, iq3_amd64.s) take eight
// candidate scales per call, one per lane: rounding, the neighbour search of each
// off-grid group (each lane measures the neighbours of its own point, eight at a time,
// from lists laid out in steps of eight: coordinates by columns for IQ3, packed codes
// for IQ2; the first least distance wins, as in ggml's loop) and the candidate's sums.
// Other CPUs, and builds with -tags purego, use the scalar code. Tests compare every path with the scalar code on the CPUs that have it, by
// switching paths off (TestSIMDMatchesScalar, TestRowKernelsMatchScalar, the kernel
// tests); BenchmarkKernels times each type on each path. There are no AVX-512 kernels:
// the AVX2 ones run on AVX-512 CPUs as they are.
//
// Quantize wraps a tensor lazily (tensor.NewLazy): nothing runs until an encoder reads
// the data, and then the source is decoded to float32 once.
//
// # Mixes
//
// A Mix answers, tensor by tensor and in file order, which type llama-quantize gives each
// tensor for a file type such as Q4_K_M (llama_tensor_get_type): attn_v, ffn_down,
// output and token_embd special cases, use-more-bits layers, GQA and expert counts, and
// the fallback for rows that are not a whole number of blocks. Tests compare its choices
// with llama.cpp's for mock dense, GQA, 70B, falcon, tied-embedding and MoE models.
//
// QuantizeModel puts the two together as a model transform: it reads the model facts
// from GGUF metadata (InfoFromMetadata), asks the mix for each tensor's type, and wraps
// each changed tensor lazily; unchanged tensors are shared and the input is not modified.
//
// # Memory and concurrency
//
// Kernels allocate nothing: their scratch lives in fixed-size arrays on the stack.
// QuantizeRows splits rows across the goroutines its threads argument allows
// (ModelOptions.Threads; 0 means GOMAXPROCS), which take chunks of rows as they go,
// when there is enough work; the result does not depend on the split. Quantize holds the source as float32 and the
// output while it runs, i.e. O(one tensor).
//
// # Security
//
// The package parses nothing. Sizes are validated (overflow-checked) before any work;
// NaN and infinities never panic, and a non-finite value only affects its own row
// (rows are quantized independently); the bytes written for NaN, infinities and values
// near the float32 limit follow x86 C semantics and match ggml's (tested).
//
// Reference: ggml/src/ggml-quants.c and src/llama-quant.cpp in llama.cpp
// (https://github.com/ggml-org/llama.cpp), the release node-llama-cpp 3.x bundles.
package ggml
