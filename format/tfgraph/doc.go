// Package tfgraph reads TensorFlow graphs stored as protobuf: frozen GraphDefs
// (".pb", format "graphdef") and SavedModels (a folder with saved_model.pb and
// variables/, format "savedmodel"), without TensorFlow.
//
// Spec: the field numbers of tensorflow/core/framework/graph.proto, node_def.proto,
// attr_value.proto, tensor.proto, tensor_shape.proto, function.proto, op_def.proto
// and tensorflow/core/protobuf/saved_model.proto, meta_graph.proto. Messages are
// decoded by hand with protowire; unknown fields are skipped.
//
// # Tensors
//
// The values of Const nodes become the model's tensors, named after their nodes:
// tensor_content as a view of the file, typed value lists (float_val, int_val ...)
// expanded to the full shape with the last value repeated, as TensorFlow does.
// DT_STRING constants are left out. A SavedModel adds the variables of its
// checkpoint bundle (format/tfcheckpoint), named by their checkpoint keys; its
// MetaGraphDef tagged "serve" is the one read, with its signatures
// ([File.Signatures]). Conversion to ONNX is tf2onnx.TFGraph.
//
// # Limits
//
// The fixtures were written by testdata/gen/tfgraph.py to the documented protobuf
// layouts, not by TensorFlow, which is unavailable here. Conversion (tf2onnx) binds
// TF2 SavedModel variables to their object-graph checkpoint keys by following the
// graph's restore function; the SavedObjectGraph itself is not read.
//
// # Memory and security
//
// The graph file is read into memory whole (or used in place when mapped), so
// memory is O(graph file); it is charged to the call's budget and files over 2 GiB
// (protobuf's own limit) are refused. Every length comes from protowire, which
// checks it against the bytes left; shapes are capped at rank 64, attribute values
// nest at most 32 deep, element counts are overflow-checked by tensor.ByteSize and
// tensor_content must be exactly the size its dtype and shape need. Expanding a short
// value list into a large constant is charged to the budget before allocating.
package tfgraph
