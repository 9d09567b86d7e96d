// Package prune removes weights from models so that they shrink: unstructured
// magnitude pruning (per tensor or with one global threshold, like PyTorch's
// global_unstructured), N:M semi-structured sparsity, and structured channel pruning
// of ONNX graphs that deletes filters and hidden units and repairs every dependent
// tensor, so the result is smaller and faster, not only masked.
//
// # Use
//
//	out, rep, err := prune.Weights(m, &prune.Options{Method: prune.Global, Sparsity: 0.5})
//	mp2, rep, err := prune.Structured(ctx, mp, fsys, &prune.StructuredOptions{Sparsity: 0.5})
//
// Weights works on any refit.Model (safetensors, PyTorch, GGUF float tensors, ONNX
// initializers): the result has the same names, dtypes and shapes with pruned values
// set to zero, so any encoder of the source format writes it back. Zeros compress:
// [Compressor] wraps the encoded container in a zstd stream (the CLI writes OUT.zst;
// `zstd -d` restores the plain file) and [CompressedSize] reports what it would be.
// [EncodeSparse] rewrites each tensor that shrinks as a bitmask of its nonzero
// elements plus the packed nonzero values (<name>.mask U8 and <name>.values, with
// refit.sparse=bitmask-v1 and the dense shape in metadata; the layout is documented
// at [SparseKey]); [DecodeSparse] restores the dense tensors bit for bit. At 50%
// sparsity the MNIST checkpoint's float32 data shrinks to 53%, at 90% to 13%.
//
// # Invariants
//
//   - Transforms are pure: they return a new model and never modify their input;
//     tensors that are not pruned are shared.
//   - Exactly round(sparsity*n) elements of each selected tensor are zero after
//     magnitude pruning (more if more were zero already); ties are broken by position,
//     so output is deterministic. Global pruning zeroes exactly round(sparsity*total)
//     elements across all selected tensors.
//   - N:M keeps the N largest of every M consecutive weights along the input
//     dimension (axis 1 of a [out, in, ...] weight); M must divide that dimension.
//   - Structured pruning removes output channels of Conv/Gemm/MatMul producers and
//     the matching input channels of every consumer (Conv, Gemm, MatMul, BatchNorm
//     parameters, biases, per-channel Add/Mul constants, Concat offsets,
//     Flatten/Reshape -> Gemm column blocks). An operator it cannot repair (e.g. a
//     residual Add of two activations) stops it with an error naming the node
//     (ErrUnrepairable); producers whose channels reach a graph output are kept.
//
// # Memory
//
// Weights converts one tensor at a time; pruned tensors are lazy and recomputed when
// the encoder reads them, so memory is O(largest tensor) for per-tensor methods.
// Global pruning also holds one float32 score per selected element to find the
// threshold. EncodeSparse reads each tensor once to count its nonzeros
// and again when the encoder pulls its mask and values; DecodeSparse keeps nothing
// but scatters each tensor when it is read. Structured pruning works on an in-memory ModelProto (small models).
//
// # Security
//
// Sizes come from decoded tensors whose byte sizes the format packages checked;
// regular expressions are Go's RE2 (linear time).
package prune
