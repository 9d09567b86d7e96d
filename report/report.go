package report

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
)

// Report is one command's result as a page.
type Report struct {
	Kind    string // the JSON schema of the embedded data: convert, quantize-gguf, prune ... (doc/json.md); in meta refit-report
	Title   string // the page heading, e.g. "refit quantize"
	Command string // the command line that made it
	Version string // Refit's version

	Verdict *Verdict // nil: the command has no pass/fail
	Models  []Model  // input and output, in that order
	Figures []Figure // headline numbers
	Notes   []string // warnings and remarks worth a line each
	Plots   []Plot   // in page order
	Tables  []Table  // below the plots
	JSON    []byte   // the command's --json output, embedded in the page
}

// Verdict is the command's conclusion.
type Verdict struct {
	Pass bool
	Text string
}

// Model describes one side of a transform; zero fields are left out of the card.
type Model struct {
	Role          string // "input", "output", "A", "B"
	Path          string
	Format        string
	Bytes         int64
	Params        int64
	DTypes        []DTypeShare // parameters per type, most first
	BitsPerWeight float64
}

// DTypeShare is how many parameters a model holds in one type.
type DTypeShare struct {
	DType  string
	Params int64
}

// Figure is one headline number with its name, already formatted.
type Figure struct {
	Name, Value string
}

// Plot is one figure of the page: a title, an optional caption and its SVG.
type Plot struct {
	Title   string
	Caption string
	SVG     template.HTML
}

// Table is a sortable table. Numeric columns sort by value.
type Table struct {
	Title   string
	Columns []Column
	Rows    [][]Cell
}

// Column is a table header.
type Column struct {
	Name    string
	Numeric bool
}

// Cell is one table cell: its text and, for numeric columns, the value it sorts by.
type Cell struct {
	Text  string
	Value float64
}

// Text makes a text cell.
func Text(s string) Cell { return Cell{Text: s} }

// Num makes a numeric cell printed with format (fmt verbs); NaN and infinities print as is.
func Num(format string, v float64) Cell { return Cell{Text: fmt.Sprintf(format, v), Value: v} }

// Int makes an integer cell.
func Int(v int64) Cell { return Cell{Text: strconv.FormatInt(v, 10), Value: float64(v)} }

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes":   HumanBytes,
	"count":   humanCount,
	"bpw":     func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) },
	"share":   share,
	"sortkey": sortKey,
}).Parse(pageHTML))

// Write renders r as HTML to w.
func Write(w io.Writer, r *Report) error {
	for _, t := range r.Tables {
		for i, row := range t.Rows {
			if len(row) != len(t.Columns) {
				return fmt.Errorf("report: table %q row %d has %d cells for %d columns", t.Title, i, len(row), len(t.Columns))
			}
		}
	}
	var compact, data bytes.Buffer
	if len(r.JSON) == 0 {
		compact.WriteString("null")
	} else if err := json.Compact(&compact, r.JSON); err != nil {
		return fmt.Errorf("report: the command's JSON: %w", err)
	}
	// Escaped <, > and & cannot end the script element.
	json.HTMLEscape(&data, compact.Bytes())
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct {
		*Report
		JSON template.JS
	}{r, template.JS(data.String())}); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err := buf.WriteTo(w)
	return err
}

// HumanBytes prints n in binary units: 1.50 MiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.2f %ciB", v, "KMGTP"[i-1])
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1f K", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

// share prints a model's type mix: "F16 92.1%, F32 7.9%".
func share(m Model) string {
	var total int64
	for _, d := range m.DTypes {
		total += d.Params
	}
	if total == 0 {
		return ""
	}
	parts := make([]string, len(m.DTypes))
	for i, d := range m.DTypes {
		parts[i] = fmt.Sprintf("%s %.1f%%", d.DType, 100*float64(d.Params)/float64(total))
	}
	return strings.Join(parts, ", ")
}

// sortKey is a cell's data-v attribute: NaN sorts last.
func sortKey(c Cell) string {
	if math.IsNaN(c.Value) {
		return "Infinity"
	}
	return strconv.FormatFloat(c.Value, 'g', -1, 64)
}
