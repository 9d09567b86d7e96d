package cli

import (
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
)

func init() { commands = append(commands, newDiffCmd) }

type diffOptions struct {
	asJSON    bool
	tolerance float64
	key       string
	all       bool
	run       runInputs
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
the KL divergence of softmax outputs. With --tolerance, exits 1 when the max absolute
error exceeds it.`,
		Args: args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			if runnable(a[0]) && runnable(a[1]) {
				return runModelDiff(e, a[0], a[1], &o)
			}
			return runCheckpointDiff(e, a[0], a[1], &o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.asJSON, "json", false, "print JSON")
	f.Float64Var(&o.tolerance, "tolerance", -1, "exit 1 if the max absolute error exceeds this")
	f.StringVar(&o.key, "key", "", "select a sub-tree of nested checkpoints (dotted)")
	f.BoolVar(&o.all, "all", false, "list every tensor, not only those that differ")
	o.run.flags(f)
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
	rep, err := compare.Models(a, b, nil)
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
	if o.asJSON {
		if err := writeJSON(e.stdout, r); err != nil {
			return err
		}
	} else {
		printCheckpointDiff(e, r, o.all)
	}
	if r.Exceeded {
		return silentExit(ExitFailure)
	}
	return nil
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
