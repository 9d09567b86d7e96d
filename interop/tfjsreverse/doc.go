// Package tfjsreverse verifies Refit's reverse path, PyTorch weights of a Keras
// architecture back to a TF.js layers model: a TF.js model is converted to a PyTorch
// state dict (layout.ToPyTorch, pytorch.Encode), read back from the .pt file, mapped
// to Keras weights (layout.FromPyTorch) and written with tfjs.EncodeLayers and the
// original topology. @tensorflow/tfjs (pure JS, CPU backend, strict weight loading)
// then loads the original and the round-tripped model and runs both on the same
// seeded input; outputs must agree exactly (the weights are the same float32 values,
// the original's uint8 quantization dequantized by the reader).
//
// Models: nsfwjs's MobileNetV2 (a real pretrained layers model, uint8-quantized) and
// two small synthetic Keras models built in TF.js (Conv2D, BatchNormalization,
// DepthwiseConv2D, SeparableConv2D, Conv2DTranspose, LayerNormalization, Dense;
// Embedding, Conv1D, LSTM). The tests need node and the npm packages @tensorflow/tfjs
// and nsfwjs in the repository's node_modules; they skip without them and fail when
// REFIT_REQUIRE_TOOLS=1.
package tfjsreverse
