package cli

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
)

func init() { commands = append(commands, newDiffCmd) }

type diffOptions struct {
	asJSON       bool
	tolerance    float64
	key          string
	all          bool
	allowMissing bool
	run          runInputs
	report       string         // --report FILE
	rep          *pendingReport // its pending file
}

// verdict is diff's conclusion: printed last (and in --json), and the exit code.
type verdict struct {
	Pass    bool     `json:"pass"`
	Summary string   `json:"summary"`
	Reasons []string `json:"reasons"` // why it failed; empty when it passed
}

func (v *verdict) fail(format string, args ...any) {
	v.Pass = false
	v.Reasons = append(v.Reasons, fmt.Sprintf(format, args...))
}

func (v *verdict) print(w io.Writer) {
	if v.Pass {
		fmt.Fprintf(w, "verdict: PASS: %s\n", v.Summary)
		return
	}
	fmt.Fprintf(w, "verdict: FAIL: %s\n", strings.Join(v.Reasons, "; "))
}

func (v *verdict) exit() error {
	if v.Pass {
		return nil
	}
	return silentExit(ExitFailure)
}

type checkpointDiff struct {
	A         string               `json:"a"`
	B         string               `json:"b"`
	Tensors   []compare.TensorDiff `json:"tensors"`
	Missing   []string             `json:"missing"`
	Extra     []string             `json:"extra"`
	Shapes    []string             `json:"shape_mismatches"`
	Exact     int                  `json:"exact"`
	MaxAbs    float64              `json:"max_abs_error"`
	MinCos    float64              `json:"min_cosine"`
	Identical bool                 `json:"identical"`
	Exceeded  bool                 `json:"tolerance_exceeded"`
	Verdict   verdict              `json:"verdict"`
}

func newDiffCmd(e *env) *cobra.Command {
	var o diffOptions
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two checkpoints tensor by tensor, or run two models on the same inputs and compare outputs",
		Long: `For two checkpoints, diff reports per tensor the max absolute and relative error,
cosine similarity and exact equality, plus missing/extra names and shape mismatches.
For two runnable models (ONNX), it runs both on the same inputs (--input, --data, or
seeded random inputs) and reports per output max error, cosine, top-1 agreement and
the KL divergence of softmax outputs.

The last line is the verdict. diff exits 1 when tensor names differ (unless
--allow-missing), when shapes differ, when an output is missing or not comparable,
or when the max absolute error exceeds --tolerance; otherwise 0.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runWithReport(e, o.report, true, &o.rep, cardReport("diff", "refit diff", a[0], a[1]), func() error {
				if runnable(a[0]) && runnable(a[1]) {
					return runModelDiff(e, a[0], a[1], &o)
				}
				return runCheckpointDiff(e, a[0], a[1], &o)
			}, a[0], a[1])
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	f.Float64Var(&o.tolerance, "tolerance", -1, "exit 1 if the max absolute error exceeds this")
	f.StringVar(&o.key, "key", "", "select a sub-tree of nested checkpoints (dotted)")
	f.BoolVar(&o.all, "all", false, "list every tensor, not only those that differ")
	f.BoolVar(&o.allowMissing, "allow-missing", false, "tensors present in only one checkpoint do not fail the diff")
	o.run.flags(f)
	reportFlag(f, &o.report)
	return cmd
}

func runCheckpointDiff(e *env, pa, pb string, o *diffOptions) error {
	opts := &refit.DecodeOptions{Key: o.key, MaxMemory: int64(e.maxMemory)}
	a, err := openCheckpoint(pa, opts)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := openCheckpoint(pb, opts)
	if err != nil {
		return err
	}
	defer b.Close()
	rep, err := compare.ModelsContext(e.ctx, a, b, nil)
	if err != nil {
		return err
	}
	r := &checkpointDiff{A: pa, B: pb, Tensors: rep.Tensors, Missing: rep.Missing, Extra: rep.Extra, MinCos: 1,
		Identical: rep.Identical(), Shapes: []string{}}
	for _, d := range rep.Tensors {
		if d.ShapeMismatch() {
			r.Shapes = append(r.Shapes, d.Name)
			continue
		}
		if d.Exact {
			r.Exact++
		}
		r.MaxAbs = math.Max(r.MaxAbs, d.MaxAbs)
		r.MinCos = math.Min(r.MinCos, d.Cosine)
	}
	r.Exceeded = o.tolerance >= 0 && (r.MaxAbs > o.tolerance || len(r.Shapes) > 0 || len(r.Missing) > 0 || len(r.Extra) > 0)
	r.Verdict = checkpointVerdict(r, o)
	if err := o.writeCheckpointReport(r); err != nil {
		return err
	}
	if o.asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printCheckpointDiff(e, r, o.all)
		r.Verdict.print(e.stdout)
	}
	return r.Verdict.exit()
}

// checkpointVerdict fails on names in one checkpoint only (unless --allow-missing), on
// shape mismatches, and on an error beyond --tolerance.
func checkpointVerdict(r *checkpointDiff, o *diffOptions) verdict {
	v := verdict{Pass: true, Reasons: []string{}}
	if n := len(r.Missing) + len(r.Extra); n > 0 && !o.allowMissing {
		v.fail("%d tensors only in A and %d only in B (--allow-missing accepts that)", len(r.Missing), len(r.Extra))
	}
	if len(r.Shapes) > 0 {
		v.fail("%d tensors differ in shape", len(r.Shapes))
	}
	if o.tolerance >= 0 && r.MaxAbs > o.tolerance {
		v.fail("max abs error %.3g exceeds --tolerance %g", r.MaxAbs, o.tolerance)
	}
	compared := len(r.Tensors) - len(r.Shapes)
	switch {
	case r.Identical:
		v.Summary = fmt.Sprintf("identical (%d tensors, bit-exact)", len(r.Tensors))
	case o.tolerance >= 0:
		v.Summary = fmt.Sprintf("%d tensors within --tolerance %g (max abs error %.3g)", compared, o.tolerance, r.MaxAbs)
	default:
		v.Summary = fmt.Sprintf("%d common tensors of the same shapes, %d bit-exact, max abs error %.3g (no --tolerance given)", compared, r.Exact, r.MaxAbs)
	}
	if o.allowMissing && len(r.Missing)+len(r.Extra) > 0 {
		v.Summary += fmt.Sprintf("; %d tensors only in A and %d only in B (allowed)", len(r.Missing), len(r.Extra))
	}
	return v
}

func printCheckpointDiff(e *env, r *checkpointDiff, all bool) {
	w := e.stdout
	fmt.Fprintf(w, "%s vs %s: %d common tensors, %d bit-exact, max abs error %.3g, min cosine %.6f\n",
		r.A, r.B, len(r.Tensors), r.Exact, r.MaxAbs, r.MinCos)
	if len(r.Missing) > 0 {
		fmt.Fprintf(w, "only in A (%d): %v\n", len(r.Missing), r.Missing)
	}
	if len(r.Extra) > 0 {
		fmt.Fprintf(w, "only in B (%d): %v\n", len(r.Extra), r.Extra)
	}
	if len(r.Shapes) > 0 {
		fmt.Fprintf(w, "shape mismatches (%d): %v\n", len(r.Shapes), r.Shapes)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := false
	for _, d := range r.Tensors {
		if d.Exact && !all {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "\nTENSOR\tDTYPE\tSHAPE\tEXACT\tMAX ABS\tMAX REL\tCOSINE")
			header = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%.3g\t%.3g\t%.6f\n", d.Name, d.Types, d.ShapeA, d.Exact, d.MaxAbs, d.MaxRel, d.Cosine)
	}
	tw.Flush()
	if r.Identical {
		fmt.Fprintln(w, "identical")
	}
}
