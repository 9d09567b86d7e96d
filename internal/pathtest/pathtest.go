// Package pathtest checks that a format which references other files (external data,
// weight shards, index shards, checkpoint data files) opens them the way refit.DirFS
// allows: a symlink out of the model's folder is refused with refit.ErrInsecurePath, a
// symlink within the folder is followed, and a FIFO in place of a file is refused
// without blocking.
package pathtest

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/refit-ml/refit"
)

// Open decodes the model in fsys and returns it; Referenced reads every tensor.
type Open func(fsys fs.FS) (*refit.Model, error)

// Referenced copies the model folder src into fresh temporary folders and, in each
// copy, replaces the file ref (slash-separated, relative to src; a file the model
// references) by a symlink out of the folder (absolute and relative), by a symlink to
// a copy elsewhere inside the folder, and by a FIFO. open gets refit.DirFS of the copy.
func Referenced(t *testing.T, src fs.FS, ref string, open Open) {
	t.Helper()
	want, err := digest(open, refit.DirFS(copyTree(t, src)))
	if err != nil {
		t.Fatalf("the unmodified copy: %v", err)
	}
	move := func(t *testing.T, dir, to string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, filepath.FromSlash(ref)), to); err != nil {
			t.Fatal(err)
		}
	}
	link := func(t *testing.T, target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Skipf("symlinks unavailable: %v", err)
		}
	}
	for _, absolute := range []bool{true, false} {
		t.Run(fmt.Sprintf("symlink out, absolute %v", absolute), func(t *testing.T) {
			dir := copyTree(t, src)
			name := filepath.Join(dir, filepath.FromSlash(ref))
			outside := filepath.Join(filepath.Dir(dir), "outside", filepath.Base(name))
			move(t, dir, outside)
			target := outside
			if !absolute {
				var err error
				if target, err = filepath.Rel(filepath.Dir(name), outside); err != nil {
					t.Fatal(err)
				}
			}
			link(t, target, name)
			if _, err := digest(open, refit.DirFS(dir)); !errors.Is(err, refit.ErrInsecurePath) {
				t.Errorf("%s -> %s: err = %v, want refit.ErrInsecurePath", ref, target, err)
			}
		})
	}
	t.Run("symlink inside", func(t *testing.T) {
		dir := copyTree(t, src)
		name := filepath.Join(dir, filepath.FromSlash(ref))
		blob := filepath.Join(dir, "blobs", "0123456789abcdef")
		move(t, dir, blob)
		target, err := filepath.Rel(filepath.Dir(name), blob)
		if err != nil {
			t.Fatal(err)
		}
		link(t, target, name)
		got, err := digest(open, refit.DirFS(dir))
		if err != nil || got != want {
			t.Errorf("%s -> %s: digest %s, %v; want %s (as without the symlink)", ref, target, got, err, want)
		}
	})
	t.Run("FIFO", func(t *testing.T) {
		dir := copyTree(t, src)
		name := filepath.Join(dir, filepath.FromSlash(ref))
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
		if err := Mkfifo(name); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := digest(open, refit.DirFS(dir))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, refit.ErrInsecurePath) {
				t.Errorf("%s as a FIFO: err = %v, want refit.ErrInsecurePath", ref, err)
			}
		case <-time.After(30 * time.Second):
			// The goroutine stays blocked; unblock it by opening the FIFO for writing.
			if w, err := os.OpenFile(name, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			t.Fatalf("%s as a FIFO: decoding blocked", ref)
		}
	})
}

// digest opens the model, reads every tensor and returns a hash of names and bytes.
func digest(open Open, fsys fs.FS) (string, error) {
	m, err := open(fsys)
	if err != nil {
		return "", err
	}
	defer m.Close()
	h := sha256.New()
	buf := make([]byte, 1<<16)
	for _, x := range m.Tensors {
		fmt.Fprintf(h, "%s %v %v\n", x.Name, x.DType, x.Shape)
		for off, n := int64(0), x.Size(); off < n; off += int64(len(buf)) {
			b := buf[:min(int64(len(buf)), n-off)]
			if err := refit.ReadFullAt(x.Data, b, off); err != nil {
				return "", fmt.Errorf("tensor %s: %w", x.Name, err)
			}
			h.Write(b)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// copyTree writes the files of src into a new folder and returns its path.
func copyTree(t *testing.T, src fs.FS) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
