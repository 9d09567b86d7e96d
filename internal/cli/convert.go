package cli

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/tensor"
)

func init() { commands = append(commands, newConvertCmd) }

type convertOptions struct {
	to, dtype, key, shardSize string
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
	f.StringVar(&o.dtype, "dtype", "", "cast floating-point tensors to this type (f32, f16, bf16, f64, f8_e4m3, f8_e5m2)")
	f.StringVar(&o.key, "key", "", "select a sub-tree of a nested checkpoint (dotted)")
	f.BoolVar(&o.extract, "extract", false, "read full-model pickles and TorchScript archives as inert data")
	f.StringVar(&o.shardSize, "shard-size", "", "split safetensors output into shards of at most this size (e.g. 5GB)")
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
	if o.to != "" {
		enc, err = refit.Lookup(o.to)
	} else {
		enc, err = refit.ForPath(out)
	}
	if err != nil {
		return usageError{err}
	}
	if enc.Encode == nil {
		return fmt.Errorf("%w: writing %s", refit.ErrUnsupported, enc.Name)
	}
	src, err := refit.OpenWith(in, &refit.DecodeOptions{Key: o.key, Extract: o.extract})
	if err != nil {
		return err
	}
	defer src.Close()
	m := src
	if o.dtype != "" {
		d, err := tensor.ParseDType(o.dtype)
		if err != nil {
			return usageError{err}
		}
		if m, err = refit.CastFloats(src, d); err != nil {
			return usageError{err}
		}
	}
	res := &convertResult{Input: in, Output: out, From: src.Format, To: enc.Name, Tensors: len(m.Tensors), MinCos: 1}
	if o.shardSize != "" {
		size, err := parseSize(o.shardSize)
		if err != nil {
			return usageError{err}
		}
		if err := writeSharded(e, enc, m, out, size, o, res); err != nil {
			return err
		}
		return reportConvert(e, res, o)
	}

	pf, err := refit.CreatePending(out, o.force)
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
	err = enc.Encode(bw, m)
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
		if err := verifyOutput(e, enc, m, pf.Name(), res); err != nil {
			return err
		}
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	res.Files = []string{out}
	return reportConvert(e, res, o)
}

// verifyOutput re-opens the written file with the target decoder and compares every tensor.
func verifyOutput(e *env, enc *refit.Format, want *refit.Model, path string, res *convertResult) error {
	got, err := refit.OpenAs(enc, path, nil)
	if err != nil {
		return fmt.Errorf("verify: re-reading %s output: %w", enc.Name, err)
	}
	defer got.Close()
	return verifyModels(want, got, res)
}

func verifyModels(want, got *refit.Model, res *convertResult) error {
	rep, err := compare.Models(want, got, nil)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(rep.Missing) > 0 || len(rep.Extra) > 0 {
		return fmt.Errorf("verify: output tensors differ from input: missing %v, extra %v", rep.Missing, rep.Extra)
	}
	for _, d := range rep.Tensors {
		if d.ShapeMismatch() || d.Note != "" {
			return fmt.Errorf("verify: tensor %s: %s", d.Name, d.Note)
		}
		if d.DTypeA == d.DTypeB && !d.Exact {
			return fmt.Errorf("verify: tensor %s was not cast but its values changed (max error %g)", d.Name, d.MaxAbs)
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
		fmt.Fprintf(w, "files: %d shards + index\n", len(res.Files)-1)
	}
	if !res.Verified {
		fmt.Fprintln(w, "verification skipped")
		return nil
	}
	fmt.Fprintf(w, "verified: %d/%d tensors bit-exact, max abs error %.3g, min cosine %.6f\n", res.Exact, res.Tensors, res.MaxAbs, res.MinCos)
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

func sameFile(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

var errNoShards = errors.New("sharded output is supported for safetensors only")
