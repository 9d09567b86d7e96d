package cli

import (
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/graph/eval"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/runtime"
)

func init() { commands = append(commands, newOptimizeCmd) }

func newOptimizeCmd(e *env) *cobra.Command {
	var in runInputs
	var only, skip []string
	var asJSON, force, noVerify bool
	var reportPath string
	var pr *pendingReport // the --report file
	var tol float64
	var runOptimize func(a []string) error
	cmd := &cobra.Command{
		Use:   "optimize IN.onnx OUT.onnx",
		Short: "Simplify an ONNX graph without changing its outputs, and prove it by running both",
		Long: `Optimize lifts Constant nodes and Identity copies of initializers into initializers
(--only lift-constants,fold-constants,infer-shapes,remove-unused-initializers is the
preparation every ONNX command runs first), infers static shapes,
folds constants, removes identities, dropout and dead nodes, folds BatchNorm into
Conv/Gemm and per-channel Mul/Add constants into the Conv before them, fuses MatMul+Add into Gemm, merges consecutive Transposes and Reshapes and
common subexpressions. Then it runs the original and the result on the same inputs
(random unless given) and fails if any output moved by more than --tolerance times
that output's largest magnitude (at least 0.01 of it: an output near zero everywhere
gets an absolute bound of tolerance/100). The default 1e-4 lets float32 reassociation
(BatchNorm folded into Conv moves a deep network's outputs by ~1e-5 of their scale,
as much as two runtimes differ) pass, while any real change of the computation fails.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runWithReport(e, reportPath, force, &pr, cardReport("optimize", "refit optimize", a[0], a[1]), func() error { return runOptimize(a) }, a[0], a[1])
		},
	}
	runOptimize = func(a []string) error {
		if err := notONNX(a[0]); err != nil {
			return err
		}
		fsys, base := refit.FileFS(a[0])
		mp, err := onnx.Load(fsys, base)
		if err != nil {
			return err
		}
		opt, rep, err := optimize.Model(e.ctx, mp, &optimize.Options{Only: only, Skip: skip, Fold: eval.Node})
		if err != nil {
			return err
		}
		pf, err := createONNX(e, a[1], force, opt)
		if err != nil {
			return err
		}
		defer pf.Abort()
		var diff *modelDiff
		if !noVerify {
			// Re-read what was written, so the check covers the file, not only memory.
			written, err := onnx.Load(refit.DirFS(filepath.Dir(pf.Name())), filepath.Base(pf.Name()))
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			sa, err := runtime.Load(mp, fsys, nil)
			if err != nil {
				return fmt.Errorf("verify: original: %w", err)
			}
			sb, err := runtime.Load(written, fsys, nil)
			if err != nil {
				return fmt.Errorf("verify: optimized: %w", err)
			}
			set, err := in.gather(sa)
			if err != nil {
				return err
			}
			if diff, err = diffSessions(e, sa, sb, set); err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			diff.A, diff.B = a[0], a[1]
			for _, d := range diff.Outputs {
				if err := optimizeChanged(d, tol); err != nil {
					return fmt.Errorf("verify: %w; nothing written", err)
				}
			}
		}
		if err := pf.Commit(); err != nil {
			return err
		}
		res := &optimizeResult{Report: rep, Verification: diff}
		if reportPath != "" {
			r, err := optimizeReport(a[0], a[1], res)
			if err != nil {
				return err
			}
			if err := pr.finish(r, res); err != nil {
				return err
			}
		}
		if asJSON {
			return writeJSON(e.stdout, res)
		}
		fmt.Fprintf(e.stdout, "%s -> %s: %d -> %d nodes, %d -> %d initializers\n", a[0], a[1], rep.NodesBefore, rep.NodesAfter, rep.InitializersBefore, rep.InitializersAfter)
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		for _, p := range rep.Passes {
			fmt.Fprintf(tw, "  %s\t%d\n", p.Name, p.Changes)
		}
		tw.Flush()
		if diff != nil {
			on := diff.Inputs + " inputs"
			if diff.RandomInputs > 0 {
				on = diff.Inputs
			}
			fmt.Fprintf(e.stdout, "verified on %s: outputs max abs error %.3g, min cosine %.6f\n", on, diff.MaxAbs, diff.MinCos)
			if note := randomNote(diff.Inputs, diff.RandomInputs, "--data FILE.npz"); note != "" {
				fmt.Fprintln(e.stdout, note)
			}
		}
		return nil
	}
	in.flags(cmd.Flags())
	f := cmd.Flags()
	reportFlag(f, &reportPath)
	f.StringSliceVar(&only, "only", nil, "run only these passes")
	f.StringSliceVar(&skip, "skip", nil, "skip these passes")
	f.Float64Var(&tol, "tolerance", 1e-4, "largest change of any output accepted, relative to the output's largest magnitude")
	f.BoolVar(&noVerify, "no-verify", false, "skip running both models")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&force, "force", false, "overwrite an existing output")
	return cmd
}

// optimizeChanged fails when output d moved by more than tol times its scale (its
// largest magnitude, taken as at least 0.01), or could not be compared.
func optimizeChanged(d compare.OutputDiff, tol float64) error {
	if d.Note != "" {
		return fmt.Errorf("output %s: %s", d.Name, d.Note)
	}
	if allowed := tol * max(d.Scale, 0.01); !(d.MaxAbs <= allowed) {
		return fmt.Errorf("output %s changed: max abs %.3g > %.3g (--tolerance %g x max |output| %.3g)", d.Name, d.MaxAbs, allowed, tol, d.Scale)
	}
	return nil
}
