package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/tfjs"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/tensor"
)

func init() { commands = append(commands, newConvertCmd) }

type convertOptions struct {
	to, dtype, key, shardSize string
	weights                   string
	keepQuantized             bool
	halfIO                    bool
	keepOps, keepNodes        []string
	topology                  string
	modelPy                   string
	externalData              bool
	extract, force, noVerify  bool
	asJSON, verbose           bool
	report                    string         // --report FILE
	rep                       *pendingReport // its pending file
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
	// Source compares a Hugging Face folder's tensors (read as float32) with the
	// output: the error of the types the output stores (with --json or --report).
	Source []compare.TensorDiff `json:"source_error,omitempty"`
}

func newConvertCmd(e *env) *cobra.Command {
	var o convertOptions
	cmd := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "Convert a model between formats, optionally casting floats; verifies the output",
		Long: `Convert reads IN (any supported format, recognized by content) and writes OUT in the
format named by --to or by OUT's extension. The output is written to a temporary file,
re-opened with the target format's reader and checked tensor by tensor - names, types,
shapes, and the CRC-32 of every tensor's re-read bytes against the CRC-32 of the bytes
that were to be written (the source's bytes - read again, or as a .pt/.npz input's
archive states their CRC-32, or as the copy into the output read them - or a cast's bytes
as they were produced; a cast's error against the source is measured on those same
bytes) - and only then renamed into place.

A decoder LLM (a Hugging Face folder or a GGUF file) written as .onnx becomes a graph
with a key/value cache in the Transformers.js / Optimum layout; --dtype f32, f16, bf16,
int4 or int8 choose its weights (default: float32, GGUF Q4_0/Q4_1/Q8_0 kept as
MatMulNBits), and it is checked by running it in Refit's runtime.`,

		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runWithReport(e, o.report, o.force, &o.rep, cardReport("convert", "refit convert", a[0], a[1]),
				func() error { return runConvert(e, a[0], a[1], &o) }, a[0], a[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.to, "to", "", "output format (default: from OUT's extension)")
	f.StringVar(&o.dtype, "dtype", "", "cast floating-point tensors to this type: f32, f16, bf16, f64, f8_e4m3, f8_e5m2 (or fp16, half, float16, bfloat16, fp32, float, double ...)")
	f.StringVar(&o.key, "key", "", "select a sub-tree of a nested checkpoint (dotted)")
	f.BoolVar(&o.extract, "extract", false, "read full-model pickles and TorchScript archives as inert data")
	f.StringVar(&o.shardSize, "shard-size", "", "split the output into shards of at most this size where the format can (safetensors with an index, TF.js; e.g. 5GB)")
	f.StringVar(&o.weights, "weights", "", "put these tensors (any format) into an ONNX graph by name, checking dtype and shape")
	f.StringVar(&o.topology, "topology", "", "TF.js output: the Keras topology (a model.json, .h5 or .keras) the weights belong to; default: the input's own")
	f.StringVar(&o.modelPy, "model-py", "", "Keras/TF.js to PyTorch: also write this model.py (an nn.Module building the network) whose state_dict OUT holds")
	f.BoolVar(&o.externalData, "external-data", false, "ONNX output: store large tensors in OUT.data beside the model (automatic over 2 GiB)")
	f.BoolVar(&o.keepQuantized, "keep-quantized", false, "GGUF to a Hugging Face folder: keep block-quantized tensors as raw rows instead of dequantizing")
	f.BoolVar(&o.halfIO, "half-io", false, "ONNX to f16/bf16: make the graph's float32 inputs and outputs half precision too (default: kept float32, with Casts inside)")
	f.StringSliceVar(&o.keepOps, "keep-ops", nil, "ONNX to f16/bf16: also keep these operator types in float32 (besides the default list: Resize, TopK, Range, random ops ...)")
	f.StringSliceVar(&o.keepNodes, "keep-nodes", nil, "ONNX to f16/bf16: keep these nodes (by name) in float32")
	f.BoolVar(&o.force, "force", false, "overwrite an existing output")
	f.BoolVar(&o.noVerify, "no-verify", false, "skip re-reading and comparing the output")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "print every tensor's verification row")
	reportFlag(f, &o.report)
	return cmd
}

func runConvert(e *env, in, out string, o *convertOptions) error {
	if sameFile(in, out) {
		return usageError{fmt.Errorf("output %s is the input", out)}
	}
	enc, err := convertFormat(out, o)
	if err != nil {
		return err
	}
	if !enc.Writable() {
		return usageError{wrapMsg(refit.ErrUnsupported, "Refit reads %s but cannot write it; it writes %s", enc.Name, writableFormats())}
	}
	eo := &refit.EncodeOptions{ExternalData: o.externalData}
	if o.shardSize != "" {
		if eo.ShardSize, err = parseSize(o.shardSize); err != nil {
			return usageError{err}
		}
	}
	// OUT names a folder for folder formats (TF.js) and for shards without an extension.
	folder := enc.Folder || (o.shardSize != "" && filepath.Ext(out) == "")
	if !folder {
		eo.Name = filepath.Base(out)
	}
	if done, err := llmToONNX(e, in, out, enc, o); done {
		return err
	}
	src, converted, err := openSource(e, in, enc, o)
	if err != nil {
		return err
	}
	defer src.Close()
	if hf.Reversible(src) && hf.ReversesTo(enc) && filepath.Ext(out) == "" {
		return reverseGGUF(e, in, src, out, o)
	}
	if d, ok, err := onnxHalfTarget(src, enc, o); err != nil {
		return err
	} else if ok {
		return convertONNXHalf(e, in, out, d, o)
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
	if o.topology != "" {
		if eo.Topology, err = readTopology(o.topology); err != nil {
			return err
		}
	}
	if o.modelPy != "" {
		if m, err = writeModelPy(e, in, src, o); err != nil {
			return err
		}
	} else if m, err = enc.PrepareFor(m, eo); errors.Is(err, onnx.ErrNoGraph) {
		// Not an ONNX model: convert its graph (Keras, TF.js, TFLite) when it has one.
		mp, ok, gerr := graphToONNX(e.ctx, in, src)
		if gerr != nil {
			return gerr
		}
		if ok {
			return writeConvertedGraph(e, mp, &convertResult{Input: in, Output: out, From: src.Format, To: enc.Name}, out, o)
		}
		return err
	} else if errors.Is(err, tfjs.ErrNoTopology) {
		return usageError{fmt.Errorf("a %s model has no Keras topology: pass --topology (a TF.js model.json, a Keras config .json, or the original .h5/.keras)", src.Format)}
	} else if err != nil {
		return err
	}
	base := m               // before casting: what cast errors are measured against
	var rec *compare.Record // what the cast tensors' writes measured
	if o.dtype != "" && !converted {
		d, err := parseCastType("--dtype", o.dtype)
		if err != nil {
			return err
		}
		if err := castsSomething(in, m, o.dtype); err != nil {
			return err
		}
		rec = compare.NewRecord()
		if m, err = refit.CastFloatsWatched(m, d, rec.Watcher); err != nil {
			return usageError{err}
		}
	}
	res := &convertResult{Input: in, Output: out, From: src.Format, To: enc.Name, Tensors: len(m.Tensors), MinCos: 1}
	if err := writeOutput(e, enc, base, m, rec, out, folder, eo, o, res); err != nil {
		return err
	}
	if converted && len(m.Tensors) > 0 && (o.rep != nil || o.asJSON) {
		if err := hfSourceError(e, in, out, res); err != nil {
			return err
		}
	}
	return reportConvert(e, res, o)
}

// onnxHalfTarget reports whether an ONNX model converted to ONNX with --dtype f16 or
// bf16 needs the graph rewrite of package half, and the target type.
func onnxHalfTarget(src *refit.Model, enc *refit.Format, o *convertOptions) (tensor.DType, bool, error) {
	if o.dtype == "" || o.weights != "" {
		return tensor.Invalid, false, nil
	}
	if _, ok := src.Source.(*onnx.Source); !ok {
		return tensor.Invalid, false, nil
	}
	if of, err := refit.Lookup("onnx"); err != nil || of != enc {
		return tensor.Invalid, false, nil
	}
	d, err := parseCastType("--dtype", o.dtype)
	if err != nil {
		return tensor.Invalid, false, err
	}
	return d, d == tensor.F16 || d == tensor.BF16, nil
}

// convertFormat is the output format: --to, safetensors for a folder of shards, or
// the one OUT's extension names.
func convertFormat(out string, o *convertOptions) (*refit.Format, error) {
	var (
		enc *refit.Format
		err error
	)
	switch {
	case o.to != "":
		enc, err = refit.Lookup(o.to)
	case o.shardSize != "" && filepath.Ext(out) == "":
		enc, err = refit.Lookup(shardFolderFormat)
	default:
		enc, err = refit.ForPath(out)
	}
	if err != nil {
		return nil, outputFormatError(out, o.to)
	}
	return enc, nil
}

// shardFolderFormat is written when OUT is a folder for --shard-size and --to is not given.
const shardFolderFormat = "safetensors"

// writeOutput writes m as format enc to out (a folder when folder is set) through a
// temporary folder, re-reads and compares it unless --no-verify, and only then moves
// the files into place, the file naming the others (index, model.json) last.
func writeOutput(e *env, enc *refit.Format, base, m *refit.Model, rec *compare.Record, out string, folder bool, eo *refit.EncodeOptions, o *convertOptions, res *convertResult) error {
	po, err := refit.CreatePendingOutput(e.ctx, out, folder, o.force)
	if err != nil {
		return err
	}
	defer po.Abort()
	var total int64
	for _, t := range m.Tensors {
		total += t.Size()
	}
	if !o.noVerify {
		po.ReadBack() // the copies are re-read from the file while the writing goes on
	}
	bar := newProgress(e, "write", total)
	create := func(name string) (io.WriteCloser, error) {
		w, err := po.Create(name)
		if err != nil || bar.bar == nil {
			return w, err // unwrapped, w keeps its ReadFrom (copy_file_range)
		}
		return progressWriter{bar.writer(w), w}, nil
	}
	err = enc.EncodeTo(create, m, eo)
	bar.done()
	if errors.Is(err, refit.ErrNoShards) {
		return usageError{fmt.Errorf("--shard-size does not apply to %s output", enc.Name)}
	}
	if err != nil {
		return err
	}
	res.Bytes = po.Size()
	if !o.noVerify {
		phaseStarted("verify")
		names := po.Names()
		vbar := newProgress(e, "verify", total)
		err := verifyOutput(e.ctx, enc, base, m, rec, po, names[len(names)-1], res, vbar)
		vbar.done()
		if err != nil {
			return err
		}
	}
	files, err := po.Commit()
	if err != nil {
		return err
	}
	res.Files = files
	return nil
}

// onPhase, when set (by tests), is called as a phase starts: a hook that observes a
// short phase without polling for it.
var onPhase func(phase string)

func phaseStarted(phase string) {
	if onPhase != nil {
		onPhase(phase)
	}
}

// progressWriter counts what an output file's writer receives in the progress bar.
type progressWriter struct {
	io.Writer
	c io.Closer
}

func (p progressWriter) Close() error { return p.c.Close() }

// openSource opens IN, with a sparse layout expanded. A Hugging Face LLM folder
// written as GGUF goes through the architecture converter (names, metadata,
// tokenizer), which applies --dtype itself: converted reports that.
func openSource(e *env, in string, enc *refit.Format, o *convertOptions) (m *refit.Model, converted bool, err error) {
	if st, err := refit.StatPath(in); err == nil && st.IsDir() && hf.ConvertsFolderFor(enc) {
		fsys := refit.DirFS(in)
		if hf.IsHFFolder(fsys) {
			opts := &hf.ConvertOptions{}
			if o.dtype != "" {
				d, err := parseTypeFlag("--dtype", o.dtype)
				if err != nil {
					return nil, false, err
				}
				opts.DType = d
			}
			m, err := hf.ConvertHF(e.ctx, fsys, opts)
			if err != nil {
				return nil, false, err
			}
			m.Format = hfFormat
			return m, true, nil
		}
		if hf.IsTokenizerFolder(fsys) {
			m, err := hf.ConvertTokenizer(fsys, nil)
			if err != nil {
				return nil, false, err
			}
			m.Format = hfFormat
			return m, true, nil
		}
	}
	m, err = openCheckpoint(in, &refit.DecodeOptions{Key: o.key, Extract: o.extract, MaxMemory: int64(e.maxMemory)})
	return m, false, err
}

// hfFormat labels models converted from Hugging Face LLM folders.
const hfFormat = "hf"

// verifyOutput re-opens the written file with the target decoder and checks every
// tensor: name, type and shape as written, and the CRC-32 of its re-read bytes against
// the CRC-32 of the bytes written (recorded as cast tensors were produced, else known
// to the source file - tensor.KnownCRC - else computed from the source bytes) - one
// read of the output (compare.WrittenRecorded).
func verifyOutput(ctx context.Context, enc *refit.Format, base, want *refit.Model, rec *compare.Record, po *refit.PendingOutput, name string, res *convertResult, bar *progress) error {
	path := po.Path(name)
	got, err := refit.OpenAs(enc, path, nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading %s output: %w", enc.Name, err)
	}
	defer got.Close()
	// Tensors a copy wrote were read back from the file while the writing went on
	// (PendingOutput.ReadBack): their CRC-32 as read from the file stands for this read.
	for _, g := range got.Tensors {
		if _, off, ok := tensor.OuterRange(g.Data); ok {
			if crc, ok := po.ReadBackCRC(name, off, g.Size()); ok {
				g.NoteCRC(crc)
			}
		}
	}
	if isNPY(path) && len(got.Tensors) == 1 && len(want.Tensors) == 1 {
		// A .npy holds one unnamed array; the reader names it after the (temporary) file.
		got.Tensors[0] = &tensor.Tensor{Name: want.Tensors[0].Name, DType: got.Tensors[0].DType,
			Shape: got.Tensors[0].Shape, Data: got.Tensors[0].Data}
	}
	watchReads(got.Tensors, bar)
	r, err := compare.WrittenRecorded(ctx, base, want, got, rec)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	res.Exact, res.MaxAbs, res.MinCos, res.Diffs = r.Exact, r.MaxAbs, r.MinCos, r.Tensors
	res.Verified = true
	return nil
}

func reportConvert(e *env, res *convertResult, o *convertOptions) error {
	if o.rep != nil {
		r, err := convertReport(res)
		if err != nil {
			return err
		}
		if err := o.rep.finish(r, res); err != nil {
			return err
		}
	}
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

func isNPY(name string) bool { return strings.EqualFold(filepath.Ext(name), ".npy") }

func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

// errNothingToCast reports a --dtype that no tensor of the model can take.
var errNothingToCast = errors.New("--dtype changes nothing")

// castsSomething refuses --dtype on a model without floating-point tensors: the
// cast was asked for and would do nothing. (Floats already of that type are fine:
// that convert is a copy, as asked.)
func castsSomething(in string, m *refit.Model, dtype string) error {
	count := map[string]int{}
	var order []string
	for _, t := range m.Tensors {
		if t.DType.Float() {
			return nil
		}
		name := t.DType.String()
		if count[name] == 0 {
			order = append(order, name)
		}
		count[name]++
	}
	parts := make([]string, len(order))
	for i, n := range order {
		parts[i] = fmt.Sprintf("%d %s", count[n], n)
	}
	held := "no tensors"
	if len(parts) > 0 {
		held = "only " + strings.Join(parts, ", ") + " tensors"
	}
	return fmt.Errorf("%w: %s holds %s, and --dtype %s casts floating-point tensors only; nothing written (leave out --dtype to convert the format)", errNothingToCast, in, held, dtype)
}
