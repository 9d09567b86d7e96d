// Package graph builds and edits ONNX graphs: the one place where Refit's graph
// transforms (optimize, quant/onnxq, prune, distill, keras2onnx, tf2onnx and the
// ONNX->PyTorch generator) create nodes, initializers and attributes and rewire values.
//
// Four pieces, each usable alone:
//
//   - Names hands out unique names: base, then base_1, base_2, ... A Builder or Editor
//     owns one, seeded with every name its graph already uses.
//   - Builder accumulates a new graph: nodes, initializers, inputs and outputs, then
//     Graph or Model assembles the protobuf. FloatTensor, IntTensor, RawTensor and
//     ValueInfo make the pieces.
//   - Editor rewrites an existing graph in place: producers and consumers, replacing
//     the uses of a value, removing nodes, inserting nodes before others or in place
//     of them, dead-node and unused-initializer removal and a topological sort. Names
//     that subgraphs (If/Loop/Scan bodies) read from the outer scope count as uses.
//     SetInput, SetOutput, SetInputs and SetOpType rewire single nodes; WithOutputs
//     exposes intermediate values of a copy of a model.
//   - Typed attribute access: Int, Float, Ints, Floats, String, Tensor and Graph read
//     an attribute with a default; Set* write one; IntAttr and friends make one.
//
// UnsupportedError is the error every converter returns for operators (or layers)
// it has no translation for. Evaluator is the signature of single-node evaluation
// for constant folding; package graph/eval implements it with the runtime, so this
// package does not depend on the runtime.
//
// # Invariants
//
// Builder and Editor never reuse a name: every name they make comes from their Names.
// Editor.Remove leaves a nil in the node list so that loops over the nodes can keep
// going; Compact drops the nils (Commit and TopoSort do too). An Editor indexes the
// initializers: once it exists, change them only through it.
//
// # Memory
//
// Graphs are small next to their weights: indexes other than the initializers are
// rebuilt on demand as maps over node and value names. Initializer data is
// referenced, not copied.
//
// # Security
//
// Graphs may come from untrusted files. Nothing here indexes a node's inputs or
// outputs without checking their count, TopoSort reports cycles instead of looping,
// and FuzzEditor exercises editing on generated graphs.
package graph
