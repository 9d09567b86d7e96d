package cli

import (
	"fmt"

	"github.com/refit-ml/refit/report"
)

// convertReport is convert's report: the card, and with verification the error of
// every tensor along the model and the verification table.
func convertReport(res *convertResult) (*report.Report, error) {
	r := &report.Report{Kind: "convert", Title: fmt.Sprintf("refit convert: %s -> %s", res.From, res.To),
		Models: []report.Model{modelFacts("input", res.Input), modelFacts("output", res.Output)}}
	r.Figures = append(r.Figures, figure("tensors", "%d", res.Tensors), figure("bytes written", "%s", report.HumanBytes(res.Bytes)))
	if !res.Verified {
		r.Notes = append(r.Notes, "verification skipped (--no-verify)")
		return r, nil
	}
	r.Verdict = &report.Verdict{Pass: true, Text: "output re-read and matches what was written"}
	r.Figures = append(r.Figures, figure("bit-exact tensors", "%d of %d", res.Exact, res.Tensors),
		figure("max abs error", "%.4g", res.MaxAbs), figure("min cosine", "%.6f", res.MinCos))
	maxAbs, cosine := make([]float64, len(res.Diffs)), make([]float64, len(res.Diffs))
	for i, d := range res.Diffs {
		maxAbs[i], cosine[i] = d.MaxAbs, d.Cosine
	}
	if len(res.Diffs) > 0 {
		plots, err := errorPlots("tensor", maxAbs, cosine)
		if err != nil {
			return nil, err
		}
		r.Plots = plots
		r.Tables = append(r.Tables, tensorDiffTable("Verification: every tensor against the input", res.Diffs))
	}
	return r, nil
}

// cardReport is the report of a command path that fills no tables: the summary card.
func cardReport(kind, title, in, out string) func() *report.Report {
	return func() *report.Report {
		return &report.Report{Kind: kind, Title: title, Models: []report.Model{modelFacts("input", in), modelFacts("output", out)}}
	}
}
