// Package optimize rewrites ONNX graphs without changing what they compute: constant
// folding, identity and dropout elimination, dead node and unused initializer removal,
// BatchNormalization folded into Conv and Gemm, MatMul+Add fused into Gemm, consecutive
// Transposes and Reshapes merged, and common subexpression elimination.
//
// Each pass is a function over a graph (see Passes) with its own test. Model clones its
// input and never modifies it. Passes work on the main graph; names that subgraphs
// (If/Loop/Scan bodies) read from the outer scope count as used, so nothing they need is
// removed. Constant folding needs an evaluator for single nodes (the runtime supplies one),
// so this package does not depend on the runtime.
package optimize
