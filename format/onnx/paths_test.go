package onnx

import (
	"io/fs"
	"os"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/pathtest"
)

// TestExternalDataStaysInFolder: external data reached through a symlink out of the
// model's folder, or a FIFO, is refused; a symlink within the folder is followed.
func TestExternalDataStaysInFolder(t *testing.T) {
	pathtest.Referenced(t, os.DirFS("testdata/ext"), "weights.bin", func(fsys fs.FS) (*refit.Model, error) {
		return DecodeFS(fsys, "model.onnx", nil)
	})
	t.Run("Load", func(t *testing.T) {
		pathtest.Referenced(t, os.DirFS("testdata/ext"), "weights.bin", func(fsys fs.FS) (*refit.Model, error) {
			mp, err := Load(fsys, "model.onnx")
			if err != nil {
				return nil, err
			}
			m := &refit.Model{}
			for _, tp := range mp.GetGraph().GetInitializer() {
				x, err := TensorFromProto(tp, nil)
				if err != nil {
					return nil, err
				}
				m.Tensors = append(m.Tensors, x)
			}
			return m, nil
		})
	})
}
