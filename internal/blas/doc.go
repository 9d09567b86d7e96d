// Package blas is a fast single-precision matrix multiply (SGEMM) for the pure-Go
// runtime: C = alpha*op(A)*op(B) + beta*C on row-major float32 matrices.
//
// # Design
//
// It follows the BLIS/GotoBLAS structure. op(B) is packed in kc x nc blocks of
// nr-column panels (kc = 256, nc = 4096) and op(A) in mc x kc blocks of mr-row strips
// (mc = 144); a register-tiled mr x nr micro-kernel multiplies one strip by one panel.
// On amd64 the micro-kernel is Go assembly: with AVX-512F a 16x16 tile (sixteen ZMM
// accumulators, FMAs with embedded broadcasts of A; for narrow right edges a 16x8
// variant with AVX-512VL and a 16x4 one that keeps a column per register), else with
// AVX2 and FMA a 6x16 tile (twelve YMM accumulators, VFMADD231PS; a 6x8 variant for
// narrow right edges);
// elsewhere, or with the purego build tag, a portable 4x4 Go kernel is used. The
// tests run every kernel the CPU has against the naive product. The choice is made
// once at init with golang.org/x/sys/cpu;
// Kernel names it. Partial tiles at the right and bottom edges are computed into a
// scratch tile and merged, so the kernel never reads or writes outside C.
//
// Constant operands can be packed once: PackB/SgemmPackedB for weights on the right
// (MatMul, Gemm), PackA/SgemmPackedA for weights on the left (convolution computed as
// W * im2col). Packing is a copy; a packed operand is immutable, safe for concurrent
// use and valid only in the process that made it. SgemmConv goes one step further
// for convolutions: it gathers the im2col columns straight from the input image
// while packing B, so the k x n im2col matrix is never materialized; every gathered
// index is checked against the image, so any geometry is memory-safe.
// SgemmShifted avoids the gather: a ShiftLayout stores the image (zero padding
// included; strided convolutions split into their stride phases) so that every
// im2col row is one contiguous run, which the conv tiles (conv_inplace*.go, the
// micro-kernels with B's rows read in place through a table of offsets) multiply
// without packing B at all; the product then has a few discarded columns per output
// row, which the caller drops. SgemmShiftedOut lets the last block of k do that on
// AVX-512: it adds the bias, applies Relu and compress-stores only the output
// positions. SgemmShiftedT (conv_tiles_t*.go) turns the product around for small
// outputs: up to 7 pixels of an output row by 64 output channels (6 by 16 with
// AVX2), the pixels broadcast from the image in place and the weights packed once
// (PackConvT), so rows are computed exactly, without discarded columns. FMARow is
// the fused multiply-add row of depthwise convolutions.
//
// # Threads
//
// A call splits C into a grid of at most threads rectangles (its first argument;
// 0 means GOMAXPROCS), chosen so the largest is smallest, and runs them on
// long-lived worker goroutines plus the caller; each rectangle is computed independently (no barriers), so a piece never waits for
// another. threads == 1 keeps a call on its caller; products smaller than 2^21
// multiply-adds always run on the caller. There is no process-wide setting: the
// thread count is an argument of every call.
//
// # Invariants
//
//   - beta == 0 means C is written without being read: NaN or Inf in the old C do
//     not propagate. alpha == 0 or k == 0 only scales C by beta.
//   - Sums run over k in blocks of 256 with FMA, so results differ from a naive loop
//     by rounding only; results do not depend on the thread count.
//   - Slices and strides are checked before any work; a too-short slice, a stride
//     smaller than the row width or a negative dimension panics (a programmer error,
//     as in other BLAS bindings).
//
// # Memory
//
// Packing buffers (about 1.2 MB per goroutine) come from a free list, so a steady
// stream of calls allocates nothing. PackB uses k*roundup(n, nr) floats, PackA
// roundup(m, mr)*k.
package blas
