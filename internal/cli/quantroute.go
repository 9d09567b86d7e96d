package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/hf"
)

// quantizeRoute is the family of quantization an input gets.
type quantizeRoute int

const (
	routeONNX quantizeRoute = iota // int8 / weight-only rewrites of a graph (--method)
	routeGGUF                      // llama.cpp file types (--type)
)

// onnxOnlyFlags and ggufOnlyFlags are the flags that mean something to one route only.
var (
	onnxOnlyFlags = []string{"method", "format", "calib", "calibration", "bits", "group-size", "algo", "per-channel", "op-types", "exclude"}
	ggufOnlyFlags = []string{"type", "imatrix", "tensor-type", "keep", "dry-run", "allow-fallback", "pure", "leave-output-tensor", "allow-requantize", "output-tensor-type", "token-embedding-type", "eval-ctx", "eval-chunks", "shard"}
)

// routeQuantize decides from the input itself (not only its name) which quantizer
// applies, and explains in terms of that input when it has none, or when flags of the
// other family were given.
func routeQuantize(in string, flags *pflag.FlagSet) (quantizeRoute, error) {
	kind, route, err := quantizeInput(in)
	if err != nil {
		return 0, err
	}
	wrong, hint := ggufOnlyFlags, "--method dynamic|static|weight-only"
	if route == routeGGUF {
		wrong, hint = onnxOnlyFlags, "--type (e.g. --type Q4_K_M)"
	}
	for _, name := range wrong {
		if flags.Changed(name) {
			return 0, usageError{fmt.Errorf("--%s does not apply to %s, %s: it takes %s", name, in, kind, hint)}
		}
	}
	if route == routeGGUF && !flags.Changed("type") {
		return 0, usageError{fmt.Errorf("%s is %s: choose the llama.cpp file type with --type (e.g. --type Q4_K_M; Q8_0, Q6_K, Q5_K_M, Q4_0, F16 ...)", in, kind)}
	}
	return route, nil
}

// quantizeInput describes in ("an ONNX model", "a GGUF file" ...) and its route, or
// says why quantize cannot take it.
func quantizeInput(in string) (kind string, route quantizeRoute, err error) {
	st, err := refit.StatPath(in)
	if err != nil {
		return "", 0, err
	}
	if st.IsDir() {
		if hf.IsHFFolder(refit.DirFS(in)) {
			return "a Hugging Face model folder", routeGGUF, nil
		}
		return "", 0, usageError{fmt.Errorf("%s is a folder but not a Hugging Face model folder (config.json and weights); quantize takes ONNX models, GGUF files and Hugging Face folders", in)}
	}
	if runnable(in) {
		return "an ONNX model", routeONNX, nil
	}
	f, err := refit.OpenFile(in)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	// The quantizers' own readers decide: GGUF files and ONNX graphs have one.
	switch {
	case gguf.Sniff(f, f.Size()):
		return "a GGUF file", routeGGUF, nil
	case onnx.Sniff(f, f.Size()):
		return "an ONNX model", routeONNX, nil
	}
	format, err := refit.Sniff(f, f.Size(), in)
	if err != nil {
		return "", 0, err
	}
	return "", 0, wrapMsg(refit.ErrUnsupported, "%s is a %s file, which holds weights without a graph to quantize: "+
		"quantize takes ONNX models (--method dynamic|static|weight-only), GGUF files and Hugging Face LLM folders (--type Q4_K_M ...); "+
		"export the network to ONNX (refit convert can, for Keras, TF.js and TFLite models) or, for an LLM, quantize its Hugging Face folder", in, format.Name)
}
