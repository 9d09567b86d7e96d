// Package tflite holds interop tests for tf2onnx's TFLite and TF.js graph-model
// conversions: real models shipped by npm packages (MediaPipe face detection .tflite
// files, a TF.js graph model) converted to ONNX and run in ONNX Runtime
// (onnxruntime-node) and Refit's runtime on the same inputs. The TF.js graph model is
// also run in @tensorflow/tfjs as the original runtime, and the .tflite files in
// TFLite's own interpreter (@tensorflow/tfjs-tflite, WebAssembly, driven offline by
// tflite_run.js), or, for MediaPipe's custom operators that interpreter cannot
// resolve, in LiteRT.js (@litertjs/core, driven by litert_run.mjs). Tests skip when node or the packages are missing and fail instead
// under REFIT_REQUIRE_TOOLS=1.
package tflite
