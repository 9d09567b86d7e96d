package testtool

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TFTableRow is one real TF-family model of the README's table: what the interop tests
// measured converting it to ONNX and running it against the original runtime.
// internal/tftable renders the rows as Markdown.
type TFTableRow struct {
	Family    string `json:"family"`    // "TF.js graph", "TF.js layers", "TFLite", "Keras .h5"
	Source    string `json:"source"`    // where the model comes from: npm package@version or Debian package
	Model     string `json:"model"`     // file or model name
	Reference string `json:"reference"` // the original runtime compared with ("" when none could run it)
	Converts  bool   `json:"converts"`
	Why       string `json:"why,omitempty"` // why it does not convert or run, or a note
	ORTRuns   bool   `json:"ort_runs"`
	// Errors are max |runtime - reference| / the output's scale over every output;
	// nil when not measured.
	ORTErr   *float64 `json:"ort_err,omitempty"`
	RefitErr *float64 `json:"refit_err,omitempty"`
	TorchErr *float64 `json:"torch_err,omitempty"` // the generated PyTorch module (onnx2torch)
}

// Err returns a pointer to v for the error fields, nil for NaN (not measured).
func Err(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// AppendTFTableRow appends r as one JSON line to the file $REFIT_TF_TABLE names, when
// set; the interop tests of several packages append to the same file (one write per
// row, O_APPEND), and internal/tftable turns it into the README's table.
func AppendTFTableRow(t testing.TB, r TFTableRow) {
	t.Helper()
	file := os.Getenv("REFIT_TF_TABLE")
	if file == "" {
		return
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// NPMSource returns "pkg@version" for an npm package installed under nodeModules, or
// pkg alone when its package.json cannot be read.
func NPMSource(nodeModules, pkg string) string {
	b, err := os.ReadFile(filepath.Join(nodeModules, pkg, "package.json"))
	if err != nil {
		return pkg
	}
	var p struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(b, &p) != nil || p.Version == "" {
		return pkg
	}
	return pkg + "@" + p.Version
}
