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
// Conv1D/2D/3DTranspose (valid, same, output_padding, dilation), DepthwiseConv1D/2D,
// SeparableConv1D/2D, BatchNormalization, LayerNormalization, Activation (relu, relu6,
// sigmoid, tanh, softmax, log_softmax, elu, selu, softplus, softsign, exponential,
// swish/silu, hard_sigmoid, hard_swish/hard_silu, gelu, mish, leaky_relu, linear), ReLU
// (max_value, negative_slope, threshold), LeakyReLU, PReLU, ELU, ThresholdedReLU,
// Softmax, Max/AveragePooling1D/2D/3D, Global pooling 1D/2D/3D (keepdims), ZeroPadding,
// Cropping and UpSampling 1D/2D/3D (nearest; bilinear in 2D), Add, Subtract, Multiply,
// Average, Maximum, Minimum, Concatenate, Flatten, Reshape, Permute, Embedding
// (mask_zero), Masking, Rescaling, LSTM, GRU (reset_after either way), SimpleRNN
// (return_sequences, return_state, go_backwards), TimeDistributed (any supported
// layer or model), Bidirectional (LSTM/GRU/SimpleRNN, merge_mode concat, sum, mul,
// ave or None, return_sequences, return_state, a custom backward_layer), models used
// as layers (Sequential or Functional, nested up to 16 deep, shared calls) and the
// dropout/noise layers (identity at inference).
// Every other class makes Convert fail before building anything with an
// *graph.UnsupportedError listing the classes and their counts, those inside nested
// models and wrappers included (it wraps refit.ErrUnsupported). Lambda layers are
// Python code (marshalled bytecode) and are refused with their names. RNN initial
// states, stateful RNNs and data_format channels_first are not converted.
//
// # Masks
//
// Masking and Embedding(mask_zero) attach a [batch, steps] mask to their output; the
// layers Keras lets a mask pass (activations, Dense, normalization, dropout,
// TimeDistributed, RNNs returning sequences) hand it on, merges combine masks with
// and, GlobalAveragePooling1D averages the unmasked steps only, other layers drop it. An RNN with a masked input skips masked steps as Keras
// does: the state carries over them, so the result equals running over the unmasked
// steps alone. The converter gathers each sequence's unmasked steps to the front in
// time order (TopK on the key t + steps*masked), runs the ONNX RNN with sequence_lens,
// and maps a returned sequence back to time positions with GatherElements: a masked
// step repeats the previous output (zeros before the first), or is zero inside
// Bidirectional, where Keras sets zero_output_for_mask (TF.js does not; Refit follows
// Keras). This needs the number of steps to be known.
//
// # Nested models and wrappers
//
// A nested model's layers are converted in place with their weights looked up under
// the model's scope: "outer/layers/inner/layers/dense/vars/0" (Keras 3),
// "inner/dense/kernel:0" or "dense/kernel:0" (Keras 2 h5 groups, TF.js). Configs number
// a nested model's calls from 1 (its node 0 is its own); references are matched either
// way. A layer called several times keeps one copy of its weights (initializers are
// shared by content), and a conversion reads at most 64 values per weight value, so a
// config that calls a large layer a million times is refused rather than run.
// TimeDistributed merges batch and time for the inner layer (Keras 3 weights under
// "<wrapper>/layer", Keras 2 under the wrapper's name); Bidirectional converts the
// forward and backward RNNs (Keras 3 "forward_layer"/"backward_layer", Keras 2 and
// TF.js "forward_<rnn>"/"backward_<rnn>") with the backward sequence in time order.
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
// (testdata/gen/tfjs_layers.js) covering most layer families above (3D and transposed
// convolutions, nested models, TimeDistributed, Bidirectional and masked RNNs
// included); TestTFJSFixtures checks Refit's runtime on their conversions against
// TF.js's outputs, and TestKerasFixtures does the same for the models rewritten as .h5
// and Keras 3 .keras files with each writer's weight paths
// (testdata/gen/tfjs_to_keras.py). Layers TF.js lacks (Conv1DTranspose,
// ZeroPadding3D, Cropping3D, UpSampling3D, Global pooling 3D) are checked against a
// reference written in torch (testdata/gen/keras_torchref.py, TestTorchRefFixtures).
// interop/tfjs checks ONNX Runtime on all of them, and on real models: pretrained npm
// models and the InVesalius brain segmentation 3D U-Net from Debian
// (TestKerasRealModels, testdata/gen/fetch_keras_models.sh).
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
