// Package all registers every format Refit supports; import it for its side effects.
package all

import (
	_ "github.com/refit-ml/refit/format/gguf"
	_ "github.com/refit-ml/refit/format/keras"
	_ "github.com/refit-ml/refit/format/numpy"
	_ "github.com/refit-ml/refit/format/onnx"
	_ "github.com/refit-ml/refit/format/pytorch"
	_ "github.com/refit-ml/refit/format/safetensors"
	_ "github.com/refit-ml/refit/format/tfcheckpoint"
	_ "github.com/refit-ml/refit/format/tfgraph"
	_ "github.com/refit-ml/refit/format/tfjs"
	_ "github.com/refit-ml/refit/format/tflite"
)
