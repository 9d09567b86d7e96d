package refit_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

// TestPendingErrorsNameTarget: errors about an output name the path the user gave,
// never the temporary file beside it.
func TestPendingErrorsNameTarget(t *testing.T) {
	dir := t.TempDir()
	noTemp := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if strings.Contains(err.Error(), ".tmp") {
			t.Errorf("error %q shows the temporary file", err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %s", err, w)
			}
		}
	}
	t.Run("missing folder", func(t *testing.T) {
		_, err := refit.CreatePending(filepath.Join(dir, "nope", "x.pt"), false)
		noTemp(t, err, filepath.Join(dir, "nope"), "does not exist")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("CreatePending(missing folder) = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("folder is a file", func(t *testing.T) {
		file := filepath.Join(dir, "file")
		if err := os.WriteFile(file, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := refit.CreatePending(filepath.Join(file, "x.pt"), false)
		noTemp(t, err, file, "not a folder")
	})
	t.Run("target is a folder", func(t *testing.T) {
		target := filepath.Join(dir, "adir")
		if err := os.MkdirAll(filepath.Join(target, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		pf, err := refit.CreatePending(target, true)
		if err != nil {
			t.Fatal(err)
		}
		noTemp(t, pf.Commit(), target, "is a folder")
		if left, _ := filepath.Glob(filepath.Join(dir, ".tmp*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
	t.Run("write error", func(t *testing.T) {
		target := filepath.Join(dir, "w.pt")
		pf, err := refit.CreatePending(target, false)
		if err != nil {
			t.Fatal(err)
		}
		pf.File.Close() // every later write fails
		_, err = pf.Write([]byte("x"))
		noTemp(t, err, target)
		_, err = pf.ReadFrom(strings.NewReader("x"))
		noTemp(t, err, target)
		pf.Abort()
	})
}
