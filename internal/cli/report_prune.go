package cli

import (
	"fmt"

	"github.com/refit-ml/refit/report"
)

// pruneReport is prune's report: sparsity per layer achieved against the target,
// parameters per layer before and after, and for ONNX models the outputs' agreement.
func pruneReport(res *pruneResult) (*report.Report, error) {
	rep := res.Report
	r := &report.Report{Kind: "prune", Title: "refit prune: " + rep.Method, Models: []report.Model{modelFacts("input", res.In), modelFacts("output", res.Out)}}
	r.Figures = append(r.Figures, figure("layers pruned", "%d (%d skipped)", len(rep.Layers), len(rep.Skipped)),
		figure("target sparsity", "%.1f%%", 100*res.Target),
		figure("parameters", "%d -> %d", rep.ParamsBefore, rep.ParamsAfter),
		figure("nonzero", "%d -> %d (%.1f%% zero)", rep.NonzeroBefore, rep.NonzeroAfter, 100*(1-float64(rep.NonzeroAfter)/float64(max(rep.ParamsAfter, 1)))),
		figure("file size", "%s -> %s (%s as zstd)", report.HumanBytes(res.SizeIn), report.HumanBytes(res.SizeOut), report.HumanBytes(res.ZstdOut)))
	if sp := res.Sparse; sp != nil {
		r.Figures = append(r.Figures, figure("sparse "+sp.Layout, "%d tensors, %s -> %s", len(sp.Tensors), report.HumanBytes(sp.DenseBytes), report.HumanBytes(sp.SparseBytes)))
	}
	if d := res.Diff; d != nil {
		r.Figures = append(r.Figures, figure("outputs", "max abs error %.4g, min cosine %.6f on %s", d.MaxAbs, d.MinCos, d.Inputs))
		if note := randomNote(d.Inputs, d.RandomInputs, "--data FILE.npz"); note != "" {
			r.Notes = append(r.Notes, note)
		}
	}
	n := len(rep.Layers)
	names := make([]string, n)
	achieved, target, before, after := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, l := range rep.Layers {
		names[i] = l.Name
		achieved[i], target[i] = l.SparsityAfter, res.Target
		if l.Params > 0 {
			before[i] = float64(l.ZerosBefore) / float64(l.Params)
		}
		after[i] = float64(l.NewParams)
	}
	caption := "layers in model order; the target applies to every layer"
	if rep.Method == "global" {
		caption = "layers in model order; global pruning meets the target over all layers together, so layers differ"
	}
	if n > 0 {
		p, err := report.Line("Sparsity per layer: achieved against target", caption, report.Axes{X: "layer index", Y: "fraction of zeros", YMin: 0, YMax: 1},
			report.Series{Name: "achieved", X: seq(n), Y: achieved}, report.Series{Name: "target", X: seq(n), Y: target, Dashed: true},
			report.Series{Name: "before", X: seq(n), Y: before})
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	plots, err := outputPlots(res.Diff, "input", "pruned")
	if err != nil {
		return nil, err
	}
	r.Plots = append(r.Plots, plots...)
	t := report.Table{Title: "Layers", Columns: []report.Column{{Name: "#", Numeric: true}, {Name: "layer"}, {Name: "shape"},
		{Name: "params", Numeric: true}, {Name: "params after", Numeric: true}, {Name: "zeros before", Numeric: true},
		{Name: "zeros after", Numeric: true}, {Name: "sparsity", Numeric: true}}}
	for i, l := range rep.Layers {
		shape := l.Shape.String()
		if l.NewShape != nil {
			shape += " -> " + l.NewShape.String()
		}
		t.Rows = append(t.Rows, []report.Cell{report.Int(int64(i)), report.Text(l.Name), report.Text(shape), report.Int(l.Params),
			report.Int(l.NewParams), report.Int(l.ZerosBefore), report.Int(l.ZerosAfter), report.Num("%.2f%%", 100*l.SparsityAfter)})
	}
	r.Tables = append(r.Tables, t)
	if len(rep.Skipped) > 0 {
		s := report.Table{Title: "Skipped", Columns: []report.Column{{Name: "name"}, {Name: "op"}, {Name: "reason"}}}
		for _, x := range rep.Skipped {
			s.Rows = append(s.Rows, []report.Cell{report.Text(x.Name), report.Text(x.OpType), report.Text(x.Reason)})
		}
		r.Tables = append(r.Tables, s)
	}
	if res.Diff != nil {
		r.Tables = append(r.Tables, outputTable("Outputs: input (A) against pruned (B)", res.Diff))
	}
	return r, nil
}

// pruneTarget is the sparsity each layer is asked for: --sparsity, or 1 - N/M.
func pruneTarget(o *pruneOptions) float64 {
	if o.method == "nm" && o.m > 0 {
		return 1 - float64(o.n)/float64(o.m)
	}
	return o.sparsity
}

// writeReport fills --report for prune (nothing without one).
func (o *pruneOptions) writeReport(res *pruneResult) error {
	if o.rep == nil {
		return nil
	}
	r, err := pruneReport(res)
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return o.rep.finish(r, res)
}
