// Package prune holds the interop tests of Refit's pruning and distillation against
// the reference tools:
//
//   - pruned ONNX models (structured 50% channel removal on the MNIST CNN with and
//     without BatchNorm, magnitude, global and 2:4 unstructured) and a distilled
//     student load in ONNX Runtime (npm onnxruntime-node, driven by
//     interop/ort/ort_run.js) and give Refit's runtime outputs on the MNIST test
//     digits, element by element;
//   - pruned PyTorch checkpoints load in Debian's torch with weights_only=True, have
//     the reported number of zeros, and keep the original values everywhere else.
//
// The package has no exported API. Tests skip when node, onnxruntime-node or
// /usr/bin/python3 with torch are missing, and fail then under REFIT_REQUIRE_TOOLS=1.
package prune
