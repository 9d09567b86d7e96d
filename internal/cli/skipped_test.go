package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateSkipped = flag.Bool("update-skipped", false, "rewrite testdata/skipped/*.json")

// TestSkippedJSON checks the "skipped" array of --json against golden files: which
// candidates a partial prune or quantize left alone, and why.
func TestSkippedJSON(t *testing.T) {
	models := filepath.Join("..", "..", "testdata", "models")
	recognizer := filepath.Join(models, "shape", "recognizer.onnx")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"quantize_exclude", []string{"quantize", recognizer, "OUT.onnx", "--op-types", "Conv,MatMul", "--exclude", "/conv1/Conv", "--per-layer=false"}},
		{"quantize_exclude_worst", []string{"quantize", recognizer, "OUT.onnx", "--op-types", "Conv,MatMul", "--exclude-worst", "1"}},
		{"quantize_none_skipped", []string{"quantize", recognizer, "OUT.onnx", "--per-layer=false"}},
		{"prune_magnitude", []string{"prune", recognizer, "OUT.onnx", "--method", "magnitude", "--include", "conv"}},
		{"prune_structured", []string{"prune", filepath.Join(models, "mnist", "mnist_cnn.onnx"), "OUT.onnx", "--method", "structured", "--exclude", "conv1"}},
		{"prune_pt", []string{"prune", filepath.Join(models, "mnist", "mnist_cnn.pt"), "OUT.pt", "--method", "global", "--exclude", "fc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "OUT.onnx" || a == "OUT.pt" {
					args[i] = filepath.Join(dir, a)
				}
			}
			args = append(args, "--json")
			var stdout, stderr bytes.Buffer
			if code := Main(context.Background(), args, nil, &stdout, &stderr); code != ExitOK {
				t.Fatalf("refit %v: exit %d\n%s", args, code, stderr.String())
			}
			var res struct {
				Skipped *json.RawMessage `json:"skipped"`
				Report  struct {
					Skipped *json.RawMessage `json:"skipped"`
				} `json:"report"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("--json output: %v\n%s", err, stdout.String())
			}
			raw := res.Skipped
			if raw == nil {
				raw = res.Report.Skipped // prune: inside the report
			}
			if raw == nil {
				t.Fatalf("--json output has no skipped array:\n%s", stdout.String())
			}
			var got bytes.Buffer
			if err := json.Indent(&got, *raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			golden := filepath.Join("testdata", "skipped", tc.name+".json")
			if *updateSkipped {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -run TestSkippedJSON -update-skipped writes it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("skipped = %s\nwant %s", got.Bytes(), want)
			}
		})
	}
}
