// Package tensor is Refit's tensor core: element types (plain scalars and GGML
// block-quantized types, with one size table), shapes with overflow-checked sizes,
// tensors whose bytes are read lazily, and exact conversions between types.
//
// Layout: tensor bytes are little-endian and row-major (C order). Block types store
// whole blocks along the innermost dimension, so that dimension must be a multiple of
// the type's block size.
//
// Laziness and memory: a Tensor's Data is an io.ReaderAt with a size, usually a view
// of a memory-mapped file. Transforms return tensors over Lazy data, computed when an
// encoder pulls them; Bytes and WriteTo compute afresh and keep nothing, so a pipeline
// holds one tensor at a time. Cast does better: its data converts 64 Ki elements at
// a time on every read, so casting and comparing hold no whole-tensor copy at all.
//
// Exactness: float casts round to nearest, ties to even, with subnormals, infinities
// and NaN handled as numpy (float16) and torch (bfloat16, float8) do; see float.go for
// the NaN details. Dequantization of every GGML block type is bit-identical to ggml's
// reference code (tested against libggml through ctypes). Large dequantizations run on
// several goroutines.
package tensor
