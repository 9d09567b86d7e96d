package refit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTool is a shell script standing in for a system tool in TestSetup: it records its
// arguments in calls.log and prints noise that must stay out of setup's own output.
const fakeTool = `#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_DIR/calls.log"
if [ "$(basename "$0") $1 $2" = "go env GOPATH" ]; then echo "$FAKE_DIR/gopath"; exit 0; fi
echo "noise from $(basename "$0"): 150 lines of progress"
case "$(basename "$0")" in
dpkg-query)
  for p in "$@"; do
    case "$p" in -*) continue;; esac
    [ "$p" = "$FAKE_DPKG_MISSING" ] || echo "$p install ok installed"
  done;;
npm)
  [ -n "$FAKE_NPM_FAIL" ] && { echo "npm ERR! something broke"; exit 1; }
  mkdir -p node_modules/@s/b && echo '{"version": "2.0.0"}' > node_modules/@s/b/package.json;;
esac
exit 0
`

// TestSetup runs scripts/setup against fake apt, dpkg, npm and go: it installs only what
// is missing, keeps their output in its log (printed only when a step fails), and a
// second run does nothing and prints nothing.
func TestSetup(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is needed by scripts/setup's npm check")
	}
	repo := t.TempDir()
	fake := filepath.Join(repo, "fakebin")
	for _, d := range []string{"scripts", "fakebin", "node_modules/a"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := os.ReadFile("scripts/setup")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"scripts/setup":               string(script),
		"package.json":                `{"dependencies": {"a": "1.0.0", "@s/b": "2.0.0"}}`,
		"package-lock.json":           `{"packages": {"node_modules/a": {"version": "1.0.0"}, "node_modules/@s/b": {"version": "2.0.0"}}}`,
		"node_modules/a/package.json": `{"version": "1.0.0", "exports": {".": "./index.js"}}`,
	}
	for _, tool := range []string{"dpkg-query", "apt-get", "sudo", "npm", "go"} {
		files["fakebin/"+tool] = fakeTool
	}
	if err := os.MkdirAll(filepath.Join(repo, "gopath", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	files["gopath/bin/staticcheck"] = "#!/bin/sh\necho 'staticcheck 2026.2.2 (0.8.2)'\n"
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logFile := filepath.Join(repo, "setup.log")
	run := func(env ...string) (stdout, stderr, calls string, err error) {
		t.Helper()
		os.Remove(filepath.Join(repo, "calls.log"))
		cmd := exec.Command("bash", filepath.Join(repo, "scripts", "setup"))
		cmd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"),
			"FAKE_DIR="+repo, "REFIT_SETUP_LOG="+logFile, "REFIT_SETUP_MODELS=0")
		cmd.Env = append(cmd.Env, env...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err = cmd.Run()
		c, _ := os.ReadFile(filepath.Join(repo, "calls.log"))
		return o.String(), e.String(), string(c), err
	}

	// @s/b is missing: npm ci runs, its noise goes to the log only.
	out, errOut, calls, err := run()
	if err != nil || out != "" || !strings.Contains(calls, "npm ci") || strings.Contains(errOut, "noise") {
		t.Errorf("first run: err %v, stdout %q, stderr %q, calls %q; want npm ci, quiet", err, out, errOut, calls)
	}
	if b, _ := os.ReadFile(logFile); !bytes.Contains(b, []byte("noise from npm")) {
		t.Errorf("log %q lacks npm's output", b)
	}
	// Everything there: nothing installed, nothing printed.
	out, errOut, calls, err = run()
	if err != nil || out != "" || errOut != "" || strings.Contains(calls, "npm") || strings.Contains(calls, "apt-get") {
		t.Errorf("second run: err %v, stdout %q, stderr %q, calls %q; want no installs and no output", err, out, errOut, calls)
	}
	// One apt package missing: only it is installed.
	out, errOut, calls, err = run("FAKE_DPKG_MISSING=python3-onnx")
	if err != nil || out != "" || !strings.Contains(calls, "apt-get install -y -q --no-install-recommends python3-onnx\n") || strings.Contains(errOut, "noise") {
		t.Errorf("apt run: err %v, stdout %q, stderr %q, calls %q; want apt-get install python3-onnx alone, quiet", err, out, errOut, calls)
	}
	// A failing step fails setup and shows its output.
	os.RemoveAll(filepath.Join(repo, "node_modules", "@s"))
	_, errOut, _, err = run("FAKE_NPM_FAIL=1")
	if err == nil || !strings.Contains(errOut, "npm ERR! something broke") {
		t.Errorf("failing npm: err %v, stderr %q; want a failure showing npm's output", err, errOut)
	}
}
