package refit_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
)

func writeFiles(t *testing.T, create refit.CreateFunc, names ...string) {
	t.Helper()
	for _, n := range names {
		w, err := create(n)
		if err != nil {
			t.Fatalf("Create(%q) = %v", n, err)
		}
		if _, err := io.WriteString(w, "data of "+n); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

func TestPendingOutputFolder(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "model")
	po, err := refit.CreatePendingOutput(ctx, out, true, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, po.Create, "b.bin", "a.json")
	if got := listDir(t, out); len(got) != 1 { // only the temporary folder
		t.Errorf("before Commit the folder holds %v, want only the temporary folder", got)
	}
	if b, err := os.ReadFile(po.Path("a.json")); err != nil || string(b) != "data of a.json" {
		t.Errorf("Path(a.json) reads %q, %v", b, err)
	}
	if po.Size() != int64(len("data of b.bin")+len("data of a.json")) {
		t.Errorf("Size() = %d", po.Size())
	}
	files, err := po.Commit()
	if err != nil {
		t.Fatalf("Commit = %v", err)
	}
	want := []string{filepath.Join(out, "b.bin"), filepath.Join(out, "a.json")}
	if !slices.Equal(files, want) {
		t.Errorf("Commit = %v, want %v (creation order)", files, want)
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"a.json", "b.bin"}) {
		t.Errorf("folder holds %v after Commit", got)
	}

	t.Run("exists", func(t *testing.T) {
		po, err := refit.CreatePendingOutput(ctx, out, true, false)
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, po.Create, "c.bin", "a.json")
		if _, err := po.Commit(); !errors.Is(err, refit.ErrExists) {
			t.Fatalf("Commit over an existing file = %v, want ErrExists", err)
		}
		if got := listDir(t, out); !slices.Equal(got, []string{"a.json", "b.bin"}) {
			t.Errorf("a refused Commit left %v", got)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		po, err := refit.CreatePendingOutput(ctx, out, true, true)
		if err != nil {
			t.Fatal(err)
		}
		defer po.Abort()
		for _, n := range []string{"", ".", "..", "../x", "a/b", `a\b`} {
			if _, err := po.Create(n); err == nil {
				t.Errorf("Create(%q) succeeded", n)
			}
		}
		writeFiles(t, po.Create, "x")
		if _, err := po.Create("x"); err == nil {
			t.Error("Create of the same name twice succeeded")
		}
	})
}

func TestPendingOutputAbortAndCancel(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "new")
	po, err := refit.CreatePendingOutput(context.Background(), out, true, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, po.Create, "a")
	po.Abort()
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("Abort left %v (the folder it made, or temporary files)", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	po, err = refit.CreatePendingOutput(ctx, filepath.Join(dir, "m.onnx"), false, false)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, po.Create, "m.onnx.data")
	cancel()
	w, err := po.Create("m.onnx")
	if err == nil {
		_, err = w.Write([]byte("x"))
		if err == nil {
			err = w.Close()
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("writing after cancel = %v, want context.Canceled", err)
	}
	if _, err := po.Commit(); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel = %v, want context.Canceled", err)
	}
	if got := listDir(t, dir); len(got) != 0 {
		t.Errorf("a cancelled output left %v", got)
	}
}

// TestPendingOutputCommitFailureLeavesNothing: when a later file cannot be renamed into
// place (here a non-empty folder stands at its name), the files already committed are
// removed again, so no partial output remains.
func TestPendingOutputCommitFailureLeavesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model")
	if err := os.MkdirAll(filepath.Join(out, "a.json", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	po, err := refit.CreatePendingOutput(context.Background(), out, true, true)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, po.Create, "b.bin", "a.json")
	if _, err := po.Commit(); err == nil {
		t.Fatal("Commit over a non-empty folder succeeded")
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"a.json"}) {
		t.Errorf("after a failed Commit the folder holds %v, want only the folder that was there", got)
	}
}
