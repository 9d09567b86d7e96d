package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/prune"
	"github.com/refit-ml/refit/runtime"
)

func init() { commands = append(commands, newPruneCmd) }

type pruneOptions struct {
	method, score    string
	sparsity         float64
	n, m             int
	include, exclude string
	calib            string
	sparseFormat     string
	force, asJSON    bool
	run              runInputs
	report           string         // --report FILE
	rep              *pendingReport // its pending file
}

func newPruneCmd(e *env) *cobra.Command {
	var o pruneOptions
	cmd := &cobra.Command{
		Use:   "prune IN OUT",
		Short: "Prune weights (magnitude, global, N:M) or remove channels from an ONNX graph (structured)",
		Long: `Prune zeroes the smallest weights of a checkpoint (safetensors, PyTorch, GGUF float
tensors) or an ONNX model: per tensor (magnitude), with one threshold across tensors
(global), or N of every M along the input dimension (nm). Structured pruning removes
whole Conv filters and hidden units from an ONNX graph and repairs every dependent
tensor, so the model gets smaller and faster. OUT ending in .zst is zstd-compressed
(the format comes from the name without .zst; "zstd -d" restores it).
ONNX outputs are compared with the input on --data (or random) inputs.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runWithReport(e, o.report, o.force, &o.rep, cardReport("prune", "refit prune", a[0], a[1]),
				func() error { return runPrune(e, a[0], a[1], &o) }, a[0], a[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.method, "method", "magnitude", "magnitude, global, nm or structured")
	f.Float64Var(&o.sparsity, "sparsity", 0.5, "fraction of weights (or channels) to remove, in [0, 1)")
	f.IntVar(&o.n, "n", 2, "nm: weights kept in each group")
	f.IntVar(&o.m, "m", 4, "nm: group size along the input dimension")
	f.StringVar(&o.score, "score", "l1", "l1 or l2 norm to rank weights and channels")
	f.StringVar(&o.include, "include", "", "prune only tensors (or layers) whose name matches this regexp")
	f.StringVar(&o.exclude, "exclude", "", "skip tensors (or layers) whose name matches this regexp")
	f.StringVar(&o.calib, "calib", "", "structured: rank channels by mean |activation| on this .npz instead of weight norms")
	f.StringVar(&o.sparseFormat, "sparse-format", "dense", "safetensors output: dense, or bitmask (a bitmask of nonzeros plus packed values per tensor; see prune.EncodeSparse)")
	f.BoolVar(&o.force, "force", false, "overwrite an existing output")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	o.run.flags(f)
	reportFlag(f, &o.report)
	return cmd
}

type pruneResult struct {
	In      string              `json:"in"`
	Out     string              `json:"out"`
	Report  *prune.Report       `json:"report"`
	SizeIn  int64               `json:"size_in"`
	SizeOut int64               `json:"size_out"`
	ZstdOut int64               `json:"zstd_size_out"` // the output as a zstd stream
	Diff    *modelDiff          `json:"diff,omitempty"`
	Sparse  *prune.SparseReport `json:"sparse,omitempty"`
	Target  float64             `json:"target_sparsity"` // asked of each layer: --sparsity, or 1 - N/M
}

func runPrune(e *env, in, out string, o *pruneOptions) error {
	if sameFile(in, out) {
		return usageError{fmt.Errorf("output %s is the input", out)}
	}
	method, err := prune.ParseMethod(o.method)
	if err != nil {
		return usageError{err}
	}
	score, err := prune.ParseScore(o.score)
	if err != nil {
		return usageError{err}
	}
	var inc, exc *regexp.Regexp
	if o.include != "" {
		if inc, err = regexp.Compile(o.include); err != nil {
			return usageError{fmt.Errorf("--include: %w", err)}
		}
	}
	if o.exclude != "" {
		if exc, err = regexp.Compile(o.exclude); err != nil {
			return usageError{fmt.Errorf("--exclude: %w", err)}
		}
	}
	if o.sparsity < 0 || o.sparsity >= 1 {
		return usageError{fmt.Errorf("--sparsity %g is outside [0, 1)", o.sparsity)}
	}
	zst := strings.EqualFold(filepath.Ext(out), ".zst")
	plainOut := out
	if zst {
		plainOut = strings.TrimSuffix(out, filepath.Ext(out))
	}
	switch o.sparseFormat {
	case "dense", "":
	case "bitmask":
		if method == prune.Structure || !strings.EqualFold(filepath.Ext(plainOut), ".safetensors") {
			return usageError{fmt.Errorf("--sparse-format bitmask needs a .safetensors output of magnitude, global or nm pruning")}
		}
	default:
		return usageError{fmt.Errorf("--sparse-format %q: want dense or bitmask", o.sparseFormat)}
	}
	pf, err := refit.CreatePendingContext(e.ctx, out, o.force)
	if err != nil {
		return err
	}
	defer pf.Abort()
	var w io.Writer = pf
	var zw io.WriteCloser
	if zst {
		if zw, err = prune.Compressor(pf); err != nil {
			return err
		}
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	res := &pruneResult{In: in, Out: out, Target: pruneTarget(o)}
	if method == prune.Structure {
		if !runnable(in) {
			return usageError{fmt.Errorf("structured pruning needs an ONNX model, not %s", in)}
		}
		mp, fsys, err := loadONNX(e.ctx, in)
		if err != nil {
			return err
		}
		so := &prune.StructuredOptions{Sparsity: o.sparsity, Score: score, Include: inc, Exclude: exc}
		s, err := runtime.Load(mp, fsys, nil)
		if err != nil {
			return err
		}
		// Structured pruning runs the model on random inputs to learn value shapes.
		var shapeSet *inputSet
		if so.InputShapes, shapeSet, err = o.run.randomShapes(s); err != nil {
			return err
		}
		if o.calib != "" {
			ri := runInputs{data: o.calib}
			set, err := ri.gather(s)
			if err != nil {
				return err
			}
			so.Calib = set.values
		}
		pm, rep, err := prune.Structured(e.ctx, mp, fsys, so)
		if err != nil {
			return explainShapes(err, shapeSet)
		}
		if err := rep.Unchanged(); err != nil {
			return fmt.Errorf("%s: %w; nothing written", in, err)
		}
		res.Report = rep
		if err := onnx.WriteModel(bw, pm, nil); err != nil {
			return err
		}
	} else {
		enc, err := refit.ForPath(plainOut)
		if err != nil {
			return outputFormatErrorNoTo(plainOut)
		}
		if enc.Encode == nil {
			return fmt.Errorf("%w: writing %s", refit.ErrUnsupported, enc.Name)
		}
		src, err := refit.OpenWith(in, &refit.DecodeOptions{MaxMemory: int64(e.maxMemory)})
		if err != nil {
			return err
		}
		defer src.Close()
		var bar *countProgress
		pm, rep, err := prune.WeightsContext(e.ctx, src, &prune.Options{Method: method, Sparsity: o.sparsity, N: o.n, M: o.m,
			Score: score, Include: inc, Exclude: exc, Progress: func(_, total int) {
				if bar == nil {
					bar = newCountProgress(e, "prune tensors", total)
				}
				bar.step()
			}})
		if bar != nil {
			bar.done()
		}
		if err != nil {
			return err
		}
		if err := rep.Unchanged(); err != nil {
			return fmt.Errorf("%s: %w; nothing written", in, err)
		}
		res.Report = rep
		if o.sparseFormat == "bitmask" {
			if pm, res.Sparse, err = prune.EncodeSparse(pm); err != nil {
				return err
			}
		}
		if err := enc.Encode(bw, pm); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	// Measured and verified before the rename, so an interrupted run leaves no output.
	res.SizeIn = fileSize(in)
	res.SizeOut = fileSize(pf.Name())
	if f, err := os.Open(pf.Name()); err == nil {
		if zst {
			res.ZstdOut = res.SizeOut
		} else {
			bar := newProgress(e, "zstd size", res.SizeOut)
			if n, err := prune.CompressedSize(ctxReader{e.ctx, bufio.NewReader(bar.reader(f))}); err == nil {
				res.ZstdOut = n
			}
			bar.done()
		}
		f.Close()
	}
	if runnable(in) && runnable(out) {
		sa, _, err := loadSession(in)
		if err != nil {
			return err
		}
		sb, _, err := loadSession(pf.Name())
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		set, err := o.run.gather(sa)
		if err != nil {
			return err
		}
		if res.Diff, err = diffSessions(e, sa, sb, set); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		res.Diff.A, res.Diff.B = in, out
	}
	if err := pf.Commit(); err != nil {
		return err
	}
	if err := o.writeReport(res); err != nil {
		return err
	}
	if o.asJSON {
		return writeJSON(e.stdout, res)
	}
	printPrune(e, res)
	return nil
}

func fileSize(p string) int64 {
	st, err := refit.StatPath(p)
	if err != nil {
		return -1
	}
	return st.Size()
}

func printPrune(e *env, r *pruneResult) {
	w := e.stdout
	rep := r.Report
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tSHAPE\tPARAMS\tSPARSITY")
	for _, l := range rep.Layers {
		shape := l.Shape.String()
		if l.NewShape != nil {
			shape += " -> " + l.NewShape.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d -> %d\t%.1f%%\n", l.Name, shape, l.Params, l.NewParams, 100*l.SparsityAfter)
	}
	for _, x := range rep.Skipped {
		name := x.Name
		if x.OpType != "" {
			name += " (" + x.OpType + ")"
		}
		fmt.Fprintf(tw, "%s\t\t\tskipped: %s\n", name, x.Reason)
	}
	tw.Flush()
	skippedNote := ""
	if len(rep.Skipped) > 0 {
		skippedNote = fmt.Sprintf(" (%d skipped)", len(rep.Skipped))
	}
	fmt.Fprintf(w, "%s: %d layers%s; parameters %d -> %d, nonzero %d -> %d\n", rep.Method, len(rep.Layers), skippedNote,
		rep.ParamsBefore, rep.ParamsAfter, rep.NonzeroBefore, rep.NonzeroAfter)
	fmt.Fprintf(w, "file size %d -> %d bytes (%d as zstd)\n", r.SizeIn, r.SizeOut, r.ZstdOut)
	if sp := r.Sparse; sp != nil {
		fmt.Fprintf(w, "sparse %s: %d tensors, tensor data %d -> %d bytes\n", sp.Layout, len(sp.Tensors), sp.DenseBytes, sp.SparseBytes)
	}
	if r.Diff != nil {
		printModelDiff(e, r.Diff)
	}
}
