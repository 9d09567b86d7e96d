// Package tfjsgraph holds the interop tests of TF.js graph model conversion
// (tf2onnx.TFJSGraph): real models from npm run in @tensorflow/tfjs and, converted, in
// ONNX Runtime, compared output by output. The package has no non-test code.
package tfjsgraph
