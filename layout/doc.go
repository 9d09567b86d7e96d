// Package layout converts TensorFlow/Keras weight layouts to PyTorch's, as data and
// small named functions, each with an inverse.
//
// Keras keeps channels last and kernels input-major; PyTorch keeps output channels
// first:
//
//	Dense kernel [in, out]                 -> Linear weight [out, in]           (DenseKernel / LinearWeight)
//	Conv1D kernel [W, in, out]             -> Conv1d weight [out, in, W]        (Conv1DKernel / Conv1dWeight)
//	Conv2D kernel HWIO                     -> Conv2d weight OIHW                (Conv2DKernel / Conv2dWeight)
//	Conv2DTranspose kernel [H, W, out, in] -> ConvTranspose2d [in, out, H, W]   (Conv2DKernel)
//	Conv1D/3DTranspose likewise                                  (Conv1DKernel, Conv3DKernel)
//	Conv3D kernel [D, H, W, in, out]       -> Conv3d weight [out, in, D, H, W]  (Conv3DKernel / Conv3dWeight)
//	DepthwiseConv2D [H, W, C, M]           -> Conv2d(groups=C) [C*M, 1, H, W]   (DepthwiseKernel / DepthwiseWeight)
//	SeparableConv2D                        -> depthwise conv + pointwise 1x1 conv (module.depthwise, module.pointwise)
//	BatchNormalization gamma, beta, moving_mean, moving_variance -> weight, bias, running_mean, running_var
//	LayerNormalization gamma, beta         -> weight, bias
//	Embedding embeddings                   -> weight (same layout)
//	LSTM kernel, recurrent_kernel [*, 4H]  -> weight_ih_l0, weight_hh_l0 [4H, *] (gates i,f,c,o = i,f,g,o)
//	     bias [4H]                         -> bias_ih_l0 = bias, bias_hh_l0 = 0
//	GRU  kernel, recurrent_kernel [*, 3H]  -> weight_ih_l0, weight_hh_l0 [3H, *] with gates z,r,h -> r,z,n
//	     bias [2, 3H] (reset_after=True)   -> bias_ih_l0, bias_hh_l0, gates reordered
//
// GRU with reset_after=False applies the reset gate before the recurrent matmul, which
// PyTorch's GRU cannot express; its bias [3H] is refused with ErrUnsupported. Epsilons
// differ by default (Keras BatchNormalization 1e-3, PyTorch 1e-5; LayerNormalization
// 1e-3 vs 1e-5): copy them from the Keras config when building the PyTorch module.
//
// [ToPyTorch] applies the rules to a model given its layers ([LayersFromConfig] reads
// them from a Keras or TF.js config), recognizing the weight names of Keras h5 files
// ("dense/kernel:0"), TF.js ("dense/kernel"), Keras 3 ("dense/vars/0") and TF
// checkpoints ("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE").
//
// Recurrent layers are refused (ErrUnsupported) when their config asks for what
// PyTorch's LSTM/GRU do not compute: activation other than tanh, recurrent_activation
// other than sigmoid (TF.js and old Keras default to hard_sigmoid), GRU reset_after=false.
//
// Verification: TestInteropTFJSKerasLayers builds and runs each layer in TF.js
// (tfjs-layers implements Keras's semantics), reads the saved model with format/tfjs,
// maps it with ToPyTorch and runs PyTorch: Dense, Conv1D, Conv2D, Conv3D, Conv2DTranspose,
// DepthwiseConv2D, SeparableConv2D, BatchNormalization, LayerNormalization, Embedding
// and LSTM agree within 3e-7. TestInteropTorch checks the same plus GRU
// (reset_after=true) against Keras's equations written in numpy.
//
// All conversions are lazy (tensor.Lazy) and never modify their input; memory is one
// tensor's input and output while it is pulled.
package layout
