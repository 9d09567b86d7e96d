// Package keras2onnx converts Keras models — Sequential and Functional configs as
// Keras 2 and Keras 3 write them (.h5 model_config, .keras config.json) and as TF.js
// layers models carry them (model.json modelTopology) — with their weights to an ONNX
// graph (opset 17) that Refit's runtime and ONNX Runtime run.
//
//	m, _ := tfjs.DecodeFS(refit.DirFS(dir), "model.json", nil) // or refit.Open("model.h5")
//	mp, err := keras2onnx.ConvertModel(m, nil)
//	_ = onnx.WriteModelFile("model.onnx", mp, nil)
//
// # Layers
//
// Layers lists the supported classes: InputLayer, Dense, Conv1D/2D/3D (valid, same with
// TensorFlow's asymmetric padding, causal; strides, dilation, groups),
// DepthwiseConv1D/2D, SeparableConv1D/2D, BatchNormalization, LayerNormalization,
// Activation (relu, relu6, sigmoid, tanh, softmax, log_softmax, elu, selu, softplus,
// softsign, exponential, swish/silu, hard_sigmoid, hard_swish/hard_silu, gelu, mish,
// leaky_relu, linear), ReLU (max_value, negative_slope, threshold), LeakyReLU, PReLU,
// ELU, ThresholdedReLU, Softmax, Max/AveragePooling1D/2D/3D, Global pooling (keepdims),
// ZeroPadding, Cropping, UpSampling (nearest, bilinear), Add, Subtract, Multiply,
// Average, Maximum, Minimum, Concatenate, Flatten, Reshape, Permute, Embedding,
// Rescaling, LSTM, GRU (reset_after either way), SimpleRNN (return_sequences,
// return_state, go_backwards) and the dropout/noise layers (identity at inference).
// Every other class makes Convert fail before building anything with an
// *graph.UnsupportedError listing the classes and their counts (it wraps
// refit.ErrUnsupported). Nested models, Lambda, Bidirectional, masking (mask_zero),
// RNN initial states and data_format channels_first are not converted.
//
// Semantics follow the writer: hard_sigmoid is clip(0.2x+0.5, 0, 1) in Keras 2 and
// TF.js but relu6(x+3)/6 in Keras 3 (detected from keras_version or the "module"
// keys Keras 3 writes); bilinear UpSampling2D uses half-pixel centers except for
// models written by tfjs-layers, whose resizeBilinear does not.
//
// # Layout
//
// Graph inputs and outputs keep Keras' channels-last layout and are named after the
// Keras input and output layers. Inside, tensors of rank 3 and more are moved to
// channels-first when a layer needs it (convolutions, pooling, padding, batch norm)
// and stay so through elementwise layers, merges (the majority layout wins; the
// Concatenate axis is remapped) and activations; they go back to channels-last only
// where order matters: Flatten (so Dense weights after it stay valid), Reshape,
// Permute, Dense on sequences, LayerNormalization, RNNs and graph outputs. Each value
// is transposed at most once per direction. A MobileNetV2 converts with two
// Transposes: one at the input, one before Flatten.
//
// Weights are found by Keras name in the forms writers use ("layer/kernel:0" in h5,
// "layer/kernel" in TF.js, "layer/vars/<i>" in Keras 3, "layer/cell/kernel" for RNN
// cells) and converted to ONNX layouts: kernels HWIO -> OIHW, depthwise [H,W,C,M] ->
// [C*M,1,H,W] with group C, LSTM gates i,f,c,o -> i,o,f,c, GRU z,r,h kept.
//
// # Verification
//
// testdata/tfjs holds small models built and run by @tensorflow/tfjs 4.22.0
// (testdata/gen/tfjs_layers.js) covering most layer families above; TestTFJSFixtures
// checks Refit's runtime on their conversions against TF.js's outputs, and
// TestKerasFixtures does the same for the models rewritten as .h5 and Keras 3 .keras
// files (testdata/gen/tfjs_to_keras.py); interop/tfjs checks ONNX Runtime on them
// and on pretrained npm models.
//
// # Memory and security
//
// The ONNX model is built in memory: initializers hold every weight once, as float32
// (the source tensors are read one at a time). Configs are untrusted: JSON values are
// type-checked, integers bounded, inbound references checked (a reference to a missing
// or cyclic layer is refit.ErrFormat), weight shapes checked against the config, and
// made-up weights capped; malformed input gives an error wrapping refit.ErrFormat,
// never a panic (FuzzConvert).
package keras2onnx
