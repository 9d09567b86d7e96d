package safetensors

import (
	"io/fs"
	"os"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
)

// TestShardsStayInFolder: a shard an index names, reached through a symlink out of the
// index's folder, or a FIFO, is refused; a symlink within the folder is followed.
func TestShardsStayInFolder(t *testing.T) {
	for _, ref := range []string{"model-00002-of-00003.safetensors", DefaultIndex} {
		t.Run(ref, func(t *testing.T) {
			pathtest.Referenced(t, os.DirFS("testdata/sharded"), ref, func(fsys fs.FS) (*refit.Model, error) {
				return DecodeFS(fsys, ".", nil)
			})
		})
	}
}
