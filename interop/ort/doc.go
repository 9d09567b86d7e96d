// Package ort holds Refit's agreement tests against ONNX Runtime: the same models and
// the same seeded inputs go through Refit's pure-Go runtime (package runtime) and
// through ONNX Runtime (the npm package onnxruntime-node, driven by ort_run.js), and
// every output is compared element by element, with top-1 agreement for classifiers.
// The ONNX files Refit writes (a decode/encode round trip, onnx.WriteModel, and
// optimize.Model's output) must load in ONNX Runtime, give the original outputs, and
// pass onnx.checker.check_model.
//
// Models come from testdata/gen/ort_models.py (ResNet-18 at opsets 13 and 17, a
// transformer encoder at opsets 14 and 17, an MLP, a small CNN), exported once into a
// cache folder under os.TempDir named after the generator's hash, plus the committed
// MNIST CNN in testdata/models/mnist.
//
// ort_run.js is also the ONNX Runtime half of bench/runtime.py; its usage is at its top.
//
// The package has no exported API; the tests skip when node, onnxruntime-node or
// Debian's python3 with torch and onnx are missing, and fail then under
// REFIT_REQUIRE_TOOLS=1.
package ort
