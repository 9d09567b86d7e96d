package cli

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/compare"
	"github.com/refit-ml/refit/report"
)

// reportUsage is the help of every command's --report flag.
const reportUsage = "also write an HTML report (summary, plots, sortable tables; self-contained) to this file"

// reportFlag registers --report on a command.
func reportFlag(f *pflag.FlagSet, dst *string) { f.StringVar(dst, "report", "", reportUsage) }

// pendingReport is a --report file opened before the command's work starts, so a
// report that cannot be written fails the command before anything else is done; it
// is renamed into place only when complete.
type pendingReport struct {
	e    *env
	pf   *refit.PendingFile
	done bool
}

// runWithReport runs a command with --report FILE (path; none when empty): the file
// is opened first, the command's own code fills it (finish on *slot), and a command
// path that wrote none on success gets a report with the summary card alone.
// files are the command's inputs and outputs, which the report must not replace.
func runWithReport(e *env, path string, force bool, slot **pendingReport, card func() *report.Report, run func() error, files ...string) error {
	for _, f := range files {
		if path != "" && f != "" && sameFile(path, f) {
			return usageError{fmt.Errorf("--report %s names a model file of the command", path)}
		}
	}
	rep, err := openReport(e, path, force)
	if err != nil {
		return err
	}
	defer rep.abort()
	*slot = rep
	if err := run(); err != nil {
		return err
	}
	if rep != nil && !rep.done {
		return rep.finish(card(), nil)
	}
	return nil
}

// openReport creates the pending --report file; nil when path is empty.
func openReport(e *env, path string, force bool) (*pendingReport, error) {
	if path == "" {
		return nil, nil
	}
	pf, err := refit.CreatePendingContext(e.ctx, path, force)
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &pendingReport{e: e, pf: pf}, nil
}

// abort removes an uncommitted report; safe on nil and after finish.
func (p *pendingReport) abort() {
	if p != nil {
		p.pf.Abort()
	}
}

// finish renders r with the command's JSON result (res, as --json prints it) and
// moves the file into place. kind names the schema of res.
func (p *pendingReport) finish(r *report.Report, res any) error {
	if p == nil || p.done {
		return nil
	}
	var js bytes.Buffer
	if err := writeJSON(&js, res); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	// Pre-signed URLs among the paths lose their signatures here too (redactingWriter).
	r.JSON = []byte(refit.RedactURLs(js.String()))
	r.Command = refit.RedactURLs(commandLine(p.e.args))
	r.Version = version()
	if err := report.Write(redactingWriter{p.pf}, r); err != nil {
		return err
	}
	p.done = true
	return p.pf.Commit()
}

// commandLine quotes args as a POSIX shell would need them.
func commandLine(args []string) string {
	parts := []string{"refit"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// modelFacts describes the model file at path for the report's card: its format,
// size, parameters and type mix as Refit reads them (headers only). A file Refit
// cannot open still gets its path and size.
func modelFacts(role, path string) report.Model {
	m := report.Model{Role: role, Path: path, Bytes: pathSize(path)}
	src, err := refit.OpenWith(path, &refit.DecodeOptions{})
	if err != nil {
		return m
	}
	defer src.Close()
	m.Format = src.Format
	byType := map[string]int64{}
	var bytes int64
	for _, t := range src.Tensors {
		n := t.NumElements()
		m.Params += n
		byType[t.DType.String()] += n
		if t.Data != nil {
			bytes += t.Size()
		}
	}
	for d, n := range byType {
		m.DTypes = append(m.DTypes, report.DTypeShare{DType: d, Params: n})
	}
	slices.SortFunc(m.DTypes, func(a, b report.DTypeShare) int {
		return cmp.Or(cmp.Compare(b.Params, a.Params), cmp.Compare(a.DType, b.DType))
	})
	if m.Params > 0 {
		m.BitsPerWeight = 8 * float64(bytes) / float64(m.Params)
	}
	return m
}

// pathSize is a file's size, or the sum of a folder's files (shards, TF.js).
func pathSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if !st.IsDir() {
		return st.Size()
	}
	var n int64
	filepath.WalkDir(path, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// seq is 0, 1, ..., n-1 as x values.
func seq(n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(i)
	}
	return x
}

// anyPositive reports whether a log axis would have something to draw.
func anyPositive(v []float64) bool {
	return slices.ContainsFunc(v, func(x float64) bool { return x > 0 && !math.IsInf(x, 0) })
}

// errorPlots draws per-tensor (or per-layer) max abs error and cosine along the
// model's order.
func errorPlots(what string, maxAbs, cosine []float64) ([]report.Plot, error) {
	x := seq(len(maxAbs))
	var plots []report.Plot
	caption := what + "s in file order (the model's depth)"
	ax := report.Axes{X: what + " index", Y: "max |a - b|", LogY: anyPositive(maxAbs)}
	if !ax.LogY {
		caption = "every " + what + " is exact"
	}
	p, err := report.Line("Max abs error per "+what, caption, ax, report.Series{Name: "max abs error", X: x, Y: maxAbs})
	if err != nil {
		return nil, err
	}
	plots = append(plots, p)
	// Cosines of good results all print as 1.000: their distance from 1 on a log axis
	// tells them apart.
	dist := make([]float64, len(cosine))
	for i, c := range cosine {
		dist[i] = 1 - c
	}
	caption = what + "s in file order; 0 is identical"
	p, err = report.Line("Cosine distance per "+what, caption, report.Axes{X: what + " index", Y: "1 - cosine", LogY: anyPositive(dist)},
		report.Series{Name: "1 - cosine", X: x, Y: dist})
	if err != nil {
		return nil, err
	}
	return append(plots, p), nil
}

// tensorDiffTable lists compare.TensorDiff rows.
func tensorDiffTable(title string, diffs []compare.TensorDiff) report.Table {
	t := report.Table{Title: title, Columns: []report.Column{{Name: "#", Numeric: true}, {Name: "tensor"}, {Name: "types"}, {Name: "shape"},
		{Name: "exact"}, {Name: "max abs", Numeric: true}, {Name: "max rel", Numeric: true}, {Name: "cosine", Numeric: true}, {Name: "note"}}}
	for i, d := range diffs {
		t.Rows = append(t.Rows, []report.Cell{report.Int(int64(i)), report.Text(d.Name), report.Text(d.Types), report.Text(d.ShapeA.String()),
			report.Text(fmt.Sprint(d.Exact)), report.Num("%.3g", d.MaxAbs), report.Num("%.3g", d.MaxRel), report.Num("%.6f", d.Cosine), report.Text(d.Note)})
	}
	return t
}

// outputPlots draws a model comparison's per-output agreement: top-1 agreement,
// accuracy of each model and cosine on one chart, KL divergence on another.
func outputPlots(d *modelDiff, nameA, nameB string) ([]report.Plot, error) {
	if d == nil || len(d.Outputs) == 0 {
		return nil, nil
	}
	var names []string
	top1, accA, accB, cosine, kl := []float64{}, []float64{}, []float64{}, []float64{}, []float64{}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	var hasTop1, hasAcc, hasKL bool
	for _, o := range d.Outputs {
		names = append(names, o.Name)
		top1, accA, accB = append(top1, val(o.Top1)), append(accA, val(o.AccuracyA)), append(accB, val(o.AccuracyB))
		cosine, kl = append(cosine, o.Cosine), append(kl, val(o.KL))
		hasTop1, hasAcc, hasKL = hasTop1 || o.Top1 != nil, hasAcc || o.AccuracyA != nil, hasKL || o.KL != nil
	}
	series := []report.Series{{Name: "cosine", Y: cosine}}
	if hasTop1 {
		series = append(series, report.Series{Name: "top-1 agreement", Y: top1})
	}
	if hasAcc {
		series = append(series, report.Series{Name: "accuracy " + nameA, Y: accA}, report.Series{Name: "accuracy " + nameB, Y: accB})
	}
	on := d.Inputs
	if d.RandomInputs == 0 {
		on += " inputs"
	}
	p, err := report.GroupedBars("Agreement per output", "on "+on+"; top-1 and KL for classifier outputs only",
		report.Axes{Y: "fraction", YMin: 0, YMax: 1.05}, names, series...)
	if err != nil {
		return nil, err
	}
	plots := []report.Plot{p}
	if hasKL {
		if p, err = report.Bars("KL divergence per output", "mean KL(softmax(A) || softmax(B)) per row", report.Axes{Y: "KL"}, names, kl, nil); err != nil {
			return nil, err
		}
		plots = append(plots, p)
	}
	return plots, nil
}

// outputTable lists a model comparison's outputs.
func outputTable(title string, d *modelDiff) report.Table {
	t := report.Table{Title: title, Columns: []report.Column{{Name: "output"}, {Name: "shape"}, {Name: "max abs", Numeric: true},
		{Name: "max rel", Numeric: true}, {Name: "cosine", Numeric: true}, {Name: "top-1 agree", Numeric: true}, {Name: "KL", Numeric: true},
		{Name: "accuracy A", Numeric: true}, {Name: "accuracy B", Numeric: true}, {Name: "note"}}}
	if d == nil {
		return t
	}
	opt := func(p *float64, percent bool) report.Cell {
		if p == nil {
			return report.Cell{Text: "-", Value: math.NaN()}
		}
		if percent {
			return report.Num("%.2f%%", 100**p)
		}
		return report.Num("%.3g", *p)
	}
	for _, o := range d.Outputs {
		t.Rows = append(t.Rows, []report.Cell{report.Text(o.Name), report.Text(o.Shape.String()), report.Num("%.3g", o.MaxAbs),
			report.Num("%.3g", o.MaxRel), report.Num("%.6f", o.Cosine), opt(o.Top1, true), opt(o.KL, false),
			opt(o.AccuracyA, true), opt(o.AccuracyB, true), report.Text(o.Note)})
	}
	return t
}

// figure formats a headline number.
func figure(name, format string, v ...any) report.Figure {
	return report.Figure{Name: name, Value: fmt.Sprintf(format, v...)}
}
