//go:build unix

package hostile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

// Attack class "outputs": names an output will take (a shard, an index, ONNX external
// data) are planted in the output folder beforehand as symlinks to a file the user
// cares about. Without --force the run must refuse and change nothing; with --force the
// link itself must be replaced by the new file, never written through. No temporary
// file or folder may remain either way.
func TestOutputsPlantedSymlinks(t *testing.T) {
	models, err := filepath.Abs(filepath.Join("..", "testdata", "models", "mnist"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.safetensors")
	if r := runRefit(t, limits{}, "convert", filepath.Join(models, "mnist_cnn.onnx"), src); r.code != 0 {
		t.Fatalf("making the input: %v", r)
	}
	kerasH5, err := filepath.Abs(filepath.Join("..", "keras2onnx", "testdata", "keras", "conv2d.h5"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		in, out string   // OUT is relative to the case's folder
		extra   []string // flags
		folder  string   // where the files go, relative
		planted string   // the output name planted as a symlink
	}{
		{"shard", src, "shards", []string{"--shard-size", "150KB"}, "shards", "model-00001-of-00003.safetensors"},
		{"index", src, "shards", []string{"--shard-size", "150KB"}, "shards", "model.safetensors.index.json"},
		{"external data", filepath.Join(models, "mnist_cnn.onnx"), "ext.onnx", []string{"--external-data"}, ".", "ext.onnx.data"},
		{"tfjs shard", kerasH5, "web", []string{"--to", "tfjs"}, "web", "group1-shard1of1.bin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			work := t.TempDir()
			victim := filepath.Join(work, "victim.txt")
			const keep = "the user's file, not to be touched\n"
			if err := os.WriteFile(victim, []byte(keep), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(work, c.folder)
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(out, c.planted)
			if err := os.Symlink(victim, link); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"convert", c.in, filepath.Join(work, c.out)}, c.extra...)
			r := runRefit(t, limits{}, args...)
			if r.code == 0 {
				t.Fatalf("convert over a planted %s without --force succeeded\n%v", c.planted, r)
			}
			if !strings.Contains(r.stderr, "output exists") {
				t.Errorf("want an 'output exists' refusal\n%v", r)
			}
			if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("the refused run replaced the planted link: %v", err)
			}
			r = runRefit(t, limits{}, append(args, "--force")...)
			if r.code != 0 {
				t.Fatalf("convert --force: %v", r)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != keep {
				t.Errorf("the victim file changed: %q, %v", b, err)
			}
			if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
				t.Errorf("%s is not a regular file after --force: %v", c.planted, err)
			}
			entries, _ := os.ReadDir(out)
			for _, en := range entries {
				if strings.HasPrefix(en.Name(), refit.TempPrefix) {
					t.Errorf("temporary %s left in %s", en.Name(), out)
				}
			}
		})
	}
}
