package report_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/refit-ml/refit/report"
)

func ExampleWrite() {
	errs, err := report.Line("Max abs error per tensor", "tensors in file order", report.Axes{X: "tensor", Y: "max |a - b|"},
		report.Series{Name: "max abs error", X: []float64{0, 1, 2}, Y: []float64{1e-3, 4e-3, 2e-3}})
	if err != nil {
		panic(err)
	}
	r := &report.Report{
		Title:   "refit convert",
		Command: "refit convert in.pt out.safetensors --dtype f16 --report r.html",
		Verdict: &report.Verdict{Pass: true, Text: "output re-read and matches"},
		Models:  []report.Model{{Role: "input", Path: "in.pt", Format: "pytorch", Params: 3}},
		Plots:   []report.Plot{errs},
		Tables: []report.Table{{Title: "Tensors", Columns: []report.Column{{Name: "tensor"}, {Name: "max abs", Numeric: true}},
			Rows: [][]report.Cell{{report.Text("w"), report.Num("%.3g", 4e-3)}}}},
		JSON: []byte(`{"max_abs_error": 0.004}`),
	}
	var page bytes.Buffer
	if err := report.Write(&page, r); err != nil {
		panic(err)
	}
	fmt.Println(strings.Count(page.String(), "<svg"), "plot, verdict shown:", strings.Contains(page.String(), "PASS: output re-read"))
	// Output: 1 plot, verdict shown: true
}
