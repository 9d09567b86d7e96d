package cli

import (
	"context"
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

func init() { commands = append(commands, newRunCmd) }

type runOutput struct {
	Name   string       `json:"name"`
	DType  string       `json:"dtype"`
	Shape  tensor.Shape `json:"shape"`
	Min    float64      `json:"min"`
	Max    float64      `json:"max"`
	Mean   float64      `json:"mean"`
	Top1   []int        `json:"argmax,omitempty"` // per row, for 2-D float outputs
	Values []float32    `json:"values,omitempty"` // with --json, for outputs up to 64 elements
}

func newRunCmd(e *env) *cobra.Command {
	var in runInputs
	var out string
	var asJSON, force, profile bool
	var runs, warmup, profileTop int
	var opts runtime.Options
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run MODEL.onnx",
		Short: "Run an ONNX model on the CPU with Refit's pure-Go runtime",
		Long: `Run executes an ONNX model on inputs from --input name=file.npy, a --data .npz archive,
or seeded random values shaped as the model declares, and prints a summary of each
output; --output writes them all to an .npz file.

Models are untrusted: every tensor the run allocates is charged to a memory budget
(half of the RAM or of the process's memory limit, whichever is smaller), Loop and
Scan iterations are counted against --max-iterations over all nesting levels, and
--timeout stops a run that takes too long. Exceeding any of them is an error (exit 1).

--profile prints where the time went, per operator type and per node (calls, total
milliseconds, share of the run), as ONNX Runtime's profiler summarizes it; --runs
repeats the run (the outputs are those of the last run) after --warmup untimed runs.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := e.ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			opts.MaxMemory = e.maxMemory.runtimeBytes()
			opts.Threads = e.threads
			opts.Profile = profile
			if runs < 1 || warmup < 0 {
				return usageError{fmt.Errorf("--runs must be at least 1 and --warmup at least 0")}
			}
			s, release, err := loadSessionMapped(a[0], &opts)
			if err != nil {
				return err
			}
			defer release.Close()
			set, err := in.gather(s)
			if err != nil {
				return err
			}
			for range warmup {
				if _, err := s.Run(ctx, set.values); err != nil {
					return explainShapes(err, set)
				}
			}
			s.ResetProfile()
			var res map[string]*runtime.Value
			start := time.Now()
			for range runs {
				if res, err = s.Run(ctx, set.values); err != nil {
					return explainShapes(err, set)
				}
			}
			elapsed := time.Since(start) / time.Duration(runs)
			var tensors []*tensor.Tensor
			var rows []runOutput
			for _, info := range s.Outputs() {
				v := res[info.Name]
				if v == nil {
					continue
				}
				row, err := summarizeOutput(info.Name, v)
				if err != nil {
					return err
				}
				rows = append(rows, row)
				if out == "" {
					continue // no copy of the data unless it is written
				}
				t, err := v.Tensor(info.Name)
				if err != nil {
					return err
				}
				tensors = append(tensors, t)
			}
			if out != "" {
				pf, err := refit.CreatePendingContext(e.ctx, out, force)
				if err != nil {
					return err
				}
				defer pf.Abort()
				if err := numpy.WriteNPZ(pf, tensors, false); err != nil {
					return err
				}
				if err := pf.Commit(); err != nil {
					return err
				}
			}
			if asJSON {
				j := map[string]any{"model": a[0], "inputs": set.source, "seconds": elapsed.Seconds(), "outputs": rows}
				if p := s.Profile(); p != nil {
					j["profile"] = profileJSON(p)
				}
				return writeJSON(e.stdout, j)
			}
			per := ""
			if runs > 1 {
				per = fmt.Sprintf(" (mean of %d runs)", runs)
			}
			fmt.Fprintf(e.stdout, "%s on %s inputs: %d outputs in %v%s\n", a[0], set.source, len(rows), elapsed.Round(time.Microsecond), per)
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OUTPUT\tDTYPE\tSHAPE\tMIN\tMAX\tMEAN\tARGMAX")
			for _, r := range rows {
				top := "-"
				if len(r.Top1) > 0 {
					top = fmt.Sprint(r.Top1[:min(len(r.Top1), 16)])
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%.4g\t%.4g\t%.4g\t%s\n", r.Name, r.DType, r.Shape, r.Min, r.Max, r.Mean, top)
			}
			tw.Flush()
			if out != "" {
				fmt.Fprintf(e.stdout, "outputs written to %s\n", out)
			}
			if p := s.Profile(); p != nil {
				fmt.Fprintf(e.stdout, "\nprofile of %d runs (%d threads):\n", p.Runs, s.Threads())
				return p.WriteTable(e.stdout, profileTop)
			}
			return nil
		},
	}
	in.flags(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the outputs to this .npz file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing --output file")
	cmd.Flags().Int64Var(&opts.MaxIterations, "max-iterations", runtime.DefaultMaxIterations, "most Loop and Scan iterations one run may take, summed over nesting levels")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop the run after this long (0: no limit)")
	cmd.Flags().BoolVar(&profile, "profile", false, "print the time per operator type and per node")
	cmd.Flags().IntVar(&profileTop, "profile-top", 20, "nodes listed by --profile (0: all)")
	cmd.Flags().IntVar(&runs, "runs", 1, "timed runs (the time printed is their mean)")
	cmd.Flags().IntVar(&warmup, "warmup", 0, "untimed runs before the timed ones")
	return cmd
}

// summarizeOutput describes output v, reading its elements in place: an output can
// be as large as the runtime's memory budget allows.
func summarizeOutput(name string, v *runtime.Value) (runOutput, error) {
	if v.Kind != runtime.KindTensor {
		t, err := v.Tensor(name) // strings: the conversion reports what it supports
		if err != nil {
			return runOutput{}, err
		}
		return runOutput{Name: name, DType: t.DType.String(), Shape: t.Shape}, nil
	}
	r := runOutput{Name: name, DType: v.DType.String(), Shape: tensor.Shape(v.Shape)}
	n := v.Len()
	if n == 0 {
		return r, nil
	}
	r.Min, r.Max = math.Inf(1), math.Inf(-1)
	sum := 0.0
	for i := range n {
		x := float64(float32(v.Float64At(i))) // as the float32 summary always was
		r.Min, r.Max = min(r.Min, x), max(r.Max, x)
		sum += x
	}
	r.Mean = sum / float64(n)
	if len(v.Shape) == 2 && v.Shape[1] > 1 && v.DType.Float() {
		cols := int(v.Shape[1])
		for row := 0; row < int(v.Shape[0]); row++ {
			best := row * cols
			for i := best + 1; i < (row+1)*cols; i++ {
				if v.Float64At(i) > v.Float64At(best) {
					best = i
				}
			}
			r.Top1 = append(r.Top1, best-row*cols)
		}
	}
	if n <= 64 {
		r.Values = make([]float32, n)
		for i := range r.Values {
			r.Values[i] = float32(v.Float64At(i))
		}
	}
	return r, nil
}

// profileJSON is a runtime.Profile in milliseconds, for --json.
func profileJSON(p *runtime.Profile) map[string]any {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	var types, nodes []map[string]any
	for _, o := range p.ByOpType() {
		types = append(types, map[string]any{"op_type": o.OpType, "nodes": o.Nodes, "calls": o.Calls, "total_ms": ms(o.Time)})
	}
	for _, n := range p.Nodes {
		nodes = append(nodes, map[string]any{"node": n.Node, "op_type": n.OpType, "calls": n.Calls, "total_ms": ms(n.Time)})
	}
	return map[string]any{"runs": p.Runs, "total_ms": ms(p.Total), "op_types": types, "nodes": nodes}
}
