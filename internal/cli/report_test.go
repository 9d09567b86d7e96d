package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite testdata/reportschema/*.txt")

// reportCase is one command run with --json and --report.
type reportCase struct {
	kind string                       // report kind: file names and golden schema
	args func(models string) []string // without --json and --report
	svgs int                          // plots the page must hold at least
}

// reportCases run in order in one folder: the diffs compare earlier outputs.
var reportCases = []reportCase{
	{"convert", func(m string) []string {
		return []string{"convert", filepath.Join(m, "mnist", "mnist_cnn.pt"), "cnn.safetensors", "--dtype", "f16", "--verbose"}
	}, 2},
	{"convert-onnx-half", func(m string) []string {
		return []string{"convert", filepath.Join(m, "mnist", "mnist_cnn.onnx"), "cnn16.onnx", "--dtype", "f16"}
	}, 2},
	{"convert-gguf-hf", func(m string) []string {
		return []string{"convert", filepath.Join(m, "llm", "llama-f16.gguf"), "hf", "--to", "safetensors", "--verbose"}
	}, 2},
	{"convert-hf-gguf", func(m string) []string { return []string{"convert", "hf", "hf.gguf", "--dtype", "bf16", "--verbose"} }, 2},
	{"convert-graph", func(m string) []string {
		return []string{"convert", filepath.Join("tf", "savedmodel"), "savedmodel.onnx"}
	}, 2},
	{"quantize-gguf", func(m string) []string {
		return []string{"quantize", filepath.Join(m, "llm", "llama-f16.gguf"), "q8.gguf", "--type", "Q8_0"}
	}, 3},
	{"quantize-gguf-eval", func(m string) []string {
		return []string{"quantize", filepath.Join(m, "llm", "llama-f16.gguf"), "qe.gguf", "--type", "Q8_0,Q4_K_M,Q4_0", "--allow-fallback",
			"--eval", filepath.Join("llm", "eval.txt"), "--eval-chunks", "3"}
	}, 4},
	{"quantize-onnx", func(m string) []string {
		return []string{"quantize", filepath.Join(m, "quant", "digits_mlp.onnx"), "digits_q.onnx", "--method", "static",
			"--calib", filepath.Join(m, "quant", "digits_calib.npz"), "--eval", filepath.Join(m, "quant", "digits_eval.npz")}
	}, 5},
	{"prune", func(m string) []string {
		return []string{"prune", filepath.Join(m, "mnist", "mnist_cnn.onnx"), "cnn_pruned.onnx", "--sparsity", "0.6",
			"--data", filepath.Join(m, "mnist", "test.npz")}
	}, 3},
	{"distill", func(m string) []string {
		return []string{"distill", "--teacher", filepath.Join(m, "mnist", "mnist_cnn.onnx"), "--student", filepath.Join(m, "distill", "student_mlp.onnx"),
			"--data", filepath.Join(m, "mnist", "test.npz"), "--val", filepath.Join(m, "mnist", "test.npz"), "--epochs", "3", "--out", "mlp.onnx"}
	}, 2},
	{"optimize", func(m string) []string {
		return []string{"optimize", filepath.Join(m, "mnist", "mnist_cnn_bn.onnx"), "cnn_opt.onnx"}
	}, 2},
	{"diff-models", func(m string) []string {
		return []string{"diff", filepath.Join(m, "mnist", "mnist_cnn.onnx"), "cnn_pruned.onnx", "--data", filepath.Join(m, "mnist", "test.npz")}
	}, 3},
	{"diff-checkpoints", func(m string) []string {
		return []string{"diff", filepath.Join(m, "mnist", "mnist_cnn.pt"), "cnn.safetensors"}
	}, 2},
}

// writeReports runs every report case in dir and returns each case's --json output.
// The commands run in dir with the models linked there, so the pages show short
// paths (models/mnist/mnist_cnn.onnx), as a user's would.
func writeReports(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	for _, d := range []string{"models", "llm"} { // testdata/llm: texts
		if err := os.Symlink(filepath.Join(testtool.RepoRoot(), "testdata", d), filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(testtool.RepoRoot(), "tf2onnx", "testdata"), filepath.Join(dir, "tf")); err != nil { // graphs
		t.Fatal(err)
	}
	t.Chdir(dir)
	out := map[string][]byte{}
	for _, c := range reportCases {
		args := append(c.args("models"), "--json", "--report", c.kind+".html")
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), args, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("refit %s = exit %d; stderr:\n%s", strings.Join(args, " "), code, stderr.String())
		}
		out[c.kind] = stdout.Bytes()
	}
	return out
}

// embeddedJSON is the command result a report page carries.
func embeddedJSON(t *testing.T, page []byte) []byte {
	t.Helper()
	const open = `<script type="application/json" id="refit-data">`
	i := bytes.Index(page, []byte(open))
	if i < 0 {
		t.Fatal("the page holds no embedded JSON")
	}
	rest := page[i+len(open):]
	return rest[:bytes.Index(rest, []byte("</script>"))]
}

// schemaOf lists the key paths of a JSON value, sorted: "plan.tensors[].name".
func schemaOf(v any, prefix string, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			into[p] = true
			schemaOf(e, p, into)
		}
	case []any:
		for _, e := range x {
			schemaOf(e, prefix+"[]", into)
		}
	}
}

// TestReportJSON runs every command that writes a report: its --json output has the
// field names recorded in testdata/reportschema (go test -run TestReportJSON
// -update-schema rewrites them), and the page holds the plots and embeds that same JSON.
func TestReportJSON(t *testing.T) {
	goldens, err := filepath.Abs(filepath.Join("testdata", "reportschema")) // before writeReports changes directory
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	outputs := writeReports(t, dir)
	for _, c := range reportCases {
		t.Run(c.kind, func(t *testing.T) {
			var v any
			if err := json.Unmarshal(outputs[c.kind], &v); err != nil {
				t.Fatalf("--json output: %v", err)
			}
			keys := map[string]bool{}
			schemaOf(v, "", keys)
			var lines []string
			for k := range keys {
				lines = append(lines, k)
			}
			slices.Sort(lines)
			got := strings.Join(lines, "\n") + "\n"
			golden := filepath.Join(goldens, c.kind+".txt")
			if *updateSchema {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestReportJSON -update-schema writes it)", err)
			}
			if got != string(want) {
				t.Errorf("refit %s --json field names differ from %s (go test -run TestReportJSON -update-schema rewrites it):\n got:\n%s\nwant:\n%s", c.kind, golden, got, want)
			}
			page, err := os.ReadFile(filepath.Join(dir, c.kind+".html"))
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(page, []byte("<svg")); n < c.svgs {
				t.Errorf("%s report has %d plots, want at least %d", c.kind, n, c.svgs)
			}
			if meta := `<meta name="refit-report" content="` + c.kind + `">`; !bytes.Contains(page, []byte(meta)) {
				t.Errorf("the page does not name its kind: no %s", meta)
			}
			var embedded, printed bytes.Buffer
			if err := json.Compact(&embedded, embeddedJSON(t, page)); err != nil {
				t.Fatal(err)
			}
			json.Compact(&printed, outputs[c.kind])
			var a, b any
			json.Unmarshal(embedded.Bytes(), &a)
			json.Unmarshal(printed.Bytes(), &b)
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s report embeds other data than --json prints", c.kind)
			}
		})
	}
}

// TestReportRefusesExisting: --report names a file that exists: without --force the
// command fails before doing anything, and the file is kept.
func TestReportRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	rep, out := filepath.Join(dir, "r.html"), filepath.Join(dir, "o.onnx")
	if err := os.WriteFile(rep, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(testtool.RepoRoot(), "testdata", "models", "mnist", "mnist_cnn_bn.onnx")
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"optimize", in, out, "--report", rep}, nil, &stdout, &stderr); code == 0 {
		t.Fatal("optimize overwrote an existing --report file without --force")
	}
	if b, _ := os.ReadFile(rep); string(b) != "keep" {
		t.Errorf("the existing report now holds %q", b)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the output was written although the report could not be")
	}
}

// consoleError matches what Chromium logs (--enable-logging=stderr) for a console
// message at error level or an uncaught exception.
var consoleError = regexp.MustCompile(`(?i):(ERROR|WARNING|INFO):CONSOLE\(\d+\)\] "(Uncaught|.*error)|Uncaught `)

// chromium runs headless Chromium on a page from disk: the DOM after scripts ran,
// and Chromium's log.
func chromium(t *testing.T, bin, page string, extra ...string) (dom, log string) {
	t.Helper()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
		"--user-data-dir=" + t.TempDir()}, extra...)
	args = append(args, "--dump-dom", "file://"+page)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", page, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// findChromium returns Debian's chromium, skipping the test without it (failing with
// REFIT_REQUIRE_TOOLS=1).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testtool.Missing(t, "chromium (Debian package chromium)", exec.ErrNotFound)
	return ""
}

// TestReportChromium opens every report kind from disk in headless Chromium: the
// page's script runs to its end with no console error, the plots are in the DOM, and
// a screenshot is taken. REFIT_REPORT_SCREENSHOTS=DIR keeps the screenshots there
// (how doc/report-*.png are made).
func TestReportChromium(t *testing.T) {
	bin := findChromium(t)
	dir := t.TempDir()
	// The check itself: a page with a script error must be caught.
	bad := filepath.Join(dir, "bad.html")
	os.WriteFile(bad, []byte(`<!DOCTYPE html><html><body><svg></svg><script>undefinedFunction();</script></body></html>`), 0o644)
	if _, log := chromium(t, bin, bad); !consoleError.MatchString(log) {
		t.Fatalf("a page with a script error logged no console error; the check would miss real ones. Log:\n%s", log)
	}
	writeReports(t, dir)
	shots := os.Getenv("REFIT_REPORT_SCREENSHOTS")
	for _, c := range reportCases {
		t.Run(c.kind, func(t *testing.T) {
			page := filepath.Join(dir, c.kind+".html")
			dom, log := chromium(t, bin, page)
			if m := consoleError.FindString(log); m != "" {
				t.Errorf("console error opening %s report: %s\nlog:\n%s", c.kind, m, log)
			}
			if !strings.Contains(dom, `data-ready="sortable"`) {
				t.Errorf("the %s report's script did not run to its end", c.kind)
			}
			if n := strings.Count(dom, "<svg"); n < c.svgs {
				t.Errorf("%s report: the DOM holds %d svg elements, want at least %d", c.kind, n, c.svgs)
			}
			if n := strings.Count(dom, "<path"); n < 10*c.svgs {
				t.Errorf("%s report: %d SVG paths for %d plots: plots look empty", c.kind, n, c.svgs)
			}
			png := filepath.Join(t.TempDir(), c.kind+".png")
			if shots != "" {
				png = filepath.Join(shots, "report-"+c.kind+".png")
			}
			cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir="+t.TempDir(),
				"--screenshot="+png, "--window-size=1000,1400", "file://"+page)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("screenshot: %v\n%s", err, out)
			}
			b, err := os.ReadFile(png)
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("no PNG screenshot of the %s report (%v)", c.kind, err)
			}
		})
	}
}
