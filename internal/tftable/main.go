// Command tftable renders the real TF-family model table of the README from the JSON
// lines the interop tests append to $REFIT_TF_TABLE (testtool.TFTableRow); a model
// measured twice keeps its last row. testdata/gen/tf_table.sh runs the tests and this.
//
// Usage: go run ./internal/tftable rows.jsonl > table.md
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/refit-ml/refit/internal/testtool"
)

// tolerance is the agreement bound: max error / output scale.
const tolerance = 1e-3

var familyOrder = map[string]int{"TF.js graph": 0, "TF.js layers": 1, "TFLite": 2, "Keras .h5": 3}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tftable rows.jsonl")
		os.Exit(64)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "tftable:", err)
		os.Exit(1)
	}
	defer f.Close()
	rows, err := readRows(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tftable:", err)
		os.Exit(1)
	}
	fmt.Print(render(rows))
}

func readRows(r io.Reader) ([]testtool.TFTableRow, error) {
	byKey := map[string]int{}
	var rows []testtool.TFTableRow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var row testtool.TFTableRow
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		key := row.Family + "\x00" + row.Source + "\x00" + row.Model
		if i, ok := byKey[key]; ok {
			rows[i] = row
			continue
		}
		byKey[key] = len(rows)
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// agrees reports whether a row converts and both runtimes agree with its original
// runtime within the tolerance.
func agrees(r testtool.TFTableRow) bool {
	return r.Converts && r.ORTRuns && r.Reference != "" && r.ORTErr != nil && *r.ORTErr <= tolerance &&
		(r.RefitErr == nil || *r.RefitErr <= tolerance)
}

func render(rows []testtool.TFTableRow) string {
	slices.SortStableFunc(rows, func(a, b testtool.TFTableRow) int {
		return cmp.Or(cmp.Compare(familyOrder[a.Family], familyOrder[b.Family]), cmp.Compare(a.Source, b.Source), cmp.Compare(a.Model, b.Model))
	})
	var sb strings.Builder
	sb.WriteString("| # | format | model | package | converts | ONNX Runtime runs | ONNX Runtime error | Refit runtime error | PyTorch module error | compared with | notes |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	yn := map[bool]string{true: "Y", false: "N"}
	agree := 0
	for i, r := range rows {
		if agrees(r) {
			agree++
		}
		ref := r.Reference
		if ref == "" {
			ref = "none"
		}
		fmt.Fprintf(&sb, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", i+1, r.Family, cell(r.Model), cell(r.Source),
			yn[r.Converts], yn[r.ORTRuns], num(r.ORTErr), num(r.RefitErr), num(r.TorchErr), cell(ref), cell(r.Why))
	}
	fmt.Fprintf(&sb, "\n%d of %d models convert and agree with their original runtime within %g of the output scale (ONNX Runtime and Refit's runtime).\n",
		agree, len(rows), tolerance)
	return sb.String()
}

func num(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.3g", *v)
}

// cell keeps a value on one table row: no pipes or newlines, long errors cut.
func cell(s string) string {
	s = strings.NewReplacer("|", "/", "\n", " ").Replace(s)
	if len(s) > 200 {
		s = s[:197] + "..."
	}
	return s
}
