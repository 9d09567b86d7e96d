package cli

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit/distill"
	"github.com/refit-ml/refit/optimize"
	"github.com/refit-ml/refit/report"
)

// distillReport is distill's report: loss and held-out accuracy per epoch.
func distillReport(o *distillOptions, weights string, res *distill.Result) (*report.Report, error) {
	r := &report.Report{Kind: "distill", Title: "refit distill"}
	if o.teacher != "" && o.opt.Alpha > 0 {
		r.Models = append(r.Models, modelFacts("teacher", o.teacher))
	}
	r.Models = append(r.Models, modelFacts("student (before)", o.student), modelFacts("student (trained)", o.out))
	r.Figures = append(r.Figures, figure("epochs", "%d of %d", len(res.Epochs), o.opt.Epochs), figure("best epoch", "%d", res.BestEpoch),
		figure("temperature, alpha", "%g, %g", o.opt.Temperature, o.opt.Alpha), figure("weights", "%s", weights))
	if res.Accuracy >= 0 {
		r.Figures = append(r.Figures, figure("held-out accuracy", "%.2f%%", 100*res.Accuracy))
	}
	if res.Stopped {
		r.Notes = append(r.Notes, "stopped early: no better held-out score for --patience epochs")
	}
	n := len(res.Epochs)
	epoch, loss, valLoss, acc := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	hasVal := false
	for i, s := range res.Epochs {
		epoch[i], loss[i], valLoss[i], acc[i] = float64(s.Epoch), s.Loss, s.ValLoss, s.ValAccuracy
		if s.ValAccuracy < 0 {
			acc[i] = math.NaN()
		} else {
			hasVal = true
		}
	}
	series := []report.Series{{Name: "training loss", X: epoch, Y: loss}}
	if hasVal {
		series = append(series, report.Series{Name: "held-out loss", X: epoch, Y: valLoss})
	}
	if n > 0 {
		p, err := report.Line("Loss per epoch", "training loss (distillation and label terms as weighted by --alpha); held-out: cross-entropy on labels, or KL to the teacher",
			report.Axes{X: "epoch", Y: "loss"}, series...)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
		if hasVal {
			if p, err = report.Line("Held-out accuracy per epoch", "on --val", report.Axes{X: "epoch", Y: "accuracy", YMin: 0, YMax: 1},
				report.Series{Name: "accuracy", X: epoch, Y: acc}); err != nil {
				return nil, err
			}
			r.Plots = append(r.Plots, p)
		}
	}
	t := report.Table{Title: "Epochs", Columns: []report.Column{{Name: "epoch", Numeric: true}, {Name: "loss", Numeric: true},
		{Name: "learning rate", Numeric: true}, {Name: "held-out loss", Numeric: true}, {Name: "held-out accuracy", Numeric: true}}}
	for i, s := range res.Epochs {
		a := report.Cell{Text: "-", Value: math.NaN()}
		if s.ValAccuracy >= 0 {
			a = report.Num("%.2f%%", 100*s.ValAccuracy)
		}
		t.Rows = append(t.Rows, []report.Cell{report.Int(int64(s.Epoch)), report.Num("%.4f", s.Loss), report.Num("%.3g", s.LR),
			report.Num("%.4f", valLoss[i]), a})
	}
	r.Tables = append(r.Tables, t)
	return r, nil
}

// optimizeResult is optimize's --json output.
type optimizeResult struct {
	Report       *optimize.Report `json:"report"`
	Verification *modelDiff       `json:"verification"`
}

// optimizeReport is optimize's report: rewrites per pass and the outputs' change.
func optimizeReport(in, out string, res *optimizeResult) (*report.Report, error) {
	rep := res.Report
	r := &report.Report{Kind: "optimize", Title: "refit optimize", Models: []report.Model{modelFacts("input", in), modelFacts("output", out)}}
	r.Figures = append(r.Figures, figure("nodes", "%d -> %d", rep.NodesBefore, rep.NodesAfter),
		figure("initializers", "%d -> %d", rep.InitializersBefore, rep.InitializersAfter))
	if d := res.Verification; d != nil {
		r.Verdict = &report.Verdict{Pass: true, Text: fmt.Sprintf("every output within --tolerance of the original's (max abs error %.3g, min cosine %.6f)", d.MaxAbs, d.MinCos)}
		if note := randomNote(d.Inputs, d.RandomInputs, "--data FILE.npz"); note != "" {
			r.Notes = append(r.Notes, note)
		}
	} else {
		r.Notes = append(r.Notes, "verification skipped (--no-verify)")
	}
	names := make([]string, len(rep.Passes))
	changes := make([]float64, len(rep.Passes))
	for i, p := range rep.Passes {
		names[i], changes[i] = p.Name, float64(p.Changes)
	}
	if len(names) > 0 {
		p, err := report.Bars("Rewrites per pass", "summed over the rounds until no pass changes anything", report.Axes{Y: "rewrites"}, names, changes, nil)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	if d := res.Verification; d != nil && len(d.Outputs) > 0 {
		var outs []string
		var maxAbs, scale []float64
		for _, o := range d.Outputs {
			outs, maxAbs, scale = append(outs, o.Name), append(maxAbs, o.MaxAbs), append(scale, o.MaxAbs/math.Max(o.Scale, 0.01))
		}
		p, err := report.GroupedBars("Change per output", "max |original - optimized|, absolute and relative to the output's largest magnitude (the --tolerance measure)",
			report.Axes{Y: "error"}, outs, report.Series{Name: "max abs", Y: maxAbs}, report.Series{Name: "relative to max |output|", Y: scale})
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	t := report.Table{Title: "Passes", Columns: []report.Column{{Name: "pass"}, {Name: "rewrites", Numeric: true}}}
	for _, p := range rep.Passes {
		t.Rows = append(t.Rows, []report.Cell{report.Text(p.Name), report.Int(int64(p.Changes))})
	}
	r.Tables = append(r.Tables, t)
	if res.Verification != nil {
		r.Tables = append(r.Tables, outputTable("Outputs: original (A) against optimized (B)", res.Verification))
	}
	return r, nil
}
