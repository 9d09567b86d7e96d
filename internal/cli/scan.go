package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/scan"
)

func init() { commands = append(commands, newScanCmd) }

// scanResult is one file's entry in `refit scan --json`.
type scanResult struct {
	File     string         `json:"file"`
	Level    string         `json:"level"` // worst finding: safe, unknown or dangerous
	Findings []scan.Finding `json:"findings"`
	Errors   []string       `json:"errors"`
	Note     string         `json:"note,omitempty"`
}

func newScanCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scan FILE...",
		Short: "List the globals pickles reference, as safe, unknown or dangerous, without loading them",
		Long: `Scan reads pickles (raw, concatenated, or inside torch zip/tar files, npz and nested
archives) and lists every global they reference: safe (the torch/numpy allowlist needed
to load tensors), unknown (e.g. a model class: loading it runs its module's code) or
dangerous (os, subprocess, eval, getattr, ...). Nothing is executed. Containers are read
as torch.load and numpy.load read them; one they would read differently is dangerous.
Formats that hold no pickles (safetensors, GGUF, ONNX, TFLite) are reported as such.

Exit codes:
  0   every file is clean: only safe globals, no errors
  1   unknown globals, or a file could not be read or fully scanned
  2   dangerous globals
  64  usage error`,
		Args: args(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			code := ExitOK
			results := []scanResult{}
			for _, name := range files {
				if err := e.ctx.Err(); err != nil {
					return err
				}
				res, err := scanOneFile(name)
				if err != nil {
					fmt.Fprintf(e.stderr, "refit: scan: %v\n", err)
					code = max(code, ExitFailure)
					continue
				}
				code = max(code, scanExitCode(res))
				if asJSON {
					results = append(results, res)
				} else {
					printScan(e.stdout, res)
				}
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			}
			if code != ExitOK {
				return silentExit(code)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print results as JSON")
	return cmd
}

func scanOneFile(name string) (scanResult, error) {
	f, err := openScanned(name)
	if err != nil {
		return scanResult{}, err
	}
	defer f.Close()
	size := f.Size()
	var rep *scan.Report
	if ft, err := refit.Sniff(f, size, name); err == nil {
		if _, ok := scan.NoCode(ft.Name); ok {
			rep, err = scan.ScanNoCode(f, size, name, ft.Name)
			if err != nil {
				return scanResult{}, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if rep == nil {
		if rep, err = scan.Scan(f, size, name); err != nil {
			return scanResult{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return scanResult{File: name, Level: rep.Worst().String(), Findings: rep.Findings, Errors: rep.Errors, Note: rep.Note}, nil
}

// openScanned opens a local file as a plain file (not mapped) or a remote one (s3://,
// https://) for ranged reads.
func openScanned(name string) (refit.File, error) {
	if refit.IsRemote(name) {
		return refit.OpenFile(name)
	}
	f, err := refit.OpenRegular(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return sizedOSFile{f, st.Size()}, nil
}

type sizedOSFile struct {
	*os.File
	size int64
}

func (f sizedOSFile) Size() int64 { return f.size }

func scanExitCode(r scanResult) int {
	switch {
	case r.Level == scan.Dangerous.String():
		return ExitDangerous
	case r.Level == scan.Unknown.String() || len(r.Errors) > 0:
		return ExitFailure
	}
	return ExitOK
}

// printScan prints one file's findings as a table, one row per distinct (path, global),
// the most dangerous first.
func printScan(w io.Writer, r scanResult) {
	type row struct {
		path, global string
		level        scan.Level
		count        int
		note         string
	}
	var rows []*row
	index := map[[2]string]*row{}
	for _, f := range r.Findings {
		k := [2]string{f.Path, f.Global()}
		if x, ok := index[k]; ok {
			x.count++
			if f.Level > x.level {
				x.level, x.note = f.Level, f.Note
			}
			continue
		}
		x := &row{path: f.Path, global: f.Global(), level: f.Level, count: 1, note: f.Note}
		index[k] = x
		rows = append(rows, x)
	}
	slices.SortStableFunc(rows, func(a, b *row) int { return cmp.Compare(b.level, a.level) })
	status := r.Level
	if len(r.Errors) > 0 && status == scan.Safe.String() {
		status = "incomplete"
	}
	if r.Note != "" && len(rows) == 0 && len(r.Errors) == 0 {
		fmt.Fprintf(w, "%s: %s\n", r.File, r.Note)
		return
	}
	fmt.Fprintf(w, "%s: %s (%d globals, %d errors)\n", r.File, status, len(rows), len(r.Errors))
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PATH\tGLOBAL\tLEVEL\tCOUNT\tNOTE")
		for _, x := range rows {
			note := x.note
			if x.level == scan.Safe {
				note = ""
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%s\n", x.path, x.global, x.level, x.count, note)
		}
		tw.Flush()
	}
	for _, msg := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", msg)
	}
}
