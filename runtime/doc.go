// Package runtime is a pure-Go CPU executor for ONNX graphs: Refit uses it to verify
// converted models numerically, to calibrate quantization and to evaluate.
//
// # Use
//
//	sess, err := runtime.Load(modelProto, os.DirFS(dir), nil) // every kernel resolved here
//	outs, err := sess.Run(ctx, map[string]*runtime.Value{"x": x})
//
// A Value is a dense tensor held as a typed Go slice ([]float32, []int64, []uint16 for
// float16/bfloat16 bits, ...); Value.Tensor and FromTensor convert to and from
// tensor.Tensor. RandomInputs makes inputs from the declared shapes. Value.Kind tells
// tensors from ONNX sequences and optionals (NewSequence, NewOptional: elements in
// Value.Elems, immutable, never pool-owned) and from string tensors (NewStrings: Data
// is a []string, as the core dtype table has no string type); only the operators that
// take them (Sequence*, Optional*, If, Loop, Identity, Cast, StringNormalizer,
// TfIdfVectorizer) accept non-tensor kinds, the executor rejects them elsewhere.
//
// # How it runs
//
// Load decodes the protobuf into the package's own Graph (nodes with typed attributes,
// subgraphs for If and Loop), then NewSession: it resolves each node's kernel from the
// registry at the model's opset version (every unknown operator is reported at once,
// as ErrUnknownOp), sorts the nodes topologically (a cycle or an undefined input is an
// ErrInvalidGraph naming the node), counts each value's consumers, and folds what is
// known at load: nodes whose inputs are all initializers, and Shape of inputs whose
// declared shape is fully static (Run rejects inputs that contradict a declared
// shape), so shape arithmetic runs once. Other shapes are computed by the kernels as
// they run, which costs little next to the arithmetic. Run executes the nodes in order; a value's
// buffer goes back to a pool when its last consumer has run, and later allocations of
// the same size reuse it. Subgraphs see the values of enclosing graphs by name.
//
// Operators live in one file per family (ops_elementwise.go, ops_conv.go, ...) and
// register themselves in init with Register; CONTRIBUTING-OPS.md explains how to add
// one. Kernels parallelize internally over Options.Threads goroutines (GOMAXPROCS when
// 0) through internal/parallel, with results identical for every thread count; matrix
// products go through internal/blas (a packed, cache-blocked SGEMM with an AVX2/FMA micro-kernel).
// Conv, MatMul and Gemm whose weight input is an initializer (not overridable by a
// graph input) pack it once per node and layout on first use (Node.prep) and
// reuse it on every Run; 2-D convolutions gather im2col columns inside the GEMM.
// NewSession fuses a Relu that is the only reader of a Conv's output into the Conv.
// It also puts fused operators (domain refit.fused, fuse.go) in place of transformer
// patterns, computing the same float32 operations: MatMul -> Add(bias) [-> Relu] as
// one product whose bias and Relu are applied in the GEMM's store (Gemm with a bias
// row likewise), Add -> LayerNormalization in one pass per row, and the exported
// multi-head attention core (Transposes, scale, MatMul, Softmax, MatMul) reading
// each head in place with its row stride. A Conv (+ Relu) whose only reader is a
// MaxPool becomes ConvMaxPool (conv_batch.go), run image by image: each goroutine
// convolves an image into scratch it pools at once (2x2 stride-2 pools read the
// shift layout's wide product in place and take the bias and Relu after the max).
//
// Integer products (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv) are exact
// int32 sums, as ONNX defines them, computed on 8-bit operands by internal/qgemm
// (AVX-512 VNNI, AVX2 or Go kernels, bit-identical); convolutions multiply the
// packed weights by each image's im2col panels, or with unit strides by the image
// read in place (directConv, intconv.go), and hand the sums to the operator's
// epilogue. NewSession runs QDQ MatMul, Gemm and Conv (with the Conv's QuantizeLinear)
// as the integer kernels ONNX Runtime fuses them into, dynamic quantization's
// MatMulInteger -> Cast -> Mul as one node, and DequantizeLinear -> Relu/MaxPool ->
// QuantizeLinear chains on the 8-bit values (emulate_qdq.go, fuse_int8.go).
// Options.IntArith = SaturatingPairsArith reproduces ONNX Runtime on x86 CPUs without
// VNNI, which sums uint8 x int8 products in saturating int16 pairs (intarith.go).
//
// NaNs and signed zeros follow ONNX Runtime's elementwise definitions bit for bit, on
// every path (vector, scalar, fused): Relu is v < 0 ? 0 : v and Clip raises to min,
// then lowers to max, so -0 and NaNs of either sign pass as they are; Max and Min
// return their first NaN, else the second operand on ties. Every MaxPool path folds
// its window in row-major order with that Max (blas.PoolMax): the window's first NaN,
// bits kept, else the last of its maximal values. ONNX Runtime's own MaxPool is no
// reference there: which NaN or zero it returns depends on MLAS's vector layout, and
// it often drops a NaN.
//
// # Invariants
//
//   - len(Value.Data) equals the product of Value.Shape; the executor validates every
//     kernel output.
//   - Kernels never modify their inputs; outputs are fresh (c.Alloc) or views (View).
//   - A failure, including a panic in a kernel or one of its worker goroutines, comes
//     back as an error naming the node (*NodeError); Run never panics.
//
// # Memory
//
// Peak memory is the initializers plus the live intermediate values of the current
// schedule; a value's buffer is a range of a block the per-session pool holds, the
// smallest free range that fits, and goes back when its last reader is done, merged
// with free neighbours, so the blocks stay near the largest set of values live at
// once. Values returned by Run belong to the caller and never return to the pool.
//
// Initializers share the model's raw_data rather than copying it. For a model loaded
// with onnx.LoadMapped the weights therefore stay in the file's mapping (page cache),
// and once a Conv, MatMul or Gemm has packed a weight into its own layout, the pages
// of the unpacked weight are dropped from the resident set (refit.ReleaseMapped): each
// weight takes memory once. Initializers under 64 KiB (biases, scales, shapes) are
// copied instead: kernels read them on every Run, and a read of a mapped page maps the
// page cache's folio around it, up to 2 MiB of the neighbouring, released weights.
//
// The packed weights and the pool's blocks are large and live as long as the session,
// and Go's collector lets garbage grow by GOGC percent (100 by default) of the live
// heap before it collects: the little garbage each Run leaves (the copies of the
// outputs, kernels' bookkeeping) would pile up to the model's size again, the resident
// set growing with the number of runs. So a Run that ends with more than 16 MiB of
// garbage on the heap runs a collection (cheap: the large slices hold no pointers),
// unless the collector is off (GOGC=off).
//
// Every tensor a session allocates (initializers as Load decodes them, kernel outputs,
// kernel scratch, the values a Loop collects) is charged to a memory budget,
// Options.MaxMemory (default DefaultMaxMemory: half of the RAM or of the process's
// memory limit), before it is allocated, from the shape: an allocation that does not
// fit fails with a *MemoryError (ErrMemoryBudget, ErrTooLarge) naming the node, the
// request and the limit, never with Go's out-of-memory crash. A charge is released
// when the garbage collector frees the memory (weak pointers, swept as the list grows);
// when an allocation does not fit, the pool's free buffers are dropped and a
// collection runs before the allocation is refused. The cost is one atomic add per
// fresh buffer, plus a mutex to record it; reused pool buffers cost nothing.
//
// # Security
//
// Models are untrusted: tensor sizes are overflow-checked and compared with the bytes
// present before allocating (an initializer whose data does not match its declared
// shape is refused at Load); external data paths must satisfy fs.ValidPath; indices
// are bounds-checked; no tensor exceeds Options.MaxElements and all of them together
// stay within Options.MaxMemory. Time: the Loop, Scan and SequenceMap iterations of a
// Run, summed over every nesting level, are bounded by Options.MaxIterations
// (ErrIterationBudget), and Run checks its context between nodes and between
// iterations, so a deadline or a cancel stops a long run. A single kernel (a huge
// MatMul) is not interrupted midway.
//
// Spec: https://onnx.ai/onnx/operators/ (operator semantics per opset version).
package runtime
