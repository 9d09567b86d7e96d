package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/refit-ml/refit/report"
)

// ggufQuantReport is quantize's report for GGUF files and Hugging Face folders: the
// plan as bits per weight per tensor coloured by type, the measured error of every
// tensor along the model, and the plan table with the errors.
func ggufQuantReport(in string, res *ggufQuantResult) (*report.Report, error) {
	p := res.Plan
	r := &report.Report{Kind: "quantize-gguf", Title: "refit quantize " + p.FileType, Models: []report.Model{modelFacts("input", in)}}
	if res.Output != "" {
		r.Models = append(r.Models, modelFacts("output", res.Output))
	} else {
		r.Notes = append(r.Notes, "dry run: the plan only, nothing written")
	}
	r.Figures = append(r.Figures, figure("file type", "%s", p.FileType), figure("tensors", "%d", len(p.Tensors)),
		figure("bits per weight", "%.4f (tensor data %.4f)", p.BitsPerWeight, p.TensorBPW),
		figure("size", "%s -> %s", report.HumanBytes(p.SourceBytes), report.HumanBytes(p.FileBytes)))
	if p.Fallbacks > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d tensors need a fallback type: rows are not whole blocks of the wanted type", p.Fallbacks))
	}
	if res.Verified {
		r.Verdict = &report.Verdict{Pass: true, Text: "every tensor measured as written; output re-read and its bytes checked (CRC-32C)"}
		r.Figures = append(r.Figures, figure("max abs error", "%.4g", float64(res.MaxAbs)),
			figure("cosine", "%.6f over all weights, %.6f worst tensor", float64(res.Cosine), float64(res.MinCos)))
	}
	names := make([]string, len(p.Tensors))
	bpw := make([]float64, len(p.Tensors))
	types := make([]string, len(p.Tensors))
	for i, t := range p.Tensors {
		names[i], types[i] = t.Name, t.ToName
		if t.Params > 0 {
			bpw[i] = 8 * float64(t.Bytes) / float64(t.Params)
		}
	}
	plan, err := report.Bars("Quantization plan: bits per weight per tensor", "tensors in file order, coloured by the type each gets",
		report.Axes{X: "tensor index", Y: "bits per weight"}, names, bpw, types)
	if err != nil {
		return nil, err
	}
	r.Plots = append(r.Plots, plan)
	errs := map[string]quantTensorError{}
	if len(res.Tensors) > 0 {
		maxAbs, cosine := make([]float64, len(res.Tensors)), make([]float64, len(res.Tensors))
		for i, t := range res.Tensors {
			maxAbs[i], cosine[i] = float64(t.MaxAbs), float64(t.Cosine)
			errs[t.Name] = t
		}
		plots, err := errorPlots("tensor", maxAbs, cosine)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, plots...)
	}
	t := report.Table{Title: "Plan and measured error per tensor", Columns: []report.Column{{Name: "#", Numeric: true}, {Name: "tensor"},
		{Name: "shape"}, {Name: "from"}, {Name: "to"}, {Name: "params", Numeric: true}, {Name: "bytes", Numeric: true},
		{Name: "bits/weight", Numeric: true}, {Name: "why"}, {Name: "max abs", Numeric: true}, {Name: "cosine", Numeric: true}}}
	for i, e := range p.Tensors {
		to := e.ToName
		if e.Fallback {
			to += " (fallback from " + e.Wanted + ")"
		}
		maxAbs, cosine := report.Cell{Text: "-", Value: math.NaN()}, report.Cell{Text: "-", Value: math.NaN()}
		if q, ok := errs[e.Name]; ok {
			maxAbs, cosine = report.Num("%.4g", float64(q.MaxAbs)), report.Num("%.6f", float64(q.Cosine))
		}
		t.Rows = append(t.Rows, []report.Cell{report.Int(int64(i)), report.Text(e.Name), report.Text(e.Shape.String()), report.Text(e.FromName),
			report.Text(to), report.Int(e.Params), report.Int(e.Bytes), report.Num("%.3f", bpw[i]), report.Text(e.Reason), maxAbs, cosine})
	}
	r.Tables = append(r.Tables, t)
	return r, nil
}

// onnxQuantReport is quantize's report for ONNX models: the bits per weight of every
// candidate node coloured by how it was quantized, the weight error per node, the
// per-layer sensitivity along the graph, and the outputs' agreement.
func onnxQuantReport(in, out string, res *quantizeResult) (*report.Report, error) {
	rep := res.Report
	r := &report.Report{Kind: "quantize-onnx", Title: fmt.Sprintf("refit quantize: %s (%s)", rep.Method, rep.Format),
		Models: []report.Model{modelFacts("input", in), modelFacts("output", out)}}
	r.Figures = append(r.Figures, figure("model size", "%s -> %s (%.1f%%)", report.HumanBytes(rep.SizeBefore), report.HumanBytes(rep.SizeAfter),
		100*float64(rep.SizeAfter)/math.Max(1, float64(rep.SizeBefore))))
	quantized := len(rep.Nodes) - len(res.Skipped) + len(res.Excluded)
	r.Figures = append(r.Figures, figure("quantized nodes", "%d of %d candidates", quantized, len(rep.Nodes)+len(res.Excluded)))
	if d := res.Eval; d != nil {
		r.Figures = append(r.Figures, figure("outputs", "max abs error %.4g, min cosine %.6f on %s", d.MaxAbs, d.MinCos, d.Inputs))
		for _, o := range d.Outputs {
			if o.Top1 != nil {
				r.Figures = append(r.Figures, figure("top-1 agreement ("+o.Name+")", "%.2f%%", 100**o.Top1))
			}
			if o.AccuracyA != nil && o.AccuracyB != nil {
				r.Figures = append(r.Figures, figure("accuracy ("+o.Name+")", "%.2f%% float, %.2f%% quantized", 100**o.AccuracyA, 100**o.AccuracyB))
			}
		}
		if note := randomNote(d.Inputs, d.RandomInputs, "--data FILE.npz (or --eval, or --calib)"); note != "" {
			r.Notes = append(r.Notes, note)
		}
	}
	if res.ORTArith != "" {
		r.Notes = append(r.Notes, "integer arithmetic of the evaluation: "+res.ORTArith)
	}
	names := make([]string, len(rep.Nodes))
	bpw := make([]float64, len(rep.Nodes))
	groups := make([]string, len(rep.Nodes))
	relErr := make([]float64, len(rep.Nodes))
	for i, n := range rep.Nodes {
		names[i] = n.Name
		groups[i] = "float"
		bpw[i] = 32
		relErr[i] = math.NaN()
		if n.Action != "" {
			groups[i] = actionKind(n.Action)
			if n.Before > 0 {
				bpw[i] = 32 * float64(n.After) / float64(n.Before) // float32 weights before
			}
			relErr[i] = n.Error
		}
	}
	if len(rep.Nodes) > 0 {
		p, err := report.Bars("Quantization plan: bits per weight per node", "candidate nodes in graph order: 32 x quantized bytes / float bytes (scales and zero points included), coloured by what each became",
			report.Axes{X: "node", Y: "bits per weight"}, names, bpw, groups)
		if err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
		if anyPositive(relErr) {
			if p, err = report.Line("Weight error per node", "||W_q - W|| / ||W|| of each quantized weight, in graph order",
				report.Axes{X: "node index", Y: "relative error", LogY: true}, report.Series{Name: "weight rel error", X: seq(len(relErr)), Y: relErr}); err != nil {
				return nil, err
			}
			r.Plots = append(r.Plots, p)
		}
	}
	if len(res.PerLayer) > 0 {
		maxAbs, cosine := make([]float64, len(res.PerLayer)), make([]float64, len(res.PerLayer))
		for i, l := range res.PerLayer {
			maxAbs[i], cosine[i] = l.MaxAbs, l.Cosine
		}
		plots, err := errorPlots("layer", maxAbs, cosine)
		if err != nil {
			return nil, err
		}
		for i := range plots {
			plots[i].Title += " (only that layer quantized)"
		}
		r.Plots = append(r.Plots, plots...)
	}
	plots, err := outputPlots(res.Eval, "float", "quantized")
	if err != nil {
		return nil, err
	}
	r.Plots = append(r.Plots, plots...)
	nodes := report.Table{Title: "Nodes", Columns: []report.Column{{Name: "#", Numeric: true}, {Name: "node"}, {Name: "op"}, {Name: "quantized as"},
		{Name: "weight rel error", Numeric: true}, {Name: "bytes before", Numeric: true}, {Name: "bytes after", Numeric: true}, {Name: "bits/weight", Numeric: true}}}
	for i, n := range rep.Nodes {
		action := n.Action
		if action == "" {
			action = "float (" + n.Skip + ")"
		}
		if n.Note != "" {
			action += " (" + n.Note + ")"
		}
		nodes.Rows = append(nodes.Rows, []report.Cell{report.Int(int64(i)), report.Text(n.Name), report.Text(n.OpType), report.Text(action),
			report.Num("%.4f", relErr[i]), report.Int(n.Before), report.Int(n.After), report.Num("%.2f", bpw[i])})
	}
	r.Tables = append(r.Tables, nodes)
	if len(res.PerLayer) > 0 {
		t := report.Table{Title: "Per layer (only that layer quantized)", Columns: []report.Column{{Name: "#", Numeric: true}, {Name: "layer"},
			{Name: "max abs", Numeric: true}, {Name: "cosine", Numeric: true}, {Name: "top-1 agree", Numeric: true}, {Name: "accuracy", Numeric: true}}}
		for i, l := range res.PerLayer {
			t.Rows = append(t.Rows, []report.Cell{report.Int(int64(i)), report.Text(l.Name), report.Num("%.4g", l.MaxAbs), report.Num("%.6f", l.Cosine),
				percentCell(l.Top1), percentCell(l.Accuracy)})
		}
		r.Tables = append(r.Tables, t)
	}
	if res.Eval != nil {
		r.Tables = append(r.Tables, outputTable("Outputs: float (A) against quantized (B)", res.Eval))
	}
	return r, nil
}

// actionKind shortens a node's action to its operator and type for the legend:
// "MatMulInteger int8 per-channel" stays, anything after a parenthesis goes.
func actionKind(a string) string {
	if i := strings.Index(a, " ("); i > 0 {
		a = a[:i]
	}
	return a
}

func percentCell(p *float64) report.Cell {
	if p == nil {
		return report.Cell{Text: "-", Value: math.NaN()}
	}
	return report.Num("%.2f%%", 100**p)
}

// writeReport fills --report for a GGUF quantization (nothing without one).
func (o *ggufQuantOptions) writeReport(in string, res *ggufQuantResult) error {
	if o.rep == nil {
		return nil
	}
	r, err := ggufQuantReport(in, res)
	if err != nil {
		return err
	}
	return o.rep.finish(r, res)
}

// writeReport fills --report for an ONNX quantization (nothing without one).
func (f *quantizeFlags) writeReport(in, out string, res *quantizeResult) error {
	if f.rep == nil {
		return nil
	}
	r, err := onnxQuantReport(in, out, res)
	if err != nil {
		return err
	}
	return f.rep.finish(r, res)
}

// ggufEvalReport is quantize's report for several GGUF types or --eval TEXT: size and
// cost of each type (perplexity ratio, KL divergence, top-1 agreement against the
// input), and KL against bits per weight.
func ggufEvalReport(rep *quantEvalReport) (*report.Report, error) {
	r := &report.Report{Kind: "quantize-gguf-eval", Title: "refit quantize: the cost of each type", Models: []report.Model{modelFacts("input", rep.Source)}}
	if rep.Text != "" {
		r.Figures = append(r.Figures, figure("text", "%s", rep.Text))
	}
	if rep.Perplexity > 0 {
		r.Figures = append(r.Figures, figure("input perplexity", "%.4f", rep.Perplexity))
	}
	n := len(rep.Results)
	types := make([]string, n)
	bpw, ratio, klMean, kl95, kl99, top1 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	hasEval := false
	t := report.Table{Title: "Types", Columns: []report.Column{{Name: "type"}, {Name: "output"}, {Name: "bytes", Numeric: true}, {Name: "bits/weight", Numeric: true},
		{Name: "PPL", Numeric: true}, {Name: "PPL ratio", Numeric: true}, {Name: "KL mean", Numeric: true}, {Name: "KL p95", Numeric: true},
		{Name: "KL p99", Numeric: true}, {Name: "KL max", Numeric: true}, {Name: "top-1", Numeric: true}}}
	for i, res := range rep.Results {
		types[i] = res.Type
		r.Models = append(r.Models, modelFacts(res.Type, res.Output))
		var q struct {
			Plan struct {
				BitsPerWeight float64 `json:"bits_per_weight"`
			} `json:"plan"`
		}
		if err := json.Unmarshal(res.Quantize, &q); err == nil {
			bpw[i] = q.Plan.BitsPerWeight
		}
		row := []report.Cell{report.Text(res.Type), report.Text(res.Output), report.Int(res.Bytes), report.Num("%.4f", bpw[i])}
		ratio[i], klMean[i], kl95[i], kl99[i], top1[i] = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		if ev := res.Eval; ev != nil && ev.Reference != nil {
			hasEval = true
			c := ev.Reference
			ratio[i], klMean[i], kl95[i], kl99[i], top1[i] = c.PerplexityRatio, c.KLMean, c.KL95, c.KL99, c.Top1
			row = append(row, report.Num("%.4f", ev.Perplexity), report.Num("%.4f", c.PerplexityRatio), report.Num("%.5f", c.KLMean),
				report.Num("%.5f", c.KL95), report.Num("%.5f", c.KL99), report.Num("%.4f", c.KLMax), report.Num("%.2f%%", 100*c.Top1))
		} else {
			for range 7 {
				row = append(row, report.Cell{Text: "-", Value: math.NaN()})
			}
		}
		t.Rows = append(t.Rows, row)
	}
	p, err := report.Bars("Bits per weight per type", "the whole file's bytes x 8 / parameters", report.Axes{Y: "bits per weight"}, types, bpw, nil)
	if err != nil {
		return nil, err
	}
	r.Plots = append(r.Plots, p)
	if hasEval {
		on := "on " + rep.Text + ", against " + rep.Source
		if p, err = report.GroupedBars("KL divergence per type", "KL(input || output) per scored token, nats; "+on, report.Axes{Y: "KL (nats)"}, types,
			report.Series{Name: "mean", Y: klMean}, report.Series{Name: "p95", Y: kl95}, report.Series{Name: "p99", Y: kl99}); err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
		if p, err = report.GroupedBars("Top-1 agreement and perplexity ratio per type", on, report.Axes{Y: "fraction / ratio", YMin: 0, YMax: math.Max(1.05, maxFinite(ratio)*1.05)}, types,
			report.Series{Name: "top-1 agreement", Y: top1}, report.Series{Name: "PPL(output) / PPL(input)", Y: ratio}); err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
		// By size, so the line joins neighbours.
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(bpw[a], bpw[b]) })
		x, y := make([]float64, n), make([]float64, n)
		for i, k := range order {
			x[i], y[i] = bpw[k], klMean[k]
		}
		if p, err = report.Line("KL divergence against size", "each point a type; lower left is better", report.Axes{X: "bits per weight", Y: "mean KL (nats)", LogY: anyPositive(klMean)},
			report.Series{Name: "mean KL", X: x, Y: y}); err != nil {
			return nil, err
		}
		r.Plots = append(r.Plots, p)
	}
	r.Tables = append(r.Tables, t)
	return r, nil
}

func maxFinite(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			m = math.Max(m, x)
		}
	}
	return m
}

// writeEvalReport fills --report for several GGUF types or --eval (nothing without one).
func writeEvalReport(o *ggufQuantOptions, rep *quantEvalReport) error {
	if o.rep == nil {
		return nil
	}
	r, err := ggufEvalReport(rep)
	if err != nil {
		return err
	}
	return o.rep.finish(r, rep)
}
