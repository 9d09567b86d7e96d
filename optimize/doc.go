// Package optimize rewrites ONNX graphs without changing what they compute: Constant
// nodes and Identity copies of initializers lifted into initializers, constant
// folding, static shape inference into value_info, identity and dropout elimination,
// dead node and unused initializer removal, BatchNormalization folded into Conv and
// Gemm, MatMul+Add fused into Gemm, consecutive Transposes and Reshapes merged, and
// common subexpression elimination.
//
// Prepare runs the subset every ONNX command applies first (PreparePasses), so that
// weights are initializers wherever the exporter put them: Paddle2ONNX keeps every
// weight in a Constant node, torch routes deduplicated initializers through Identity.
//
// Each pass is a function over a graph (see Passes) with its own test. Model clones its
// input and never modifies it. Passes work on the main graph; names that subgraphs
// (If/Loop/Scan bodies) read from the outer scope count as used, so nothing they need is
// removed. Constant folding needs an evaluator for single nodes (the runtime supplies one),
// so this package does not depend on the runtime. Shape inference describes only what
// inputs and constants determine, never guesses, and an invalid graph (a value defined
// twice) is never made valid by lifting or folding one of its definitions.
package optimize
