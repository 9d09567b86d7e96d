package hf

import (
	"context"
	"io/fs"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
	"github.com/refit-ml/refit/tensor"
)

// TestHFFolderStaysInFolder: the files of a Hugging Face folder, reached through a
// symlink out of the folder, or FIFOs, are refused; symlinks within the folder (as
// in the hub cache) are followed.
func TestHFFolderStaysInFolder(t *testing.T) {
	src := tinyLlama(t)
	for _, ref := range []string{"model.safetensors", "config.json", "tokenizer.json"} {
		t.Run(ref, func(t *testing.T) {
			pathtest.Referenced(t, src, ref, func(fsys fs.FS) (*refit.Model, error) {
				return ConvertHF(context.Background(), fsys, &ConvertOptions{DType: tensor.F32})
			})
		})
	}
}
