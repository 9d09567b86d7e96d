package refit_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
)

// within fails the test if f does not return within a generous limit: opening a FIFO
// with a blocking open would wait forever for a writer.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return (blocked on a FIFO?)", what)
	}
}

func write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, name); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
}

func mkfifo(t *testing.T, name string) {
	t.Helper()
	if err := pathtest.Mkfifo(name); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

func TestDirFSConfinesSymlinks(t *testing.T) {
	tmp := t.TempDir()
	outside := filepath.Join(tmp, "secret.txt")
	write(t, outside, "secret")
	model := filepath.Join(tmp, "model")
	write(t, filepath.Join(model, "weights", "real.bin"), "weights")
	symlink(t, "weights/real.bin", filepath.Join(model, "inside.bin"))
	symlink(t, "../weights/real.bin", filepath.Join(model, "sub", "up.bin"))
	symlink(t, "../secret.txt", filepath.Join(model, "relative_out.bin"))
	symlink(t, outside, filepath.Join(model, "absolute_out.bin"))
	symlink(t, "/proc/self/fd/0", filepath.Join(model, "magic.bin"))
	symlink(t, tmp, filepath.Join(model, "outdir"))
	symlink(t, "loop.bin", filepath.Join(model, "loop.bin"))
	symlink(t, filepath.Join(model, "weights", "real.bin"), filepath.Join(model, "absolute_in.bin"))

	fsys := refit.DirFS(model)
	for _, name := range []string{"weights/real.bin", "inside.bin", "sub/up.bin"} {
		b, err := fs.ReadFile(fsys, name)
		if err != nil || string(b) != "weights" {
			t.Errorf("ReadFile(%q) = %q, %v; want the weights", name, b, err)
		}
	}
	for _, name := range []string{"relative_out.bin", "absolute_out.bin", "absolute_in.bin", "magic.bin", "outdir/secret.txt"} {
		b, err := fs.ReadFile(fsys, name)
		if !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("ReadFile(%q) = %q, %v; want ErrInsecurePath", name, b, err)
		}
		if _, err := fs.Stat(fsys, name); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("Stat(%q) = %v, want ErrInsecurePath", name, err)
		}
	}
	if _, err := fs.ReadDir(fsys, "outdir"); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("ReadDir(outdir) = %v, want ErrInsecurePath", err)
	}
	if _, err := fs.ReadFile(fsys, "loop.bin"); err == nil || errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("ReadFile(loop.bin) = %v, want a plain error", err)
	}
	if _, err := fs.ReadFile(fsys, "missing.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing.bin) = %v, want fs.ErrNotExist", err)
	}
	list, err := fs.ReadDir(fsys, ".")
	if err != nil || len(list) != 9 {
		t.Errorf("ReadDir(.) = %d entries, %v; want 9", len(list), err)
	}
}

// TestDirFSUserSymlinks: what the user names is trusted; a model folder that is itself a
// symlink, or a model file that is, is followed.
func TestDirFSUserSymlinks(t *testing.T) {
	tmp := t.TempDir()
	write(t, filepath.Join(tmp, "real", "a.bin"), "a")
	symlink(t, filepath.Join(tmp, "real"), filepath.Join(tmp, "link"))
	if b, err := fs.ReadFile(refit.DirFS(filepath.Join(tmp, "link")), "a.bin"); err != nil || string(b) != "a" {
		t.Errorf("DirFS(symlinked folder) ReadFile = %q, %v", b, err)
	}
	write(t, filepath.Join(tmp, "elsewhere", "m.bin"), "m")
	write(t, filepath.Join(tmp, "elsewhere", "data.bin"), "d")
	symlink(t, filepath.Join(tmp, "elsewhere", "m.bin"), filepath.Join(tmp, "models", "m.bin"))
	symlink(t, filepath.Join(tmp, "elsewhere", "data.bin"), filepath.Join(tmp, "models", "data.bin"))
	fsys, base := refit.FileFS(filepath.Join(tmp, "models", "m.bin"))
	if b, err := fs.ReadFile(fsys, base); err != nil || string(b) != "m" {
		t.Errorf("FileFS entry %q = %q, %v; want it followed", base, b, err)
	}
	if _, err := fs.Stat(fsys, base); err != nil {
		t.Errorf("Stat(entry) = %v", err)
	}
	if _, err := fs.ReadFile(fsys, "data.bin"); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("FileFS other file = %v; want ErrInsecurePath", err)
	}
}

// TestDirFSHubCache: in a Hugging Face hub cache, snapshot files are symlinks into the
// repository's blobs folder; they are followed, links out of the repository are not.
func TestDirFSHubCache(t *testing.T) {
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "hub", "models--org--name")
	write(t, filepath.Join(repo, "blobs", "0123abcd"), "blob")
	write(t, filepath.Join(tmp, "secret.txt"), "secret")
	snap := filepath.Join(repo, "snapshots", "c0ffee")
	symlink(t, "../../blobs/0123abcd", filepath.Join(snap, "model.safetensors"))
	symlink(t, "../../../blobs/0123abcd", filepath.Join(snap, "onnx", "model.onnx"))
	symlink(t, "../../../../secret.txt", filepath.Join(snap, "escape.txt"))
	for _, c := range []struct{ dir, name string }{
		{snap, "model.safetensors"}, {snap, "onnx/model.onnx"}, {filepath.Join(snap, "onnx"), "model.onnx"},
	} {
		if b, err := fs.ReadFile(refit.DirFS(c.dir), c.name); err != nil || string(b) != "blob" {
			t.Errorf("DirFS(%s) ReadFile(%q) = %q, %v; want the blob", c.dir, c.name, b, err)
		}
	}
	if _, err := fs.ReadFile(refit.DirFS(snap), "escape.txt"); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("link out of the cached repository = %v; want ErrInsecurePath", err)
	}
	// The same layout without a blobs folder is not a hub cache: the folder is the root.
	other := filepath.Join(tmp, "x", "models--a--b")
	write(t, filepath.Join(other, "store", "f"), "f")
	symlink(t, "../../store/f", filepath.Join(other, "snapshots", "r", "f"))
	if _, err := fs.ReadFile(refit.DirFS(filepath.Join(other, "snapshots", "r")), "f"); !errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("not a hub cache = %v; want ErrInsecurePath", err)
	}
}

func TestOnlyRegularFiles(t *testing.T) {
	tmp := t.TempDir()
	fifo := filepath.Join(tmp, "pipe")
	mkfifo(t, fifo)
	symlink(t, "pipe", filepath.Join(tmp, "to_pipe"))
	within(t, "opening FIFOs", func() {
		fsys := refit.DirFS(tmp)
		for _, name := range []string{"pipe", "to_pipe"} {
			if _, err := fsys.Open(name); !errors.Is(err, refit.ErrInsecurePath) {
				t.Errorf("DirFS.Open(%q) = %v, want ErrInsecurePath", name, err)
			}
		}
		if _, err := refit.OpenMapped(fifo); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("OpenMapped(FIFO) = %v, want ErrInsecurePath", err)
		}
		if _, err := refit.OpenRegular(fifo); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("OpenRegular(FIFO) = %v, want ErrInsecurePath", err)
		}
		if _, err := refit.Open(fifo); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("Open(FIFO) = %v, want ErrInsecurePath", err)
		}
		fsys, base := refit.FileFS(fifo)
		if _, err := fsys.Open(base); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("FileFS entry FIFO = %v, want ErrInsecurePath", err)
		}
	})
	if _, err := os.Stat("/dev/null"); err == nil {
		if _, err := refit.OpenMapped("/dev/null"); !errors.Is(err, refit.ErrInsecurePath) {
			t.Errorf("OpenMapped(/dev/null) = %v, want ErrInsecurePath", err)
		}
	}
	if _, err := refit.OpenRegular(tmp); err == nil || errors.Is(err, refit.ErrInsecurePath) {
		t.Errorf("OpenRegular(folder) = %v, want a plain error", err)
	}
}

func TestIsLocalPath(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"model.bin", true},
		{"weights/group1-shard1of2.bin", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../model.bin", false},
		{"a/../b", false},
		{"./a", false},
		{"a//b", false},
		{"/etc/passwd", false},
		{`..\model.bin`, false},
		{`a\b`, false},
		{"C:/x", false},
		{"c:x", false},
	} {
		if got := refit.IsLocalPath(tc.p); got != tc.want {
			t.Errorf("IsLocalPath(%q) = %v, want %v", tc.p, got, tc.want)
		}
		err := refit.CheckLocalPath("test", "path", tc.p)
		if got := !errors.Is(err, refit.ErrInsecurePath); got != tc.want {
			t.Errorf("CheckLocalPath(%q) = %v", tc.p, err)
		}
	}
}
