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

// halfReport is convert's report for an ONNX graph rewritten to float16/bfloat16:
// what changed, the nodes kept in float32, and the outputs against the float32 model.
func halfReport(res *halfResult) (*report.Report, error) {
	rep := res.Report
	r := &report.Report{Kind: "convert-onnx-half", Title: "refit convert: ONNX to " + rep.DType,
		Models: []report.Model{modelFacts("input", res.Input), modelFacts("output", res.Output)}}
	r.Figures = append(r.Figures, figure("converted", "%d initializers, %d constants (%d values)", rep.Initializers, rep.Constants, rep.Values),
		figure("Casts inserted", "%d", rep.Casts), figure("kept in float32", "%d nodes", len(rep.Kept)),
		figure("clamped, underflowed to 0", "%d, %d", rep.Clamped, rep.Underflow))
	if d := res.Verification; d != nil {
		r.Verdict = &report.Verdict{Pass: true, Text: fmt.Sprintf("runs; outputs max abs error %.3g, min cosine %.6f against the float32 model on %s", d.MaxAbs, d.MinCos, d.Inputs)}
		plots, err := outputPlots(d, "float32", rep.DType)
		if err != nil {
			return nil, err
		}
		r.Plots = plots
	} else {
		r.Notes = append(r.Notes, "verification skipped (--no-verify)")
	}
	if len(rep.Kept) > 0 {
		t := report.Table{Title: "Nodes kept in float32", Columns: []report.Column{{Name: "node"}, {Name: "op"}, {Name: "why"}}}
		for _, k := range rep.Kept {
			t.Rows = append(t.Rows, []report.Cell{report.Text(k.Node), report.Text(k.Op), report.Text(k.Reason)})
		}
		r.Tables = append(r.Tables, t)
	}
	if res.Verification != nil {
		r.Tables = append(r.Tables, outputTable("Outputs: float32 (A) against "+rep.DType+" (B)", res.Verification))
	}
	return r, nil
}
