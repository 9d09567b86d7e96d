// Package distill trains an ONNX student model on the CPU to match a teacher's
// softened outputs (knowledge distillation, Hinton et al. 2015), mixed with hard
// labels where the data has them, and writes the trained student back as ONNX.
//
// Loss per example: labeled, Alpha·T²·KL(softmax(t/T) ‖ softmax(s/T)) +
// (1−Alpha)·CE(s, label); unlabeled (label −1), the distillation term alone, so a
// few labels plus unlabeled transfer data is a first-class setting. Teacher logits
// are computed once with Refit's runtime.
//
// # Why its own autodiff
//
// Gradients come from a small reverse-mode differentiator over the ONNX operators
// these image/MLP students use (Conv with group 1, Gemm, MatMul with a constant
// right operand, Relu, MaxPool, GlobalAveragePool, Flatten, Reshape, Add,
// BatchNormalization in inference mode, Identity, Dropout); anything else is
// ErrUnsupportedOp naming the node. GoMLX (with onnx-gomlx) would cover more
// operators, but it pulls a large dependency tree that compiles slowly on small
// machines, panics in worker goroutines kill the process, and its trained
// variables would have to be mapped back into the ONNX initializers anyway. Here
// the parameters are the initializers themselves, matrix products go through
// internal/blas, and gradients are checked against finite differences and the
// forward pass against the runtime in tests.
//
// # Invariants
//
//   - Train never modifies its inputs; it returns a new ModelProto with the same
//     graph and the weights of the best held-out epoch.
//   - BatchNormalization running statistics stay frozen; scale and bias train.
//   - Deterministic for a seed (shuffling), given the same thread count.
//
// # Memory
//
// The training set is held in memory as float32; activations of one batch (plus
// im2col buffers) are kept for the backward pass.
package distill
