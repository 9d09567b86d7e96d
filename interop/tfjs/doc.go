// Package tfjs holds interop tests of Refit's TF.js and Keras conversions against the
// real tools under node: @tensorflow/tfjs 4.22.0 (pure JS, CPU backend) runs the
// original models and onnxruntime-node 1.30.0 the converted ONNX graphs (through
// interop/ort/ort_run.js).
//
// TestRealModels takes pretrained TF.js layers models from npm (nsfwjs 4.4.0 ships
// MobileNetV2 and InceptionV3 as JS modules; tfjs_run.js unpacks them to model.json
// and shards), converts them with format/tfjs + keras2onnx, runs TF.js, ONNX Runtime
// and Refit's runtime on the same seeded inputs, and asserts max abs error <= 1e-4 and
// top-1 agreement. It prints the agreement table (go test -v ./interop/tfjs), also
// written to $REFIT_TFJS_TABLE when set.
//
// TestFixturesORT runs the TF.js-made layer fixtures of keras2onnx/testdata/tfjs in
// ONNX Runtime against TF.js's outputs.
//
// Tests skip when node or the npm packages are missing, and fail instead under
// REFIT_REQUIRE_TOOLS=1.
package tfjs
