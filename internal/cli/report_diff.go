package cli

import (
	"fmt"
	"math"
	"strings"

	"github.com/refit-ml/refit/report"
)

// diffVerdict is a diff verdict for the report's card.
func diffVerdict(v verdict) *report.Verdict {
	if v.Pass {
		return &report.Verdict{Pass: true, Text: v.Summary}
	}
	return &report.Verdict{Text: strings.Join(v.Reasons, "; ")}
}

// writeModelReport fills --report for a diff of two runnable models: per output an
// error histogram, the agreement plots and the output table.
func (o *diffOptions) writeModelReport(d *modelDiff) error {
	if o.rep == nil {
		return nil
	}
	r := &report.Report{Kind: "diff-models", Title: "refit diff: outputs of two models", Verdict: diffVerdict(d.Verdict),
		Models: []report.Model{modelFacts("A", d.A), modelFacts("B", d.B)}}
	r.Figures = append(r.Figures, figure("inputs", "%s", d.Inputs), figure("max abs error", "%.4g", d.MaxAbs), figure("min cosine", "%.6f", d.MinCos))
	if note := randomNote(d.Inputs, d.RandomInputs, "--data FILE.npz"); note != "" {
		r.Notes = append(r.Notes, note)
	}
	for _, h := range d.Histograms {
		caption := fmt.Sprintf("%d elements: %d exact (not drawn)", h.Total, h.Exact)
		if h.NaN > 0 {
			caption += fmt.Sprintf(", %d NaN on one side or both", h.NaN)
		}
		if len(h.Bins) == 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("output %s: %s, no other error", h.Output, caption))
			continue
		}
		bins := make([]report.Bin, len(h.Bins))
		for i, b := range h.Bins {
			bins[i] = report.Bin{Lo: math.Log10(b.Lo), Hi: math.Log10(b.Hi), Count: float64(b.Count)}
		}
		p, err := report.Histogram("Error histogram: "+h.Output, caption, report.Axes{X: "log10 |A - B|", Y: "elements"}, bins)
		if err != nil {
			return err
		}
		r.Plots = append(r.Plots, p)
	}
	plots, err := outputPlots(d, "A", "B")
	if err != nil {
		return err
	}
	r.Plots = append(r.Plots, plots...)
	r.Tables = append(r.Tables, outputTable("Outputs", d))
	return o.rep.finish(r, d)
}

// writeCheckpointReport fills --report for a diff of two checkpoints: the error of
// every tensor along the model and the table.
func (o *diffOptions) writeCheckpointReport(d *checkpointDiff) error {
	if o.rep == nil {
		return nil
	}
	r := &report.Report{Kind: "diff-checkpoints", Title: "refit diff: two checkpoints", Verdict: diffVerdict(d.Verdict),
		Models: []report.Model{modelFacts("A", d.A), modelFacts("B", d.B)}}
	r.Figures = append(r.Figures, figure("tensors compared", "%d (%d bit-exact)", len(d.Tensors), d.Exact),
		figure("max abs error", "%.4g", d.MaxAbs), figure("min cosine", "%.6f", d.MinCos))
	if len(d.Missing)+len(d.Extra)+len(d.Shapes) > 0 {
		r.Figures = append(r.Figures, figure("only in A, only in B, shape differs", "%d, %d, %d", len(d.Missing), len(d.Extra), len(d.Shapes)))
	}
	maxAbs, cosine := make([]float64, len(d.Tensors)), make([]float64, len(d.Tensors))
	for i, t := range d.Tensors {
		maxAbs[i], cosine[i] = t.MaxAbs, t.Cosine
		if t.ShapeMismatch() {
			maxAbs[i], cosine[i] = math.NaN(), math.NaN()
		}
	}
	if len(d.Tensors) > 0 {
		plots, err := errorPlots("tensor", maxAbs, cosine)
		if err != nil {
			return err
		}
		r.Plots = plots
	}
	r.Tables = append(r.Tables, tensorDiffTable("Tensors", d.Tensors))
	if len(d.Missing)+len(d.Extra) > 0 {
		t := report.Table{Title: "Tensors in one checkpoint only", Columns: []report.Column{{Name: "tensor"}, {Name: "only in"}}}
		for _, n := range d.Missing {
			t.Rows = append(t.Rows, []report.Cell{report.Text(n), report.Text("A")})
		}
		for _, n := range d.Extra {
			t.Rows = append(t.Rows, []report.Cell{report.Text(n), report.Text("B")})
		}
		r.Tables = append(r.Tables, t)
	}
	return o.rep.finish(r, d)
}
