package pytorch

import (
	"io"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/layout"
)

func init() {
	refit.Register(refit.Format{
		Name:       "pytorch",
		Extensions: []string{".pt", ".pth", ".bin", ".ckpt"},
		Sniff:      Sniff,
		Decode:     Decode,
		Encode:     func(w io.Writer, m *refit.Model) error { return Encode(w, m, nil) },
		// Keras-family weights take PyTorch's names and layouts.
		Prepare: func(m *refit.Model, _ *refit.EncodeOptions) (*refit.Model, error) { return layout.ForPyTorch(m) },
	})
}
