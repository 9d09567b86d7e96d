package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/quant/plan"
	"github.com/refit-ml/refit/tensor"
)

// ggufQuantOptions are refit quantize's flags for GGUF models and Hugging Face LLM
// folders (llama-quantize's file types). AsJSON and Force come from the command's
// shared --json and --force flags; the caller sets them.
type ggufQuantOptions struct {
	FileType      string
	Imatrix       string
	TensorTypes   []string
	Keep          []string
	DryRun        bool
	AllowFallback bool
	Pure          bool
	LeaveOutput   bool
	Requantize    bool
	OutputType    string
	EmbeddingType string
	NoVerify      bool
	Shard         string // --shard i/N: write part i of N (quantize_shard.go)

	AsJSON, Force bool
	rep           *pendingReport // --report, from the command's flag
}

// flags registers the GGUF-only flags (none collide with the ONNX ones).
func (o *ggufQuantOptions) flags(f *pflag.FlagSet) {
	f.StringVar(&o.FileType, "type", "", "GGUF/HF: llama.cpp file type: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M, Q5_K_S/M, Q6_K, IQ1_S/M, IQ2_XXS/XS/S/M, IQ3_XXS/XS/S/M, IQ4_NL, IQ4_XS, TQ1_0, TQ2_0, F16, BF16, F32 (IQ1, IQ2 and IQ3_XXS need --imatrix)")
	f.StringVar(&o.Imatrix, "imatrix", "", "GGUF/HF: llama.cpp importance matrix (.dat or .gguf)")
	f.StringArrayVar(&o.TensorTypes, "tensor-type", nil, "GGUF/HF: REGEX=TYPE per-tensor override, first match wins (repeatable)")
	f.StringArrayVar(&o.Keep, "keep", nil, "GGUF/HF: leave tensors matching this regexp as they are (repeatable)")
	f.BoolVar(&o.DryRun, "dry-run", false, "GGUF/HF: print the plan and stop")
	f.BoolVar(&o.AllowFallback, "allow-fallback", false, "GGUF/HF: accept a fallback type where rows are not whole blocks")
	f.BoolVar(&o.Pure, "pure", false, "GGUF/HF: every quantizable tensor gets the default type (no mix rules)")
	f.BoolVar(&o.LeaveOutput, "leave-output-tensor", false, "GGUF/HF: do not quantize output.weight")
	f.BoolVar(&o.Requantize, "allow-requantize", false, "GGUF/HF: allow re-quantizing already quantized tensors")
	f.StringVar(&o.OutputType, "output-tensor-type", "", "GGUF/HF: type for output.weight")
	f.StringVar(&o.EmbeddingType, "token-embedding-type", "", "GGUF/HF: type for token_embd.weight")
	f.BoolVar(&o.NoVerify, "no-verify", false, "GGUF/HF: skip re-reading and measuring the output")
	f.StringVar(&o.Shard, "shard", "", "GGUF/HF: quantize only part INDEX/COUNT of the tensors into the part file OUT; join the parts with refit gguf-concat")
}

func (o *ggufQuantOptions) planOptions() (ggml.FileType, *plan.Options, error) {
	if o.FileType == "" {
		return 0, nil, usageError{errors.New("--type is required for GGUF and Hugging Face models (e.g. --type Q4_K_M)")}
	}
	ft, err := ggml.ParseFileType(o.FileType)
	if err != nil {
		return 0, nil, usageError{err}
	}
	po := &plan.Options{AllowFallback: o.AllowFallback, Requantize: o.Requantize}
	po.Pure, po.KeepOutput, po.Imatrix = o.Pure, o.LeaveOutput, o.Imatrix != ""
	for _, s := range o.TensorTypes {
		ov, err := plan.ParseOverride(s)
		if err != nil {
			return 0, nil, usageError{err}
		}
		po.Overrides = append(po.Overrides, ov)
	}
	for _, s := range o.Keep {
		re, err := regexp.Compile(s)
		if err != nil {
			return 0, nil, usageError{fmt.Errorf("--keep %q: %w", s, err)}
		}
		po.Keep = append(po.Keep, re)
	}
	for _, x := range []struct {
		flag, v string
		dst     *tensor.DType
	}{{"--output-tensor-type", o.OutputType, &po.OutputType}, {"--token-embedding-type", o.EmbeddingType, &po.TokenEmbeddingType}} {
		if x.v == "" {
			continue
		}
		d, err := tensor.ParseDType(x.v)
		if err != nil {
			return 0, nil, usageError{fmt.Errorf("%s: %w", x.flag, err)}
		}
		*x.dst = d
	}
	return ft, po, nil
}

// quantTensorError is one tensor's verification row.
type quantTensorError struct {
	Name   string    `json:"name"`
	Type   string    `json:"type"`
	MaxAbs jsonFloat `json:"max_abs_error"`
	Cosine jsonFloat `json:"cosine"`
}

type ggufQuantResult struct {
	Plan     *plan.Plan         `json:"plan"`
	Output   string             `json:"output,omitempty"`
	Bytes    int64              `json:"bytes_written,omitempty"`
	Verified bool               `json:"verified"`
	MaxAbs   jsonFloat          `json:"max_abs_error"`
	Cosine   jsonFloat          `json:"cosine"`     // over all weights as one vector
	MinCos   jsonFloat          `json:"min_cosine"` // worst tensor
	Tensors  []quantTensorError `json:"tensors,omitempty"`
}

// runQuantizeGGUF quantizes a GGUF file or a Hugging Face LLM folder in to out with
// llama-quantize's per-tensor rules: plan, print, quantize (streaming), verify.
func runQuantizeGGUF(e *env, in, out string, o *ggufQuantOptions) error {
	ft, po, err := o.planOptions()
	if err != nil {
		return err
	}
	po.Threads = e.threads
	if !o.DryRun && sameFile(in, out) {
		return usageError{fmt.Errorf("output %s is the input", out)}
	}
	var imatrix map[string][]float32
	if o.Imatrix != "" {
		if imatrix, err = readImatrix(o.Imatrix); err != nil {
			return err
		}
	}
	src, err := openGGUFSource(e, in)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := plan.New(src, ft, po)
	if err != nil {
		return err
	}
	res := &ggufQuantResult{Plan: p}
	if !o.AsJSON {
		printPlan(e, p)
	}
	// A GGUF file whose every tensor keeps its type would be copied, not quantized.
	// (A Hugging Face folder becomes a GGUF file either way.)
	unchanged := unchangedPlan(p)
	if st, err := refit.StatPath(in); err == nil && st.IsDir() {
		unchanged = nil
	}
	if o.DryRun {
		if err := o.writeReport(in, res); err != nil {
			return err
		}
		if o.AsJSON {
			return writeJSON(e.stdout, res)
		}
		if unchanged != nil {
			fmt.Fprintf(e.stdout, "note: %v\n", unchanged)
		} else if err := p.Check(); err != nil {
			fmt.Fprintf(e.stdout, "note: quantizing would fail: %v\n", err)
		}
		return nil
	}
	if unchanged != nil {
		return fmt.Errorf("%s: %w; nothing written", in, unchanged)
	}
	var (
		q      *refit.Model
		checks *plan.Checks
	)
	if o.NoVerify {
		q, err = p.Apply(src, imatrix)
	} else {
		// Each slab of blocks is measured against its source as it is produced.
		q, checks, err = p.ApplyChecked(src, imatrix)
	}
	if err != nil {
		return err
	}
	pf, err := refit.CreatePendingContext(e.ctx, out, o.Force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	bar := newProgress(e, "quantize", p.FileBytes)
	bw := bufio.NewWriterSize(bar.writer(pf), 1<<20)
	err = gguf.Encode(bw, q, nil)
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
	if res.Bytes != p.FileBytes {
		return fmt.Errorf("wrote %d bytes, the plan said %d", res.Bytes, p.FileBytes)
	}
	if !o.NoVerify {
		vbar := newProgress(e, "verify", p.TensorBytes)
		err := verifyQuantized(e.ctx, src, p, checks, pf.Name(), res, vbar)
		vbar.done()
		if err != nil {
			return err
		}
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	res.Output = out
	if err := o.writeReport(in, res); err != nil {
		return err
	}
	if o.AsJSON {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "wrote %s: %s, %.4f bits per weight\n", out, humanBytes(res.Bytes), p.BitsPerWeight)
	if res.Verified {
		fmt.Fprintf(e.stdout, "verified: %d tensors measured as written, file re-read (CRC-32C); max abs error %.4g, cosine %.6f overall, %.6f worst tensor\n",
			len(res.Tensors), res.MaxAbs, res.Cosine, res.MinCos)
	}
	return nil
}

func readImatrix(name string) (map[string][]float32, error) {
	f, err := refit.OpenRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return plan.ParseImatrix(f, st.Size())
}

// openGGUFSource opens a GGUF file, or converts a Hugging Face LLM folder at F32 (so
// the quantizers see the checkpoint's own values).
func openGGUFSource(e *env, in string) (*refit.Model, error) {
	if st, err := refit.StatPath(in); err == nil && st.IsDir() {
		fsys := refit.DirFS(in)
		if !hf.IsHFFolder(fsys) {
			return nil, usageError{fmt.Errorf("%s is a folder but not a Hugging Face model (config.json and weights)", in)}
		}
		return hf.ConvertHF(e.ctx, fsys, &hf.ConvertOptions{DType: tensor.F32})
	}
	return openGGUFFile(in, &refit.DecodeOptions{MaxMemory: int64(e.maxMemory)})
}

// openGGUFFile decodes a GGUF file. Tensors are read through MappedFile.ReadAt,
// which uses pread, so page-cache pages do not count against the process (peak RSS
// stays near one slab).
func openGGUFFile(in string, opts *refit.DecodeOptions) (*refit.Model, error) {
	f, err := refit.OpenFile(in)
	if err != nil {
		return nil, err
	}
	if !refit.HasPrefix(f, f.Size(), "GGUF") {
		f.Close()
		return nil, usageError{fmt.Errorf("%s is not a GGUF file; llama.cpp file types need a GGUF file or a Hugging Face folder", in)}
	}
	m, err := gguf.Decode(f, f.Size(), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.AddCloser(f)
	return m, nil
}

func printPlan(e *env, p *plan.Plan) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tSHAPE\tFROM\tTO\tBYTES\tWHY")
	for _, t := range p.Tensors {
		to := t.ToName
		if t.Fallback {
			to += "!"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%d\t%s\n", t.Name, t.Shape, t.FromName, to, t.Bytes, t.Reason)
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "plan %s: %d tensors, %d weights, %s -> %s (file %d bytes), %.4f bits per weight (tensor data %.4f)\n",
		p.FileType, len(p.Tensors), p.Params, humanBytes(p.SourceBytes), humanBytes(p.TensorBytes), p.FileBytes, p.BitsPerWeight, p.TensorBPW)
	if p.Fallbacks > 0 {
		fmt.Fprintf(e.stdout, "%d tensors (marked !) need a fallback type: rows are not whole blocks of the wanted type\n", p.Fallbacks)
	}
}

// verifyQuantized completes the check that ran while the output was written: the
// blocks were measured against their source in memory; here the output is re-opened
// and its structure and bytes (by CRC-32C) compared with what was produced.
func verifyQuantized(ctx context.Context, src *refit.Model, p *plan.Plan, checks *plan.Checks, path string, res *ggufQuantResult, bar *progress) error {
	got, err := openGGUFFile(path, nil) // our own output
	if err != nil {
		return fmt.Errorf("verify: re-reading output: %w", err)
	}
	defer got.Close()
	watchReads(got.Tensors, bar)
	tc, err := checks.Verify(ctx, src, got)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	typeName := map[string]string{}
	for _, t := range p.Tensors {
		typeName[t.Name] = t.ToName
	}
	var dot, na, nb float64
	maxAbs, minCos := 0.0, 1.0
	for _, t := range tc {
		res.Tensors = append(res.Tensors, quantTensorError{Name: t.Name, Type: typeName[t.Name], MaxAbs: jsonFloat(t.MaxAbs), Cosine: jsonFloat(t.Cosine)})
		maxAbs, minCos = math.Max(maxAbs, t.MaxAbs), math.Min(minCos, t.Cosine)
		dot, na, nb = dot+t.Dot, na+t.SourceSq, nb+t.OutputSq
	}
	res.MaxAbs, res.MinCos, res.Cosine = jsonFloat(maxAbs), jsonFloat(minCos), jsonFloat(plan.Cosine(dot, na, nb))
	res.Verified = true
	if strings.EqualFold(p.FileType, "F32") && res.MaxAbs != 0 {
		return fmt.Errorf("verify: an F32 file changed values (max error %g)", res.MaxAbs)
	}
	return nil
}

// errNothingQuantized reports a quantization that would leave every tensor as it is.
var errNothingQuantized = errors.New("nothing to quantize")

// unchangedPlan returns nil when p converts at least one tensor, else an error that
// says why each tensor keeps its type, grouped by reason.
func unchangedPlan(p *plan.Plan) error {
	var skips []skipped
	for _, t := range p.Tensors {
		if t.Changed() {
			return nil
		}
		skips = append(skips, skipped{Name: t.Name, Reason: fmt.Sprintf("%s (%s)", t.Reason, t.FromName)})
	}
	if len(skips) == 0 {
		return fmt.Errorf("%w: the file has no tensors", errNothingQuantized)
	}
	return fmt.Errorf("%w: every tensor keeps its type for --type %s: %s", errNothingQuantized, p.FileType, skipCounts(skips))
}
