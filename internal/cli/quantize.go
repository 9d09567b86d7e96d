package cli

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/quant/onnxq"
	"github.com/refit-ml/refit/runtime"
)

func init() { commands = append(commands, newQuantizeCmd) }

// quantizeFlags are the flags of refit quantize.
type quantizeFlags struct {
	method, format, calibration, weightType, actType, algo string
	opTypes, exclude                                       []string
	perChannel, reduceRange, symmetric, actOrder, wsym     bool
	percentile, damp, targetCosine                         float64
	bits, groupSize, batch, excludeWorst                   int
	calib, eval, ortArith                                  string
	calibRows                                              int64
	perLayer, asJSON, force                                bool
	noPreprocess                                           bool
	run                                                    runInputs
	gguf                                                   ggufQuantOptions
	llmEval                                                quantEvalFlags
	report                                                 string         // --report FILE
	rep                                                    *pendingReport // its pending file
}

func newQuantizeCmd(e *env) *cobra.Command {
	var f quantizeFlags
	cmd := &cobra.Command{
		Use:   "quantize IN OUT",
		Short: "Quantize a model (GGUF/HF: llama.cpp types, byte-identical; ONNX: int8 dynamic/static, 4/8-bit weight-only) and measure the cost",
		Long: `For GGUF files and Hugging Face folders, --type Q4_K_M (or any llama.cpp file type)
chooses every tensor's type with llama-quantize's rules, prints the plan (type, reason,
bytes, bits per weight) before any work, and writes output byte-identical to
llama-quantize; --imatrix, --tensor-type REGEX=TYPE, --keep, --dry-run, --allow-fallback.
--type Q4_K_M,Q5_K_M writes one output per type (OUT with the type before the extension);
with --imatrix, an entry TYPE+imatrix uses the matrix and the others do not, so
--type Q4_K_M,Q4_K_M+imatrix compares the two.
--eval TEXT (GGUF input) then runs the input and each output over the text, as refit
eval does (--eval-ctx, --eval-chunks), and prints the cost of each type in a table:
perplexity and its ratio to the input's, KL divergence (mean, p95, p99, max), top-1
agreement.

For ONNX models, quantize rewrites Conv/MatMul/Gemm nodes to integer form:

  --method dynamic      int8 weights, activations quantized at run time
                        (DynamicQuantizeLinear + MatMulInteger/ConvInteger, or --format qdq)
  --method static       int8 weights and activations with ranges from --calib data
                        (QDQ pairs by default, or --format qoperator: QLinearConv/QLinearMatMul);
                        --calibration minmax|percentile|entropy|mse
  --method weight-only  --bits 4|8 --group-size N --algo rtn|gptq|awq: com.microsoft
                        MatMulNBits (or --format qdq: blocked DequantizeLinear, opset 21)

uint8 activations with int8 weights (the default) are exact where ONNX Runtime has VNNI
(AVX-512 VNNI, AVX-VNNI) or runs on ARM; on other x86 CPUs (AVX2) its kernels add two
products into a saturating int16 and can lose accuracy. quantize warns on such CPUs, and
elsewhere when a rerun of the evaluation with that arithmetic changes the results. Choices:
--reduce-range (7-bit weights, as ONNX Runtime's reduce_range: never saturates),
--activation-type int8 with --method static (S8S8: exact kernels everywhere), or
--weight-type uint8. --ort-arith avx2 measures the accuracy below with the saturating
arithmetic (default vnni: exact).

Afterwards it runs the float and the quantized model on held-out data (--eval, by default
the part of --calib after --calib-rows, else --data, else one random input, which the
report says) with Refit's runtime and prints max error,
cosine, top-1 agreement and accuracy (when the data has labels), sizes, and a per-layer
table from quantizing one layer at a time. --exclude-worst N keeps the N layers that
hurt most in float. --target-cosine C searches instead for the fewest such layers: in
order of their damage alone, each computes in float on int8 stored weights (the file
stays small; activations whose range 8 bits cannot hold, as a power spectrum, stay
exact), then in float, until the worst output's cosine reaches C; the table and --json
name each kept layer and why. Data is a .npz with arrays named after model inputs (and "label"),
or a folder of <input>.npy files.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runWithReport(e, f.report, f.force, &f.rep, cardReport("quantize", "refit quantize", a[0], a[1]),
				func() error { return quantizeDispatch(e, cmd, a, &f) }, a[0], a[1])
		},
	}
	fl := cmd.Flags()
	reportFlag(fl, &f.report)
	f.gguf.flags(fl)
	fl.StringVar(&f.method, "method", "dynamic", "dynamic, static or weight-only")
	fl.StringVar(&f.format, "format", "auto", "auto, qoperator or qdq")
	fl.StringSliceVar(&f.opTypes, "op-types", nil, "operators to quantize (default MatMul,Gemm; static adds Conv)")
	fl.StringArrayVar(&f.exclude, "exclude", nil, "node name or anchored regexp to keep in float (repeatable)")
	fl.BoolVar(&f.perChannel, "per-channel", false, "one weight scale per output channel")
	fl.StringVar(&f.weightType, "weight-type", "int8", "int8 (symmetric) or uint8 (asymmetric) weights")
	fl.BoolVar(&f.reduceRange, "reduce-range", false, "7-bit weights: no int16 saturation in ONNX Runtime on x86 CPUs without VNNI")
	fl.StringVar(&f.actType, "activation-type", "uint8", "static activations: uint8, or int8 (S8S8: exact kernels in ONNX Runtime on every x86 CPU)")
	fl.StringVar(&f.ortArith, "ort-arith", "vnni", "integer arithmetic of the accuracy check: vnni (exact, as ONNX Runtime with VNNI or on ARM) or avx2 (ONNX Runtime on x86 without VNNI: uint8 x int8 pairs saturate)")
	fl.BoolVar(&f.symmetric, "symmetric", false, "symmetric activation ranges")
	fl.StringVar(&f.calib, "calib", "", "calibration data: .npz or folder of .npy")
	fl.Int64Var(&f.calibRows, "calib-rows", 0, "rows of --calib used for calibration when --eval is not given (default half)")
	fl.StringVar(&f.eval, "eval", "", "held-out data for the accuracy check (default: the rest of --calib); GGUF: a text file, perplexity/KL of each output against the input")
	f.llmEval.flags(fl)
	fl.IntVar(&f.batch, "batch-size", 32, "rows per calibration batch")
	fl.StringVar(&f.calibration, "calibration", "minmax", "minmax, percentile, entropy or mse")
	fl.Float64Var(&f.percentile, "percentile", 99.99, "percentile for --calibration percentile")
	fl.IntVar(&f.bits, "bits", 4, "weight-only bits: 4 or 8")
	fl.IntVar(&f.groupSize, "group-size", 128, "weight-only block length along K")
	fl.StringVar(&f.algo, "algo", "rtn", "weight-only algorithm: rtn, gptq or awq")
	fl.BoolVar(&f.actOrder, "act-order", false, "GPTQ: columns by decreasing Hessian diagonal")
	fl.Float64Var(&f.damp, "damp", 0.01, "GPTQ damping (fraction of the mean Hessian diagonal)")
	fl.BoolVar(&f.wsym, "weight-symmetric", false, "weight-only: symmetric blocks without zero points")
	fl.BoolVar(&f.perLayer, "per-layer", true, "print the per-layer error table (quantize one layer at a time)")
	fl.IntVar(&f.excludeWorst, "exclude-worst", 0, "keep the N most damaging layers in float")
	fl.Float64Var(&f.targetCosine, "target-cosine", 0, "keep the layers that hurt most from full quantization (int8 weights with float activations, else float) until the held-out output cosine reaches this; fails when it cannot")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	fl.BoolVar(&f.force, "force", false, "overwrite an existing output")
	fl.BoolVar(&f.noPreprocess, "no-preprocess", false, "ONNX: quantize the graph as it is, without optimizing it first (Constant weights are still lifted)")
	f.run.flags(fl)
	return cmd
}

// quantizeDispatch quantizes GGUF files and Hugging Face folders llama.cpp-style, ONNX
// models with onnxq.
func quantizeDispatch(e *env, cmd *cobra.Command, a []string, f *quantizeFlags) error {
	route, err := routeQuantize(a[0], cmd.Flags())
	if err != nil {
		return err
	}
	if route == routeGGUF { // GGUF files and Hugging Face folders: llama.cpp-style quantization
		f.gguf.AsJSON, f.gguf.Force, f.gguf.rep = f.asJSON, f.force, f.rep
		if f.gguf.Shard != "" {
			return runQuantizeGGUFShard(e, a[0], a[1], &f.gguf, f.eval)
		}
		if f.eval != "" || strings.ContainsAny(f.gguf.FileType, ",+") { // --eval TEXT, several types
			return runQuantizeGGUFEval(e, a[0], a[1], &f.gguf, f.eval, f.llmEval)
		}
		return runQuantizeGGUF(e, a[0], a[1], &f.gguf)
	}
	return runQuantize(e, a[0], a[1], f)
}

func (f *quantizeFlags) options() (*onnxq.Options, error) {
	var o onnxq.Options
	var err error
	if o.Method, err = onnxq.ParseMethod(f.method); err != nil {
		return nil, usageError{err}
	}
	if o.Format, err = onnxq.ParseFormat(f.format); err != nil {
		return nil, usageError{err}
	}
	if o.Calibration, err = onnxq.ParseCalibration(f.calibration); err != nil {
		return nil, usageError{err}
	}
	if o.Algo, err = onnxq.ParseAlgo(f.algo); err != nil {
		return nil, usageError{err}
	}
	switch f.weightType {
	case "int8":
	case "uint8":
		o.UnsignedWeights = true
	default:
		return nil, usageError{fmt.Errorf("--weight-type %q: want int8 or uint8", f.weightType)}
	}
	switch f.actType {
	case "uint8":
	case "int8":
		o.SignedActivations = true
	default:
		return nil, usageError{fmt.Errorf("--activation-type %q: want uint8 or int8", f.actType)}
	}
	o.OpTypes, o.Exclude = f.opTypes, f.exclude
	o.PerChannel, o.ReduceRange, o.Symmetric = f.perChannel, f.reduceRange, f.symmetric
	o.Percentile, o.Bits, o.GroupSize, o.Damp = f.percentile, f.bits, f.groupSize, f.damp
	o.ActOrder, o.WeightOnlySymmetric = f.actOrder, f.wsym
	if o.SignedActivations && o.Method != onnxq.Static {
		return nil, usageError{fmt.Errorf("--activation-type int8 needs --method static (DynamicQuantizeLinear makes uint8 activations)")}
	}
	return &o, nil
}

// saturationWarning returns the one-line warning about ONNX Runtime's uint8 x int8
// kernels on x86 CPUs without VNNI, which add two products into a saturating int16
// (vpmaddubsw), or "" where it does not apply: weights or activations that cannot
// saturate, an evaluation that already used that arithmetic (--ort-arith avx2, said in
// the report), or, on a CPU where ONNX Runtime is exact, a model whose evaluation
// outputs that arithmetic leaves unchanged (avx2 is the evaluation rerun with it, nil
// when not run). On a CPU without VNNI the figures measured with exact arithmetic are
// not what ONNX Runtime gives here, so it always warns.
func saturationWarning(o *onnxq.Options, arith runtime.IntArith, exactHere bool, exact, avx2 *compare.OutputsReport) string {
	if !o.SaturatesWithoutVNNI() || arith == runtime.SaturatingPairsArith {
		return ""
	}
	fix := "--reduce-range (7-bit weights) avoids that"
	if o.Method == onnxq.Static {
		fix += ", as does --activation-type int8"
	}
	if !exactHere {
		return "warning: uint8 activations with int8 weights: this CPU has no VNNI, so ONNX Runtime here sums pairs of products in saturating int16 and its results can differ from the exact figures below; --ort-arith avx2 measures with that arithmetic, " + fix
	}
	if avx2 == nil || sameOutputs(exact, avx2) {
		return ""
	}
	return fmt.Sprintf("warning: uint8 activations with int8 weights: ONNX Runtime on x86 CPUs without VNNI (AVX2) sums pairs of products in saturating int16, which changes this model's results there (max abs error %.4g, cosine %.6f; exact, as on this CPU: %.4g, %.6f); %s",
		avx2.MaxAbs, avx2.MinCos, exact.MaxAbs, exact.MinCos, fix)
}

// sameOutputs reports whether two evaluations of the same data measured the same figures.
func sameOutputs(a, b *compare.OutputsReport) bool {
	if len(a.Outputs) != len(b.Outputs) || a.MaxAbs != b.MaxAbs || a.MinCos != b.MinCos {
		return false
	}
	for i := range a.Outputs {
		x, y := a.Outputs[i], b.Outputs[i]
		if x.MaxAbs != y.MaxAbs || x.Cosine != y.Cosine || x.MaxRel != y.MaxRel {
			return false
		}
	}
	return true
}

// quantizeResult is the --json output.
type quantizeResult struct {
	// ORTArith is the integer arithmetic of the evaluation: vnni (exact) or avx2.
	ORTArith string                   `json:"ort_arith"`
	Report   *onnxq.Report            `json:"report"`
	Eval     *modelDiff               `json:"evaluation"`
	PerLayer []onnxq.LayerSensitivity `json:"per_layer,omitempty"`
	// Fit is --target-cosine's search: the steps taken and why each kept layer is kept.
	Fit      *onnxq.Fit `json:"fit,omitempty"`
	Excluded []string   `json:"excluded_worst,omitempty"`
	// Skipped lists the candidate nodes left in float and why (report.nodes[].skip
	// and --exclude-worst together).
	Skipped []skipped `json:"skipped"`
	// Preprocess is what the graph optimization before quantizing changed (nil with --no-preprocess).
	Preprocess *optimize.Report `json:"preprocess,omitempty"`
}

// skipped is one candidate (node or tensor) a command left unchanged, and why; the
// element of the "skipped" array of prune's and quantize's --json.
type skipped struct {
	Name   string `json:"name"`
	OpType string `json:"op_type,omitempty"`
	Reason string `json:"reason"`
}

// quantizeSkips lists the nodes of rep that stayed float, then those --exclude-worst kept.
func quantizeSkips(rep *onnxq.Report, excluded []string) []skipped {
	out := []skipped{}
	for _, n := range rep.Nodes {
		if n.Action == "" {
			out = append(out, skipped{Name: n.Name, OpType: n.OpType, Reason: cmp.Or(n.Skip, "not quantized")})
		}
	}
	for _, x := range excluded {
		out = append(out, skipped{Name: x, Reason: "--exclude-worst"})
	}
	return out
}

// skipList names up to limit skipped candidates with their reasons.
func skipList(s []skipped, limit int) string {
	var parts []string
	for i, x := range s {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(s)-i))
			break
		}
		name := x.Name
		if x.OpType != "" {
			name += " (" + x.OpType + ")"
		}
		parts = append(parts, name+": "+x.Reason)
	}
	return strings.Join(parts, "; ")
}

// skipCounts groups skip reasons with their counts, most frequent first:
// "16 bias is not a float32 initializer, 1 excluded".
func skipCounts(s []skipped) string {
	count := map[string]int{}
	var order []string
	for _, x := range s {
		if count[x.Reason] == 0 {
			order = append(order, x.Reason)
		}
		count[x.Reason]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return count[b] - count[a] })
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = fmt.Sprintf("%d: %s", count[r], r)
	}
	return strings.Join(parts, ", ")
}

// layerBar counts layers a search went through, drawn from the first one on.
type layerBar struct{ bar *countProgress }

func (l *layerBar) step(e *env, label string, done, total int) {
	if l.bar == nil {
		l.bar = newCountProgress(e, label, total)
		if l.bar.bar != nil {
			l.bar.bar.SetCurrent(int64(done - 1))
		}
	}
	l.bar.step()
	if done >= total {
		l.finish()
	}
}

// finish completes the bar, if one is drawn (excluded layers are never searched).
func (l *layerBar) finish() {
	if l.bar != nil {
		l.bar.done()
		l.bar = nil
	}
}

func runQuantize(e *env, in, out string, f *quantizeFlags) error {
	if !runnable(in) {
		return usageError{fmt.Errorf("quantize %s: only ONNX input is supported yet: %w", in, refit.ErrUnsupported)}
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	arith, err := runtime.ParseIntArith(f.ortArith)
	if err != nil {
		return usageError{fmt.Errorf("--ort-arith %q: want vnni or avx2", f.ortArith)}
	}
	var activeBar *countProgress // a bar being drawn: lines go above it
	opts.Progress = func(msg string) { activeBar.println(e, msg) }
	// GPTQ or AWQ searches, else the nodes quantized, outside the sensitivity passes
	// (which draw their own bar): one bar at a time.
	var layers layerBar
	if showProgress(e) && opts.Method == onnxq.WeightOnly && (opts.Algo == onnxq.GPTQ || opts.Algo == onnxq.AWQ) {
		opts.LayerProgress = func(done, total int) {
			if activeBar == nil {
				layers.step(e, strings.ToUpper(opts.Algo.String())+" layers", done, total)
			}
		}
	} else if showProgress(e) {
		opts.NodeProgress = func(done, total int) {
			if activeBar == nil {
				layers.step(e, "quantize nodes", done, total)
			}
		}
	}
	opts.Threads = e.threads
	mp, fsys, err := loadONNX(e.ctx, in)
	if err != nil {
		return err
	}
	floatSess, err := runtime.Load(mp, fsys, &runtime.Options{Threads: e.threads})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	// Calibration and evaluation data.
	var calibVals map[string]*runtime.Value
	var calibWhole map[string]bool // inputs --calib holds once (a recurrent state)
	var evalSet *inputSet
	if f.calib != "" {
		set, err := loadDataset(f.calib, floatSess)
		if err != nil {
			return err
		}
		calibVals = set.values
		calibWhole = onnxq.Whole(set.values, declaredFirst(floatSess))
		if f.eval == "" {
			rows := rowsOf(set.values, calibWhole)
			n := f.calibRows
			if n == 0 {
				n = rows / 2
			}
			if n <= 0 || n >= rows {
				return usageError{fmt.Errorf("--calib %s has %d rows; cannot split %d for calibration and keep the rest for evaluation (give --eval)", f.calib, rows, n)}
			}
			head, tail, err := onnxq.SplitOf(set.values, calibWhole, n)
			if err != nil {
				return err
			}
			calibVals = head
			evalSet = &inputSet{values: tail, source: fmt.Sprintf("%s rows %d-%d (held out)", f.calib, n, rows)}
			if len(set.labels) == int(rows) {
				evalSet.labels = set.labels[n:]
			}
		}
	}
	if f.eval != "" {
		if evalSet, err = loadDataset(f.eval, floatSess); err != nil {
			return err
		}
	}
	if evalSet == nil {
		if evalSet, err = f.run.gather(floatSess); err != nil {
			return err
		}
	} else if len(f.run.shapes) > 0 {
		return usageError{fmt.Errorf("--shape shapes random inputs; the evaluation runs on %s", evalSet.source)}
	}
	var feed onnxq.Feed
	if calibVals != nil {
		if feed, err = onnxq.BatchesOf(calibVals, calibWhole, f.batch); err != nil {
			return err
		}
		feed = countedFeed(e, "calibration batches", int((rowsOf(calibVals, calibWhole)+int64(f.batch)-1)/int64(f.batch)), feed)
	}
	res := &quantizeResult{ORTArith: arith.String()}
	qin := mp
	if !f.noPreprocess {
		if qin, res.Preprocess, err = preprocessQuantize(e.ctx, mp); err != nil {
			return err
		}
	}
	q, err := onnxq.NewQuantizer(e.ctx, qin, opts, feed)
	if err != nil {
		if err == onnxq.ErrNeedCalibration {
			return usageError{fmt.Errorf("--method %s: give --calib DATA", f.method)}
		}
		return err
	}
	// A model with nothing to quantize fails here, before any output exists.
	if err := q.CheckTargets(); err != nil {
		return fmt.Errorf("%s: %w; nothing written", in, err)
	}
	evalWith := func(ctx context.Context, qm *onnxpb.ModelProto, arith runtime.IntArith, bars *runBars) (*compare.OutputsReport, error) {
		s, err := runtime.Load(qm, nil, &runtime.Options{IntArith: arith, Threads: e.threads})
		if err != nil {
			return nil, err
		}
		return runOutputs(ctx, floatSess, s, evalSet, bars)
	}
	evalModel := func(ctx context.Context, qm *onnxpb.ModelProto) (*compare.OutputsReport, error) {
		return evalWith(ctx, qm, arith, nil) // inside the sensitivity bar
	}
	sensitivity := func() ([]onnxq.LayerSensitivity, error) {
		if res.PerLayer != nil {
			return res.PerLayer, nil
		}
		bar := newCountProgress(e, "per-layer sensitivity", len(q.Targets()))
		activeBar = bar
		defer func() { bar.done(); activeBar = nil }()
		var err error
		res.PerLayer, err = q.Sensitivity(e.ctx, func(ctx context.Context, qm *onnxpb.ModelProto) (*compare.OutputsReport, error) {
			defer bar.step()
			return evalModel(ctx, qm)
		})
		return res.PerLayer, err
	}
	if f.targetCosine != 0 && (f.excludeWorst > 0 || !(f.targetCosine > 0 && f.targetCosine <= 1) || opts.Method == onnxq.WeightOnly) {
		return usageError{fmt.Errorf("--target-cosine %g: want a cosine in (0, 1], with --method dynamic or static and without --exclude-worst", f.targetCosine)}
	}
	if f.perLayer || f.excludeWorst > 0 {
		if _, err := sensitivity(); err != nil {
			return err
		}
	}
	if f.excludeWorst > 0 {
		res.Excluded = onnxq.Worst(res.PerLayer, f.excludeWorst)
	}
	mode := func(l string) onnxq.Mode {
		if slices.Contains(res.Excluded, l) {
			return onnxq.Float
		}
		return onnxq.Quantized
	}
	var why func(string) string
	if f.targetCosine > 0 {
		opts.Progress(fmt.Sprintf("searching for the layers to keep from full quantization (target cosine %g)", f.targetCosine))
		if res.Fit, err = q.Fit(e.ctx, evalModel, f.targetCosine, sensitivity, len(q.Targets())); err != nil {
			return err
		}
		if !res.Fit.Met {
			return fmt.Errorf("%s: --target-cosine %g cannot be reached: with %d layers kept from full quantization the cosine is %.4f; nothing written", in, f.targetCosine, len(res.Fit.Modes), res.Fit.Cosine)
		}
		if err := noteSpans(e, q, res.Fit, evalSet, floatSess, f.batch); err != nil {
			return err
		}
		mode, why = res.Fit.Mode, res.Fit.Reason
	}
	qm, rep, err := q.ApplyModes(e.ctx, mode, why)
	layers.finish()
	if err != nil {
		return err
	}
	res.Report = rep
	res.Skipped = quantizeSkips(rep, res.Excluded)
	if !slices.ContainsFunc(rep.Nodes, func(n onnxq.NodeReport) bool { return n.Action != "" }) {
		return fmt.Errorf("%s: %w: no node was quantized: %s; nothing written", in, onnxq.ErrNothingToQuantize, skipList(res.Skipped, 8))
	}
	pf, err := createONNX(e, out, f.force, qm)
	if err != nil {
		return err
	}
	defer pf.Abort()
	// Evaluate the model as written, re-read from disk.
	written, err := onnx.Load(refit.DirFS(filepath.Dir(pf.Name())), filepath.Base(pf.Name()))
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	eval, err := evalWith(e.ctx, written, arith, &runBars{e, "run float", "run quantized"})
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	res.Eval = newModelDiff(eval, evalSet)
	var avx2 *compare.OutputsReport
	if opts.SaturatesWithoutVNNI() && arith == runtime.ExactArith && ortInt8ExactHere {
		// ONNX Runtime is exact here; whether the model's users on AVX2 see other
		// results is measured, not guessed: one more run with that arithmetic.
		if avx2, err = evalWith(e.ctx, written, runtime.SaturatingPairsArith, &runBars{e, "run float", "run quantized (AVX2)"}); err != nil {
			return fmt.Errorf("evaluate with --ort-arith avx2: %w", err)
		}
	}
	if w := saturationWarning(opts, arith, ortInt8ExactHere, eval, avx2); w != "" {
		fmt.Fprintln(e.stderr, w)
	}
	res.Eval.A, res.Eval.B = in, out
	res.Eval.dataFlag = "--data FILE.npz (or --eval, or --calib, whose second half is held out)"
	if err := pf.Commit(); err != nil {
		return err
	}
	if err := f.writeReport(in, out, res); err != nil {
		return err
	}
	if f.asJSON {
		return writeJSON(e.stdout, res)
	}
	printQuantize(e, res)
	return nil
}

func printQuantize(e *env, r *quantizeResult) {
	w := e.stdout
	rep := r.Report
	fmt.Fprintf(w, "%s quantization (%s): %s -> %s (%.1f%%)\n", rep.Method, rep.Format,
		byteSize(rep.SizeBefore), byteSize(rep.SizeAfter), 100*float64(rep.SizeAfter)/math.Max(1, float64(rep.SizeBefore)))
	if p := r.Preprocess; p != nil && (p.NodesBefore != p.NodesAfter || p.InitializersBefore != p.InitializersAfter) {
		fmt.Fprintf(w, "preprocessed (graph optimized first; --no-preprocess skips): %d -> %d nodes\n", p.NodesBefore, p.NodesAfter)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tOP\tQUANTIZED AS\tWEIGHT REL ERR\tWEIGHT BYTES")
	for _, n := range rep.Nodes {
		if n.Skip != "" {
			fmt.Fprintf(tw, "%s\t%s\tfloat (%s)\t\t\n", n.Name, n.OpType, n.Skip)
			continue
		}
		action := n.Action
		if n.Alpha != 0 {
			action += fmt.Sprintf(" alpha=%.2f", n.Alpha)
		}
		if n.Note != "" {
			action += " (" + n.Note + ")"
		}
		if n.Fallback != "" {
			action += " (" + n.Fallback + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.4f\t%s -> %s\n", n.Name, n.OpType, action, n.Error, byteSize(n.Before), byteSize(n.After))
	}
	for _, x := range r.Excluded {
		fmt.Fprintf(tw, "%s\t\tfloat (--exclude-worst)\t\t\n", x)
	}
	tw.Flush()
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "quantized %d of %d candidate nodes; %d stayed float (%s)\n", len(rep.Nodes)+len(r.Excluded)-len(r.Skipped),
			len(rep.Nodes)+len(r.Excluded), len(r.Skipped), skipCounts(r.Skipped))
	}
	if ft := r.Fit; ft != nil {
		fmt.Fprintf(w, "--target-cosine %g: cosine %.4f on the evaluation data with %d layers kept from full quantization (reasons above)\n", ft.Target, ft.Cosine, len(ft.Reasons))
	}
	fmt.Fprintln(w)
	if r.ORTArith == runtime.SaturatingPairsArith.String() {
		fmt.Fprintln(w, "measured with ONNX Runtime's arithmetic on x86 CPUs without VNNI (--ort-arith avx2): uint8 x int8 products summed in saturating int16 pairs")
	}
	printModelDiff(e, r.Eval)
	if len(r.PerLayer) > 0 {
		on := ""
		if r.Eval.RandomInputs > 0 {
			on = ", on " + r.Eval.Inputs
		}
		fmt.Fprintf(w, "\nper layer (only that layer quantized%s):\n", on)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LAYER\tMAX ABS\tCOSINE\tTOP-1 AGREE\tACCURACY")
		for _, l := range r.PerLayer {
			fmt.Fprintf(tw, "%s\t%.3g\t%.6f\t%s\t%s\n", l.Name, l.MaxAbs, l.Cosine, pct(l.Top1), pct(l.Accuracy))
		}
		tw.Flush()
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func rowsOf(vals map[string]*runtime.Value, whole map[string]bool) int64 {
	rows, _ := onnxq.Rows(vals, whole)
	return max(rows, 0)
}

// declaredFirst maps each input of s whose first dimension the model fixes to it (see
// onnxq.Whole).
func declaredFirst(s *runtime.Session) map[string]int64 {
	m := map[string]int64{}
	for _, in := range s.Inputs() {
		if len(in.Dims) > 0 && in.Dims[0].Param == "" && in.Dims[0].Size > 0 {
			m[in.Name] = in.Dims[0].Size
		}
	}
	return m
}

// loadDataset reads model inputs (and labels) from a .npz or a folder of .npy files
// named after the inputs.
func loadDataset(path string, s *runtime.Session) (*inputSet, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		r := runInputs{data: path}
		set, err := r.gather(s)
		if err != nil {
			return nil, err
		}
		if set.source != path {
			return nil, usageError{fmt.Errorf("%s holds none of the model's inputs", path)}
		}
		return set, nil
	}
	set := &inputSet{values: map[string]*runtime.Value{}, source: path}
	for _, in := range s.Inputs() {
		t, err := readArray(filepath.Join(path, in.Name+".npy"))
		if err != nil {
			return nil, fmt.Errorf("%s: input %q: %w", path, in.Name, err)
		}
		if set.values[in.Name], err = runtime.FromTensor(t); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"label.npy", "labels.npy"} {
		t, err := readArray(filepath.Join(path, name))
		if err != nil {
			continue
		}
		fl, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		for _, x := range fl {
			set.labels = append(set.labels, int64(x))
		}
		break
	}
	if strings.TrimSpace(set.source) == "" {
		set.source = path
	}
	return set, nil
}

// noteSpans measures, on the evaluation data, the input range of every layer fit kept
// from full quantization, so that its reason says when 8-bit codes cannot hold it.
func noteSpans(e *env, q *onnxq.Quantizer, fit *onnxq.Fit, set *inputSet, floatSess *runtime.Session, batch int) error {
	var kept []string
	for l := range fit.Reasons {
		kept = append(kept, l)
	}
	if len(kept) == 0 {
		return nil
	}
	feed, err := onnxq.BatchesOf(set.values, onnxq.Whole(set.values, declaredFirst(floatSess)), batch)
	if err != nil {
		return nil // inputs that do not split into rows: the reasons stay as they are
	}
	spans, err := q.InputSpans(e.ctx, feed, kept)
	if err != nil {
		return err
	}
	fit.NoteSpans(spans)
	return nil
}
