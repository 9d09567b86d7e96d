package refit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestPendingFileNameAndStaleCleanup(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model.safetensors")
	stale := filepath.Join(dir, fmt.Sprintf("%s%d-1-model.safetensors", refit.TempPrefix, deadPID(t)))
	staleDir := filepath.Join(dir, fmt.Sprintf("%s%d-2-model.safetensors", refit.TempPrefix, deadPID(t)))
	live := filepath.Join(dir, fmt.Sprintf("%s%d-1-model.safetensors", refit.TempPrefix, os.Getppid()))
	other := filepath.Join(dir, fmt.Sprintf("%s%d-1-other.safetensors", refit.TempPrefix, deadPID(t)))
	for _, f := range []string{stale, live, other} {
		if err := os.WriteFile(f, []byte("left over"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(staleDir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := refit.CreatePending(target, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Abort()
	base := filepath.Base(p.Name())
	if !strings.HasPrefix(base, fmt.Sprintf("%s%d-", refit.TempPrefix, os.Getpid())) || !strings.HasSuffix(base, "-model.safetensors") {
		t.Errorf("temporary name %q does not name the PID and the target", base)
	}
	for _, f := range []string{stale, staleDir} {
		if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s of a dead process survived: %v", filepath.Base(f), err)
		}
	}
	for _, f := range []string{live, other} {
		if _, err := os.Lstat(f); err != nil {
			t.Errorf("%s (live process or other target) was removed: %v", filepath.Base(f), err)
		}
	}
	// A second pending file of this process for the same target is not stale.
	q, err := refit.CreatePending(target, false)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Abort()
	if _, err := os.Lstat(p.Name()); err != nil {
		t.Errorf("own pending file removed as stale: %v", err)
	}
}

func TestPendingFileContext(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.bin")
	ctx, cancel := context.WithCancel(context.Background())
	p, err := refit.CreatePendingContext(ctx, target, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte("some")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := p.Write([]byte("more")); !errors.Is(err, context.Canceled) {
		t.Errorf("Write after cancel = %v, want context.Canceled", err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := p.ReadFrom(src); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFrom after cancel = %v, want context.Canceled", err)
	}
	if err := p.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel = %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("cancelled output left %d files", len(entries))
	}
}

func TestPendingFileReadFromCopiesAll(t *testing.T) {
	dir := t.TempDir()
	src, err := os.Open(os.Args[0]) // a file of some MB
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st, _ := src.Stat()
	p, err := refit.CreatePendingContext(context.Background(), filepath.Join(dir, "copy"), false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.ReadFrom(src)
	if err != nil || n != st.Size() {
		t.Fatalf("ReadFrom = %d, %v; want %d", n, err, st.Size())
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(os.Args[0])
	b, _ := os.ReadFile(filepath.Join(dir, "copy"))
	if string(a) != string(b) {
		t.Error("copied file differs")
	}
}

// TestAbortPending runs in a child process: AbortPending ends the process's ability to commit.
func TestAbortPending(t *testing.T) {
	if dir := os.Getenv("REFIT_TEST_ABORT_DIR"); dir != "" {
		p, err := refit.CreatePending(filepath.Join(dir, "a.bin"), false)
		if err != nil {
			os.Exit(3)
		}
		p.WriteString("partial")
		d, err := refit.CreatePendingDir(filepath.Join(dir, "b"))
		if err != nil {
			os.Exit(3)
		}
		os.WriteFile(filepath.Join(d, "x"), []byte("x"), 0o600)
		refit.AbortPending()
		if err := p.Commit(); err == nil {
			os.Exit(4)
		}
		if _, err := refit.CreatePending(filepath.Join(dir, "c.bin"), false); err == nil {
			os.Exit(5)
		}
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAbortPending$")
	cmd.Env = append(os.Environ(), "REFIT_TEST_ABORT_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("AbortPending left %d files", len(entries))
	}
}

func TestPendingFileCommitErrorNamesTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "adir")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil { // a non-empty folder cannot be replaced
		t.Fatal(err)
	}
	p, err := refit.CreatePending(target, true)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Commit()
	if err == nil {
		t.Fatal("Commit over a non-empty folder succeeded")
	}
	if strings.Contains(err.Error(), refit.TempPrefix) || !strings.Contains(err.Error(), target) {
		t.Errorf("Commit error %q shows the temporary name or not the target", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("failed commit left %d entries, want only the folder", len(entries))
	}
}
