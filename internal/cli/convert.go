package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/arch"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/tensor"
)

func init() { commands = append(commands, newConvertCmd) }

type convertOptions struct {
	to, dtype, key, shardSize string
	weights                   string
	keepQuantized             bool
	topology                  string
	modelPy                   string
	externalData              bool
	extract, force, noVerify  bool
	asJSON, verbose           bool
}

type convertResult struct {
	Input    string               `json:"input"`
	Output   string               `json:"output"`
	From     string               `json:"from"`
	To       string               `json:"to"`
	Tensors  int                  `json:"tensors"`
	Bytes    int64                `json:"bytes_written"`
	Files    []string             `json:"files"`
	Verified bool                 `json:"verified"`
	Exact    int                  `json:"exact"`
	MaxAbs   float64              `json:"max_abs_error"`
	MinCos   float64              `json:"min_cosine"`
	Diffs    []compare.TensorDiff `json:"verification,omitempty"`
}

func newConvertCmd(e *env) *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a model between formats, optionally casting floats; verifies the output",
		Long: `Convert reads IN (any supported format, recognized by content) and writes OUT in the
format named by --to or by OUT's extension. The output is written to a temporary file,
re-opened and compared tensor by tensor with the input (bit-exact where nothing was
cast, max error where it was), and only then renamed into place.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error { return runConvert(e, a[0], a[1], &o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "output format (default: from OUT's extension)")
	f.StringVar(&o.dtype, "dtype", "", "cast floating-point tensors to this type: f32, f16, bf16, f64, f8_e4m3, f8_e5m2 (or fp16, half, float16, bfloat16, fp32, float, double ...)")
	f.StringVar(&o.key, "key", "", "select a sub-tree of a nested checkpoint (dotted)")
	f.BoolVar(&o.extract, "extract", false, "read full-model pickles and TorchScript archives as inert data")
	f.StringVar(&o.shardSize, "shard-size", "", "split safetensors output into shards of at most this size (e.g. 5GB)")
	f.StringVar(&o.weights, "weights", "", "put these tensors (any format) into an ONNX graph by name, checking dtype and shape")
	f.StringVar(&o.topology, "topology", "", "TF.js output: the Keras topology (a model.json, .h5 or .keras) the weights belong to; default: the input's own")
	f.StringVar(&o.modelPy, "model-py", "", "Keras/TF.js to PyTorch: also write this model.py (an nn.Module building the network) whose state_dict OUT holds")
	f.BoolVar(&o.externalData, "external-data", false, "ONNX output: store large tensors in OUT.data beside the model (automatic over 2 GiB)")
	f.BoolVar(&o.keepQuantized, "keep-quantized", false, "GGUF to a Hugging Face folder: keep block-quantized tensors as raw rows instead of dequantizing")
	f.BoolVar(&o.force, "force", false, "overwrite an existing output")
	f.BoolVar(&o.noVerify, "no-verify", false, "skip re-reading and comparing the output")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print every tensor's verification row")
	return cmd
}

func runConvert(e *env, in, out string, o *convertOptions) error {
	if sameFile(in, out) {
		return usageError{fmt.Errorf("output %s is the input", out)}
	}
	var (
		enc *refit.Format
		err error
	)
	switch {
	case o.to != "":
		enc, err = refit.Lookup(o.to)
	case o.shardSize != "" && filepath.Ext(out) == "":
		enc, err = refit.Lookup("safetensors") // OUT is a folder of shards
	default:
		enc, err = refit.ForPath(out)
	}
	if err != nil {
		return outputFormatError(out, o.to)
	}
	if enc.Name == "tfjs" { // a folder: model.json plus weight shards
		src, err := openSource(e, in, enc, o)
		if err != nil {
			return err
		}
		defer src.Close()
		return convertToTFJS(e, src, out, o.topology, o.force)
	}
	if enc.Encode == nil {
		return usageError{wrapMsg(refit.ErrUnsupported, "Refit reads %s but cannot write it; it writes %s", enc.Name, writableFormats())}
	}
	src, err := openSource(e, in, enc, o)
	if err != nil {
		return err
	}
	defer src.Close()
	if isLLMGGUF(src) && enc.Name == "safetensors" && filepath.Ext(out) == "" {
		return reverseGGUF(e, src, out, o)
	}
	if _, isONNX := src.Source.(*onnx.Source); enc.Name == "onnx" && !isONNX && o.weights == "" {
		mp, ok, err := graphToONNX(e.ctx, in, src)
		if err != nil {
			return err
		}
		if ok {
			return writeConvertedGraph(e, mp, &convertResult{Input: in, Output: out, From: src.Format, To: enc.Name}, out, o)
		}
	}
	m := src
	if o.weights != "" {
		w, err := refit.OpenWith(o.weights, &refit.DecodeOptions{MaxMemory: int64(e.maxMemory)})
		if err != nil {
			return err
		}
		defer w.Close()
		if _, ok := src.Source.(*onnx.Source); !ok {
			return usageError{fmt.Errorf("--weights needs an ONNX model as input, not %s", src.Format)}
		}
		if m, err = onnx.WithWeights(src, w); err != nil {
			return err
		}
	}
	if o.modelPy != "" {
		if enc.Name != "pytorch" {
			return usageError{fmt.Errorf("--model-py needs PyTorch output")}
		}
		if m, err = writeModelPy(e, in, src, o); err != nil {
			return err
		}
	} else if m, err = toPyTorchLayout(m, enc.Name); err != nil {
		return err
	}
	base := m // before casting: what cast errors are measured against
	if o.dtype != "" && src.Format != hfFormat {
		d, err := parseCastType("--dtype", o.dtype)
		if err != nil {
			return err
		}
		if m, err = refit.CastFloats(m, d); err != nil {
			return usageError{err}
		}
	}
	res := &convertResult{Input: in, Output: out, From: src.Format, To: enc.Name, Tensors: len(m.Tensors), MinCos: 1}
	if o.shardSize != "" {
		size, err := parseSize(o.shardSize)
		if err != nil {
			return usageError{err}
		}
		if err := writeSharded(e, enc, base, m, out, size, o, res); err != nil {
			return err
		}
		return reportConvert(e, res, o)
	}

	if enc.Name == "onnx" {
		return writeONNX(e, base, m, out, o, res)
	}
	pf, err := refit.CreatePendingContext(e.ctx, out, o.force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	var total int64
	for _, t := range m.Tensors {
		total += t.Size()
	}
	bar := newProgress(e, "write", total)
	bw := bufio.NewWriterSize(bar.writer(pf), 1<<20)
	err = encoderFor(enc, out)(bw, m)
	if err == nil {
		err = bw.Flush()
	}
	bar.done()
	if err != nil {
		return err
	}
	if st, err := pf.Stat(); err == nil {
		res.Bytes = st.Size()
	}
	if !o.noVerify {
		if err := verifyOutput(e.ctx, enc, base, m, pf.Name(), res); err != nil {
			return err
		}
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	res.Files = []string{out}
	return reportConvert(e, res, o)
}

// hfFormat names models converted from Hugging Face LLM folders.
const hfFormat = "hf"

// openSource opens IN, with a sparse layout expanded. A Hugging Face LLM folder
// written as GGUF goes through the architecture converter (names, metadata,
// tokenizer), which applies --dtype itself.
func openSource(e *env, in string, enc *refit.Format, o *convertOptions) (*refit.Model, error) {
	if st, err := os.Stat(in); err == nil && st.IsDir() && enc.Name == "gguf" {
		fsys := refit.DirFS(in)
		if arch.IsHFFolder(fsys) {
			opts := &arch.ConvertOptions{}
			if o.dtype != "" {
				d, err := parseTypeFlag("--dtype", o.dtype)
				if err != nil {
					return nil, err
				}
				opts.DType = d
			}
			m, err := arch.ConvertHF(e.ctx, fsys, opts)
			if err != nil {
				return nil, err
			}
			m.Format = hfFormat
			return m, nil
		}
	}
	return openCheckpoint(in, &refit.DecodeOptions{Key: o.key, Extract: o.extract, MaxMemory: int64(e.maxMemory)})
}

// verifyOutput re-opens the written file with the target decoder and compares every tensor.
func verifyOutput(ctx context.Context, enc *refit.Format, base, want *refit.Model, path string, res *convertResult) error {
	got, err := refit.OpenAs(enc, path, nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading %s output: %w", enc.Name, err)
	}
	defer got.Close()
	if isNPY(path) && len(got.Tensors) == 1 && len(want.Tensors) == 1 {
		// A .npy holds one unnamed array; the reader names it after the (temporary) file.
		got.Tensors[0] = &tensor.Tensor{Name: want.Tensors[0].Name, DType: got.Tensors[0].DType,
			Shape: got.Tensors[0].Shape, Data: got.Tensors[0].Data}
	}
	return verifyModels(ctx, base, want, got, res)
}

// verifyModels checks that got holds exactly the tensors of want (the model that was
// encoded) and measures how far cast tensors moved from base (the model before casting).
func verifyModels(ctx context.Context, base, want, got *refit.Model, res *convertResult) error {
	rep, err := compare.ModelsContext(ctx, want, got, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(rep.Missing) > 0 || len(rep.Extra) > 0 {
		return fmt.Errorf("verify: output tensors differ from input: missing %v, extra %v", rep.Missing, rep.Extra)
	}
	baseByName, gotByName := compare.ByName(base), compare.ByName(got)
	for i, d := range rep.Tensors {
		if d.ShapeMismatch() || d.Note != "" {
			return fmt.Errorf("verify: tensor %s: %s", d.Name, d.Note)
		}
		if !d.Exact {
			return fmt.Errorf("verify: tensor %s differs from what was written (max error %g)", d.Name, d.MaxAbs)
		}
		if orig := baseByName[d.Name]; orig != nil && orig.DType != d.DTypeB {
			// A cast tensor: report its error against the original values.
			cd, err := compare.TensorsContext(ctx, orig, gotByName[d.Name])
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			rep.Tensors[i], d = cd, cd
		}
		if d.Exact {
			res.Exact++
		}
		res.MaxAbs = math.Max(res.MaxAbs, d.MaxAbs)
		res.MinCos = math.Min(res.MinCos, d.Cosine)
	}
	res.Diffs = rep.Tensors
	res.Verified = true
	return nil
}

func reportConvert(e *env, res *convertResult, o *convertOptions) error {
	if o.asJSON {
		if !o.verbose {
			res.Diffs = nil
		}
		return writeJSON(e.stdout, res)
	}
	w := e.stdout
	fmt.Fprintf(w, "%s (%s) -> %s (%s): %d tensors, %s written\n", res.Input, res.From, res.Output, res.To, res.Tensors, humanBytes(res.Bytes))
	if len(res.Files) > 1 {
		fmt.Fprintf(w, "files: %s\n", strings.Join(res.Files, ", "))
	}
	if !res.Verified {
		fmt.Fprintln(w, "verification skipped")
		return nil
	}
	fmt.Fprintf(w, "verified: output re-read and matches what was written; %d/%d tensors bit-exact to the input, max abs error %.3g, min cosine %.6f\n", res.Exact, res.Tensors, res.MaxAbs, res.MinCos)
	if o.verbose {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENSOR\tDTYPE\tSHAPE\tEXACT\tMAX ABS\tCOSINE")
		for _, d := range res.Diffs {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%.3g\t%.6f\n", d.Name, d.Types, d.ShapeA, d.Exact, d.MaxAbs, d.Cosine)
		}
		tw.Flush()
	}
	return nil
}

// encoderFor returns the registered encoder, except where the output name picks a
// variant the registry's one-writer interface cannot (a single-array .npy).
func encoderFor(enc *refit.Format, out string) func(io.Writer, *refit.Model) error {
	if enc.Name == "numpy" && isNPY(out) {
		return func(w io.Writer, m *refit.Model) error {
			if len(m.Tensors) != 1 {
				return fmt.Errorf("a .npy file holds one array and the model has %d tensors; write .npz instead", len(m.Tensors))
			}
			return numpy.EncodeNPY(w, m.Tensors[0])
		}
	}
	return enc.Encode
}

func isNPY(name string) bool { return strings.EqualFold(filepath.Ext(name), ".npy") }

func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}
