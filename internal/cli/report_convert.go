package cli

import (
	"fmt"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/report"
	"github.com/refit-ml/refit/tensor"
)

// convertReport is convert's report: the card, and with verification the error of
// every tensor along the model and the verification table.
func convertReport(res *convertResult) (*report.Report, error) {
	r := &report.Report{Kind: "convert", Title: fmt.Sprintf("refit convert: %s -> %s", res.From, res.To),
		Models: []report.Model{modelFacts("input", res.Input), modelFacts("output", res.Output)}}
	if res.From == hfFormat {
		r.Kind, r.Title = "convert-hf-gguf", "refit convert: Hugging Face folder -> "+res.To
	}
	r.Figures = append(r.Figures, figure("tensors", "%d", res.Tensors), figure("bytes written", "%s", report.HumanBytes(res.Bytes)))
	if !res.Verified {
		r.Notes = append(r.Notes, "verification skipped (--no-verify)")
		return r, nil
	}
	r.Verdict = &report.Verdict{Pass: true, Text: "output re-read and matches what was written"}
	r.Figures = append(r.Figures, figure("bit-exact tensors", "%d of %d", res.Exact, res.Tensors),
		figure("max abs error", "%.4g", res.MaxAbs), figure("min cosine", "%.6f", res.MinCos))
	plotted := res.Diffs // the error along the model: against the source when measured
	if len(res.Source) > 0 {
		plotted = res.Source
		var srcMax float64
		for _, d := range res.Source {
			srcMax = max(srcMax, d.MaxAbs)
		}
		r.Figures = append(r.Figures, figure("max abs error against the folder", "%.4g", srcMax))
	}
	maxAbs, cosine := make([]float64, len(plotted)), make([]float64, len(plotted))
	for i, d := range plotted {
		maxAbs[i], cosine[i] = d.MaxAbs, d.Cosine
	}
	if len(plotted) > 0 {
		plots, err := errorPlots("tensor", maxAbs, cosine)
		if err != nil {
			return nil, err
		}
		r.Plots = plots
	}
	if len(res.Source) > 0 {
		r.Tables = append(r.Tables, tensorDiffTable("Every tensor of the output against the Hugging Face folder (read as float32)", res.Source))
	}
	if len(res.Diffs) > 0 {
		r.Tables = append(r.Tables, tensorDiffTable("Verification: every tensor against the input", res.Diffs))
	}
	return r, nil
}

// hfSourceError compares the written output with the Hugging Face folder it was
// converted from, read again in the output's names and layout as float32: the error
// of the stored types, which verification (output against the converted tensors)
// does not see.
func hfSourceError(e *env, in, out string, res *convertResult) error {
	src, err := hf.ConvertHF(e.ctx, refit.DirFS(in), &hf.ConvertOptions{DType: tensor.F32, NoTokenizer: true})
	if err != nil {
		return fmt.Errorf("report: reading %s as float32: %w", in, err)
	}
	defer src.Close()
	got, err := refit.Open(out)
	if err != nil {
		return fmt.Errorf("report: re-reading %s: %w", out, err)
	}
	defer got.Close()
	r, err := compare.ModelsContext(e.ctx, src, got, nil)
	if err != nil {
		return fmt.Errorf("report: comparing %s with %s: %w", out, in, err)
	}
	res.Source = r.Tensors
	return nil
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

// reverseReport is convert's report for a GGUF written as a Hugging Face folder: with
// the folder read back (rt), every tensor's error against the GGUF along the model.
func reverseReport(in string, res *convertResult, rt *compare.Report, o *convertOptions) (*report.Report, error) {
	r := &report.Report{Kind: "convert-gguf-hf", Title: "refit convert: GGUF -> Hugging Face folder",
		Models: []report.Model{modelFacts("input", in), modelFacts("output", res.Output)}}
	r.Figures = append(r.Figures, figure("tensors", "%d", res.Tensors))
	if rt == nil {
		if o.keepQuantized {
			r.Notes = append(r.Notes, "values not compared: --keep-quantized keeps block-quantized rows")
		}
		return r, nil
	}
	r.Verdict = &report.Verdict{Pass: len(rt.Missing) == 0, Text: fmt.Sprintf("folder read back: %d of %d tensors identical to the GGUF", res.Exact, len(rt.Tensors))}
	r.Figures = append(r.Figures, figure("identical tensors", "%d of %d", res.Exact, len(rt.Tensors)),
		figure("max abs error", "%.4g", res.MaxAbs), figure("min cosine", "%.6f", res.MinCos))
	if len(rt.Missing) > 0 {
		r.Notes = append(r.Notes, "GGUF tensors not in the folder read back: "+strings.Join(rt.Missing, ", "))
	}
	if len(rt.Extra) > 0 {
		r.Notes = append(r.Notes, "tensors the folder adds: "+strings.Join(rt.Extra, ", "))
	}
	maxAbs, cosine := make([]float64, len(rt.Tensors)), make([]float64, len(rt.Tensors))
	for i, d := range rt.Tensors {
		maxAbs[i], cosine[i] = d.MaxAbs, d.Cosine
	}
	if len(rt.Tensors) > 0 {
		plots, err := errorPlots("tensor", maxAbs, cosine)
		if err != nil {
			return nil, err
		}
		r.Plots = plots
		r.Tables = append(r.Tables, tensorDiffTable("Every GGUF tensor against the folder read back (as float32)", rt.Tensors))
	}
	return r, nil
}

// graphReport is convert's report for a graph converted to ONNX: its operators, its
// initializers, and the outputs of the verification run.
func graphReport(res *graphResult, mp *onnxpb.ModelProto) (*report.Report, error) {
	r := &report.Report{Kind: "convert-graph", Title: fmt.Sprintf("refit convert: %s graph -> ONNX", res.From),
		Models: []report.Model{modelFacts("input", res.Input), modelFacts("output", res.Output)}}
	r.Figures = append(r.Figures, figure("nodes", "%d", res.Nodes), figure("operator types", "%d", len(res.Ops)),
		figure("initializers", "%d", res.Tensors), figure("bytes written", "%s", report.HumanBytes(res.Bytes)))
	if res.Verified {
		var bad int64
		for _, o := range res.Outputs {
			bad += o.NonFinite
		}
		r.Verdict = &report.Verdict{Pass: true, Text: fmt.Sprintf("the ONNX graph loads and runs in Refit's runtime on seeded random inputs (%d outputs, %d non-finite values)", len(res.Outputs), bad)}
	} else {
		r.Notes = append(r.Notes, "verification skipped (--no-verify)")
	}
	ops := report.Table{Title: "Nodes per operator type", Columns: []report.Column{{Name: "operator"}, {Name: "nodes", Numeric: true}}}
	names, counts := make([]string, len(res.Ops)), make([]float64, len(res.Ops))
	for i, op := range res.Ops {
		names[i], counts[i] = op.Op, float64(op.Nodes)
		ops.Rows = append(ops.Rows, []report.Cell{report.Text(op.Op), report.Int(int64(op.Nodes))})
	}
	if len(res.Ops) > 0 {
		p, err := report.Bars("Nodes per operator type", "the converted graph, most frequent first", report.Axes{Y: "nodes"}, names, counts, nil)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	inits := report.Table{Title: "Initializers", Columns: []report.Column{{Name: "name"}, {Name: "dtype"}, {Name: "shape"}, {Name: "parameters", Numeric: true}}}
	var params []float64
	for _, t := range mp.GetGraph().GetInitializer() {
		n := int64(1)
		for _, d := range t.GetDims() {
			n *= d
		}
		params = append(params, float64(n))
		inits.Rows = append(inits.Rows, []report.Cell{report.Text(t.GetName()), report.Text(onnxpb.TensorProto_DataType(t.GetDataType()).String()),
			report.Text(fmt.Sprint(t.GetDims())), report.Int(n)})
	}
	if anyPositive(params) {
		p, err := report.Bars("Parameters per initializer", "in the order the graph stores them", report.Axes{X: "initializer", Y: "parameters"}, nil, params, nil)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	r.Tables = append(r.Tables, ops, inits)
	if len(res.Outputs) > 0 {
		t := report.Table{Title: "Outputs of the verification run", Columns: []report.Column{{Name: "output"}, {Name: "dtype"}, {Name: "shape"},
			{Name: "min", Numeric: true}, {Name: "max", Numeric: true}, {Name: "non-finite", Numeric: true}}}
		for _, o := range res.Outputs {
			t.Rows = append(t.Rows, []report.Cell{report.Text(o.Name), report.Text(o.DType), report.Text(fmt.Sprint(o.Shape)),
				report.Num("%.4g", o.Min), report.Num("%.4g", o.Max), report.Int(o.NonFinite)})
		}
		r.Tables = append(r.Tables, t)
	}
	return r, nil
}
