package tfcheckpoint

import (
	"io/fs"
	"os"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
)

// TestDataFilesStayInFolder: a data file of a checkpoint, reached through a symlink out
// of the folder, or a FIFO, is refused; a symlink within the folder is followed.
func TestDataFilesStayInFolder(t *testing.T) {
	src := os.DirFS("testdata")
	for _, ref := range []string{"ckpt-1.data-00001-of-00002", "ckpt-1.index"} {
		t.Run(ref, func(t *testing.T) {
			pathtest.Referenced(t, src, ref, func(fsys fs.FS) (*refit.Model, error) {
				return DecodeFS(fsys, "ckpt-1.index", nil)
			})
		})
	}
}
