package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
)

// build compiles refit as the README and scripts do (CGO_ENABLED=0) with extra flags.
func build(t *testing.T, flags ...string) string {
	t.Helper()
	bin, err := testtool.BuildRefit(t.TempDir(), flags...)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("refit --version: %v\n%s", err, out)
	}
	return string(out)
}

// TestStaticBuild checks that the binary is static (no ELF interpreter, no shared
// libraries) and that --version reports the commit and the static build.
func TestStaticBuild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF check on Linux only")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t, "-buildvcs=false", "-ldflags", "-X github.com/refit-ml/refit/internal/cli.commit=0123abcd")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has an ELF interpreter: dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary needs shared libraries %v", libs)
	}
	out := versionOf(t, bin)
	for _, want := range []string{"refit ", "commit 0123abcd", "static (CGO_ENABLED=0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("refit --version = %q, want %q in it", out, want)
		}
	}

	// In a git clone (not a worktree, whose .git is a file Go does not follow), the
	// toolchain stamps the commit itself.
	root := filepath.Join("..", "..")
	if st, err := os.Stat(filepath.Join(root, ".git")); err != nil || !st.IsDir() {
		t.Log("not a git clone: VCS stamping not checked")
		return
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("git rev-parse: %v: VCS stamping not checked", err)
		return
	}
	out = versionOf(t, build(t, "-buildvcs=true"))
	if want := "commit " + strings.TrimSpace(string(head)); !strings.Contains(out, want) {
		t.Errorf("refit --version = %q, want %q in it", out, want)
	}
}
