package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/tensor"
)

// castTypes are the --dtype values convert accepts, each with the aliases users type
// (PyTorch, NumPy and ML-paper spellings); tensor.ParseDType reads them all.
var castTypes = []struct {
	name    string
	aliases []string
}{
	{"f32", []string{"fp32", "float32", "float"}},
	{"f16", []string{"fp16", "float16", "half"}},
	{"bf16", []string{"bfloat16"}},
	{"f64", []string{"fp64", "float64", "double"}},
	{"f8_e4m3", []string{"fp8_e4m3", "float8_e4m3fn"}},
	{"f8_e5m2", []string{"fp8_e5m2", "float8_e5m2"}},
}

// castTypeList is castTypes for messages: "f32 (fp32, float32, float), f16 (...)".
func castTypeList() string {
	parts := make([]string, len(castTypes))
	for i, c := range castTypes {
		parts[i] = c.name + " (" + strings.Join(c.aliases, ", ") + ")"
	}
	return strings.Join(parts, ", ")
}

// parseCastType reads the float type a flag casts to. An unknown or non-float name is a
// usage error that lists the valid names and suggests the nearest one.
func parseCastType(flag, s string) (tensor.DType, error) {
	d, err := tensor.ParseDType(s)
	if err == nil && d.Float() && !d.Quantized() {
		return d, nil
	}
	what := "is not a type Refit knows"
	if err == nil {
		what = fmt.Sprintf("is %v, not a float type (quantization is `refit quantize`)", d)
	}
	var names []string
	for _, c := range castTypes {
		names = append(append(names, c.name), c.aliases...)
	}
	return tensor.Invalid, usageError{fmt.Errorf("%s %q %s%s; choose one of %s", flag, s, what, didYouMean(s, names), castTypeList())}
}

// parseTypeFlag reads any tensor type (float or GGML block type) a flag names, with the
// same aliases, suggestions and list as parseCastType on error.
func parseTypeFlag(flag, s string) (tensor.DType, error) {
	d, err := tensor.ParseDType(s)
	if err == nil {
		return d, nil
	}
	var names, ggml []string
	for _, c := range castTypes {
		names = append(append(names, c.name), c.aliases...)
	}
	for _, t := range tensor.DTypes() {
		if t.Quantized() {
			n := strings.ToLower(t.String())
			names, ggml = append(names, n), append(ggml, n)
		}
	}
	return tensor.Invalid, usageError{fmt.Errorf("%s %q is not a type Refit knows%s; choose a float type, %s, or a GGML type, %s",
		flag, s, didYouMean(s, names), castTypeList(), strings.Join(ggml, ", "))}
}

// didYouMean returns ` (did you mean "x"?)` for the candidate nearest to s, if it is
// near enough to be a typo (edit distance at most 2, and less than s's length).
func didYouMean(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, strings.ToLower(c)); d < bestD && d < len(s) {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// writableFormats lists the formats convert can write, for messages.
func writableFormats() string {
	s := refit.DescribeFormats(func(f *refit.Format) bool { return f.Writable() && !f.Folder })
	for _, f := range refit.Formats() {
		if f.Writable() && f.Folder {
			s += fmt.Sprintf(", %s (a folder, with --to %s)", f.Name, f.Name)
		}
	}
	return s
}

// outputFormatError explains why no writer was found for out: an unknown --to name,
// or an extension that names no format.
func outputFormatError(out, to string) error {
	var names []string
	for _, f := range refit.Formats() {
		names = append(names, f.Name)
	}
	if to != "" {
		return usageError{wrapMsg(refit.ErrUnknownFormat, "--to %q is not a format name%s; Refit writes %s", to, didYouMean(to, names), writableFormats())}
	}
	return usageError{wrapMsg(refit.ErrUnknownFormat, "output %s: unknown format %q; give OUT one of these extensions or choose the format with --to: %s",
		out, filepath.Ext(out), writableFormats())}
}

// messageError is a message of its own that still matches a sentinel with errors.Is.
type messageError struct {
	msg string
	err error
}

func (e *messageError) Error() string { return e.msg }
func (e *messageError) Unwrap() error { return e.err }

// wrapMsg returns an error printing as the formatted message and wrapping sentinel.
func wrapMsg(sentinel error, format string, args ...any) error {
	return &messageError{msg: fmt.Sprintf(format, args...), err: sentinel}
}

// notONNX explains, in terms of the file given, why a command that runs or rewrites a
// graph cannot take path: it is a model of another format. It returns nil for ONNX
// files and for files no format recognizes (the ONNX loader then says what is wrong).
func notONNX(path string) error {
	f, err := refit.OpenFile(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if onnx.Sniff(f, f.Size()) {
		return nil
	}
	name := path
	if refit.IsRemote(path) {
		name = inputBase(path) // its extension, without a query string
	}
	format, err := refit.Sniff(f, f.Size(), name)
	if err != nil {
		return nil
	}
	return wrapMsg(refit.ErrUnsupported, "%s is a %s file, not an ONNX model: this command needs a graph to run or rewrite "+
		"(refit convert IN model.onnx makes one from Keras, TF.js and TFLite models; export PyTorch networks with torch.onnx.export)", path, format.Name)
}

// outputFormatErrorNoTo is outputFormatError for commands without --to.
func outputFormatErrorNoTo(out string) error {
	return usageError{wrapMsg(refit.ErrUnknownFormat, "output %s: unknown format %q; give OUT one of these extensions: %s",
		out, filepath.Ext(out), refit.DescribeFormats(func(f *refit.Format) bool { return f.Encode != nil }))}
}
