package tfjs

import (
	"io/fs"
	"os"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
)

// TestShardsStayInFolder: a weight shard reached through a symlink out of the model's
// folder, or a FIFO, is refused; a symlink within the folder is followed. model.json
// itself is confined the same way when the folder is opened.
func TestShardsStayInFolder(t *testing.T) {
	for _, ref := range []string{"group1-shard2of2.bin", DefaultName} {
		t.Run(ref, func(t *testing.T) {
			pathtest.Referenced(t, os.DirFS("testdata/layers"), ref, func(fsys fs.FS) (*refit.Model, error) {
				return DecodeFS(fsys, ".", nil)
			})
		})
	}
}
