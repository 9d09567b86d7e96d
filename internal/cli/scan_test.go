package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func scanFixture(name string) string { return filepath.Join("..", "..", "scan", "testdata", name) }

func runScan(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), append([]string{"scan"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestScanExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		want       int
		wantOut    string // substring of stdout
		wantStderr string // substring of stderr
	}{
		{"clean zip", []string{scanFixture("ok_torch_zip.pt")}, ExitOK, "torch._utils._rebuild_tensor_v2", ""},
		{"clean legacy", []string{scanFixture("ok_torch_legacy.pt")}, ExitOK, "safe", ""},
		{"unknown class", []string{scanFixture("unknown_torch_module.pt")}, ExitFailure, "torch.nn.modules.linear.Linear", ""},
		{"dangerous", []string{scanFixture("bad_memo.pkl")}, ExitDangerous, "os.system", ""},
		{"nested", []string{scanFixture("bad_nested.zip")}, ExitDangerous, "inner.zip/model.pt/archive/data.pkl", ""},
		{"worst of several", []string{scanFixture("ok_torch_zip.pt"), scanFixture("unknown_torch_module.pt"), scanFixture("bad_p0_inst.pkl")}, ExitDangerous, "ok_torch_zip.pt: safe", ""},
		{"missing file", []string{filepath.Join(t.TempDir(), "nope.pt")}, ExitFailure, "", "nope.pt"},
		{"missing and dangerous", []string{"/nonexistent/x.pt", scanFixture("bad_memo.pkl")}, ExitDangerous, "os.system", "x.pt"},
		{"not a pickle", []string{"scan_test.go"}, ExitFailure, "error:", ""},
		{"directory", []string{"."}, ExitFailure, "", "not a regular file"},
		{"no args", nil, ExitUsage, "", "Run 'refit help'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runScan(t, tt.args...)
			if code != tt.want {
				t.Errorf("refit scan %q = exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, code, tt.want, out, errs)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("refit scan %q stdout lacks %q:\n%s", tt.args, tt.wantOut, out)
			}
			if !strings.Contains(errs, tt.wantStderr) {
				t.Errorf("refit scan %q stderr lacks %q:\n%s", tt.args, tt.wantStderr, errs)
			}
		})
	}
}

func TestScanJSON(t *testing.T) {
	code, out, errs := runScan(t, "--json", scanFixture("ok_torch_zip.pt"), scanFixture("bad_hidden_member.zip"))
	if code != ExitDangerous {
		t.Fatalf("refit scan --json = exit %d, want %d; stderr %s", code, ExitDangerous, errs)
	}
	var res []struct {
		File     string `json:"file"`
		Level    string `json:"level"`
		Findings []struct {
			Path, Module, Name, Level, Opcode string
			Offset                            int64
		} `json:"findings"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("refit scan --json output is not JSON: %v\n%s", err, out)
	}
	if len(res) != 2 || res[0].Level != "safe" || res[1].Level != "dangerous" {
		t.Fatalf("refit scan --json = %+v, want [safe, dangerous]", res)
	}
	found := false
	for _, f := range res[1].Findings {
		if f.Path == "archive/hidden.pkl" && f.Module == "os" && f.Name == "system" && f.Level == "dangerous" && f.Opcode == "STACK_GLOBAL" {
			found = true
		}
	}
	if !found {
		t.Errorf("refit scan --json findings %+v lack the hidden member's os.system", res[1].Findings)
	}
	if res[0].Errors == nil || res[0].Findings == nil {
		t.Errorf("refit scan --json: errors/findings must be [] not null: %+v", res[0])
	}
}

// TestScanScripts runs the scan scenarios in testdata/scan (txtar files).
func TestScanScripts(t *testing.T) {
	data, err := filepath.Abs(filepath.Join("..", "..", "scan", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("testdata", "scan"),
		Setup: func(env *testscript.Env) error {
			env.Setenv("SCANDATA", data)
			env.Setenv("FORMATDATA", filepath.Join(data, "..", "..", "format"))
			return nil
		},
	})
}
