package cli

import (
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/numpy"
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
	var asJSON, force bool
	cmd := &cobra.Command{
		Use:   "run MODEL.onnx",
		Short: "Run an ONNX model on the CPU with Refit's pure-Go runtime",
		Long: `Run executes an ONNX model on inputs from --input name=file.npy, a --data .npz archive,
or seeded random values shaped as the model declares, and prints a summary of each
output; --output writes them all to an .npz file.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			s, _, err := loadSession(a[0])
			if err != nil {
				return err
			}
			set, err := in.gather(s)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := s.Run(e.ctx, set.values)
			if err != nil {
				return err
			}
			elapsed := time.Since(start)
			var tensors []*tensor.Tensor
			var rows []runOutput
			for _, info := range s.Outputs() {
				v := res[info.Name]
				if v == nil {
					continue
				}
				t, err := v.Tensor(info.Name)
				if err != nil {
					return err
				}
				tensors = append(tensors, t)
				rows = append(rows, summarizeOutput(t))
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
				return writeJSON(e.stdout, map[string]any{"model": a[0], "inputs": set.source, "seconds": elapsed.Seconds(), "outputs": rows})
			}
			fmt.Fprintf(e.stdout, "%s on %s inputs: %d outputs in %v\n", a[0], set.source, len(rows), elapsed.Round(time.Microsecond))
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
			return nil
		},
	}
	in.flags(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the outputs to this .npz file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing --output file")
	return cmd
}

func summarizeOutput(t *tensor.Tensor) runOutput {
	r := runOutput{Name: t.Name, DType: t.DType.String(), Shape: t.Shape}
	f, err := t.Float32s()
	if err != nil || len(f) == 0 {
		return r
	}
	r.Min, r.Max = float64(slices.Min(f)), float64(slices.Max(f))
	sum := 0.0
	for _, x := range f {
		sum += float64(x)
	}
	r.Mean = sum / float64(len(f))
	if len(t.Shape) == 2 && t.Shape[1] > 1 && t.DType.Float() {
		cols := int(t.Shape[1])
		for i := 0; i < int(t.Shape[0]); i++ {
			r.Top1 = append(r.Top1, compare.Argmax(f[i*cols:(i+1)*cols]))
		}
	}
	if len(f) <= 64 {
		r.Values = f
	}
	return r
}
